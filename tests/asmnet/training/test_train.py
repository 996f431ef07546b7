"""Training: a few CPU steps of the tiny variant reduce the loss; the loop writes checkpoints, a JSONL log
and resumes."""
from __future__ import annotations

import json

import numpy as np
import torch

from asmnet.model.asm import ShapeModel
from asmnet.model.checkpoint import load_checkpoint
from asmnet.training.data import AugmentConfig, FaceArrays, make_batch
from asmnet.model.losses import AlphaSchedule, ASMLoss, ShapeProjector
from asmnet.model.network import create_model
from asmnet.training.train import TrainConfig, train
from asmnet_studio.datasets.formats import read_dataset
from tests.asmnet.conftest import synthetic_face_image, synthetic_shapes
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    shapes = synthetic_shapes(8, seed=4)
    shapes = (shapes - shapes.mean(1, keepdims=True)) / np.abs(shapes - shapes.mean(1, keepdims=True)).max() * 30 + 48
    faces = FaceArrays(np.stack([synthetic_face_image(s, 96, i) for i, s in enumerate(shapes)]),
                       shapes.astype(np.float32), np.zeros((8, 3), np.float32), np.ones(8, bool),
                       [str(i) for i in range(8)], "ibug68")
    model = create_model("asmnet_tiny")
    crit = ASMLoss(ShapeProjector(ShapeModel.fit(shapes, 0.95), 0.9), AlphaSchedule())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = make_batch(faces, np.arange(8), 64, rng=np.random.default_rng(0), aug=None)
    x = torch.from_numpy(batch["images"]).permute(0, 3, 1, 2).float() / 255
    gt = torch.from_numpy(batch["points"])
    pose = torch.zeros(8, 3)
    losses = []
    for i in range(12):
        model.train()
        p, q = model(x)
        loss, _ = crit(p, gt, q, pose, progress=i / 12)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_train_loop_writes_checkpoints_log_and_resumes(tmp_path, synthetic_dataset):
    cfg = TrainConfig(data=str(synthetic_dataset), format="aflw2000", split="train", out=str(tmp_path / "run"),
                      model="asmnet_tiny", input_size=64, epochs=2, batch_size=8, val_fraction=0.2, cache_dir=None,
                      threads=1, progress=False, augment=AugmentConfig(rotation=10))
    res = train(cfg)
    assert res.best_checkpoint.is_file() and res.last_checkpoint.is_file()
    lines = [json.loads(x) for x in res.log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert {"train_loss", "val_nme_balanced", "val_pose_mae", "lr", "alpha"} <= set(lines[0])
    assert (tmp_path / "run" / "shape_model.npz").is_file()
    # the validation faces are recorded by name (asmnet.training.validation_set), the 4 of 20 it drew
    card = load_checkpoint(res.best_checkpoint)["card"]
    assert len(card["validation_names"]) == card["dataset"]["val_faces"] == 4
    assert set(card["validation_names"]) < {s.image for s in read_dataset(synthetic_dataset, "aflw2000",
                                                                          split="train").samples}
    cfg.epochs = 3
    cfg.resume = True
    train(cfg)
    lines = [json.loads(x) for x in res.log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]


def test_train_holds_out_the_faces_a_validation_names_file_lists(tmp_path, synthetic_dataset):
    """``--validation-names``: a new run is chosen on the very faces a checkpoint was chosen on (not a new draw)."""
    names = [s.image for s in read_dataset(synthetic_dataset, "aflw2000", split="train").samples]
    listed = [names[i] for i in (0, 3, 5)]
    listing = tmp_path / "run.validation.txt"
    listing.write_text("# the faces a checkpoint was chosen on\n" + "".join(f"{n}\n" for n in listed))
    cfg = TrainConfig(data=str(synthetic_dataset), format="aflw2000", split="train", out=str(tmp_path / "run"),
                      model="asmnet_tiny", input_size=64, epochs=1, batch_size=8, validation_names=str(listing),
                      cache_dir=None, threads=1, progress=False)
    card = load_checkpoint(train(cfg).best_checkpoint)["card"]
    assert sorted(card["validation_names"]) == sorted(listed)
    assert card["dataset"]["val_faces"] == 3 and card["dataset"]["train_faces"] == len(names) - 3


def test_a_bad_validation_names_file_fails_before_any_data_is_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        TrainConfig(data="unused", validation_names=str(tmp_path / "missing.txt")).validate()
    listing = tmp_path / "twice.txt"
    listing.write_text("# header\na/1.jpg\na/1.jpg\n")
    with pytest.raises(ValueError, match=r"twice\.txt:3: 'a/1\.jpg' is listed twice \(first on line 2\)"):
        TrainConfig(data="unused", validation_names=str(listing)).validate()
