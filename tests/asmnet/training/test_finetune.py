"""Fine-tuning from a workspace registers a model version with a card (tiny model, a few steps)."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.model.checkpoint import file_sha256, load_checkpoint, load_shape_model
from asmnet.cli import main
from tests.asmnet.loop_helpers import synthetic_workspace, tiny_checkpoint

pytestmark = pytest.mark.slow

COMMON = ["--epochs", "1", "--batch-size", "4", "--val-fraction", "0.25", "--threads", "1", "--cache-dir", "none",
          "--no-progress"]


@pytest.fixture
def corrected(tmp_path):
    ws, ids, shapes = synthetic_workspace(tmp_path, 12)
    for i, s in zip(ids[:10], shapes[:10]):
        ws.save_annotation(i, s + 0.5, author="person", base_version=None, status="done")
    ws.save_annotation(ids[10], shapes[10], author="person", base_version=None, status="in_progress")
    yield tmp_path, ws, ids
    ws.close()


def test_finetune_registers_a_model_version(corrected):
    tmp_path, ws, ids = corrected
    init = tiny_checkpoint(tmp_path / "init.pt")
    out = tmp_path / "ft"
    rc = main(["train", "--from-workspace", str(tmp_path / "ws.db"), "--init", str(init), "--out", str(out),
               "--model-name", "round-1", *COMMON])
    assert rc == 0
    (model,) = ws.models()
    assert model.name == "round-1"
    assert model.sha256 == file_sha256(model.checkpoint)
    card = model.card
    assert card["data"]["workspace"] == str((tmp_path / "ws.db").resolve())
    assert card["data"]["faces"] == 10 and card["data"]["corrections"] == 10
    assert card["data"]["statuses"] == ["done", "reviewed"]
    assert card["data"]["image_ids"] == ids[:10]
    assert card["init"]["sha256"] == file_sha256(init)
    assert card["settings"]["epochs"] == 1 and card["settings"]["model"] == "asmnet_tiny"
    held = card["metrics"]["held_out"]
    assert np.isfinite(held["val_nme"])
    assert card["metrics"]["held_out_workspace"]["faces"] >= 1
    assert set(card["metrics"]["held_out_workspace"]) >= {"init", "finetuned"}
    assert card["shape_model"]["source"] == "init"
    # the checkpoint itself is named and carries the shape model of the init checkpoint
    obj = load_checkpoint(model.checkpoint)
    assert obj["card"]["name"] == "round-1"
    np.testing.assert_allclose(load_shape_model(obj).mean, load_shape_model(load_checkpoint(init)).mean)
    assert (out / "card.json").is_file()


def test_refit_shape_model_and_statuses(corrected):
    tmp_path, ws, ids = corrected
    init = tiny_checkpoint(tmp_path / "init.pt")
    rc = main(["train", "--from-workspace", str(tmp_path / "ws.db"), "--init", str(init), "--out",
               str(tmp_path / "ft2"), "--statuses", "done,in_progress", "--refit-shape-model", *COMMON])
    assert rc == 0
    (model,) = ws.models()
    assert model.name == "ft2" and model.card["data"]["faces"] == 11
    assert model.card["shape_model"]["source"] == "refit"
    refit = load_shape_model(load_checkpoint(model.checkpoint))
    assert not np.allclose(refit.eigenvalues[:3], load_shape_model(load_checkpoint(init)).eigenvalues[:3])


def test_no_accepted_face_is_an_error(tmp_path, capsys):
    ws, ids, shapes = synthetic_workspace(tmp_path, 3)
    init = tiny_checkpoint(tmp_path / "init.pt")
    rc = main(["train", "--from-workspace", str(tmp_path / "ws.db"), "--init", str(init), "--out",
               str(tmp_path / "ft"), *COMMON])
    assert rc == 1
    assert "no accepted face" in capsys.readouterr().err
    assert ws.models() == []
    ws.close()


def test_train_needs_data_or_a_workspace(capsys):
    assert main(["train", "--epochs", "1"]) == 1
    assert "--from-workspace" in capsys.readouterr().err


def test_mix_with_a_base_dataset(corrected):
    from asmnet_studio.datasets.formats import write_dataset
    from asmnet_studio.datasets.sample import Dataset, Sample
    from tests.annotator.synthetic import random_faces
    from tests.asmnet.loop_helpers import face_image

    tmp_path, ws, ids = corrected
    shapes = random_faces(4, seed=9)
    src = tmp_path / "base_src"
    samples = [Sample(image=face_image(src / f"b{i}.png", s, seed=100 + i).name, points=s.astype(np.float32))
               for i, s in enumerate(shapes)]
    base_dir = tmp_path / "base"
    write_dataset(Dataset(root=src, format="csv", schema="ibug68", samples=samples), base_dir, "csv")
    init = tiny_checkpoint(tmp_path / "init.pt")
    rc = main(["train", "--from-workspace", str(tmp_path / "ws.db"), "--init", str(init), "--out",
               str(tmp_path / "ft3"), "--mix-data", str(base_dir), "--mix-format", "csv", "--mix-split", "all",
               *COMMON])
    assert rc == 0
    (model,) = ws.models()
    assert model.card["data"]["faces"] == 10
    assert model.card["data"]["mix"]["faces"] == 4 and model.card["data"]["mix"]["duplicates_dropped"] == 0
    assert model.card["settings"]["format"] == "workspace+csv"
