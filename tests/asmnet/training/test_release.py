"""The release (``python -m asmnet.training.release``) and the ``asmnet runtime`` int8 check on a tiny checkpoint
trained on nothing (random heads) over the 20 synthetic train faces: both use the checkpoint's recorded validation
faces (``asmnet.training.validation_set``), and a release ends with its torch-free runtime beside the shipped file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from asmnet.inference import runtime
from asmnet.model.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from asmnet.model.network import create_model
from asmnet.training.validation_set import read_names, validation_file, write_names
from asmnet_studio.datasets.formats import read_dataset

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not runtime.onnxruntime_available(), reason="onnxruntime is not installed")]

SIZE = 64
CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": SIZE, "crop_margin": 1.3, "schema": "ibug68"}


def _checkpoint(path: Path, data: Path, **card) -> Path:
    """A tiny random checkpoint whose card names ``data`` (the synthetic AFLW2000-3D folder) as its training data."""
    from asmnet.model.asm import ShapeModel
    from tests.asmnet.conftest import synthetic_shapes

    torch.manual_seed(0)
    m = create_model("asmnet_tiny").eval()
    with torch.no_grad():
        for head in (m.landmarks, m.pose):
            head.weight.normal_(std=0.05)
    tc = {"data": str(data), "format": "aflw2000", "split": "train", "val_fraction": 0.1, "seed": 0,
          "input_size": SIZE, "cache_dir": None}
    return save_checkpoint(path, m, CONFIG, shape_model=ShapeModel.fit(synthetic_shapes(120), 0.99),
                           card={"name": "tiny", "flip_tta": False, "train_config": tc, **card})


def _sidecar(ckpt: Path) -> dict:
    """The one runtime sidecar beside ``ckpt`` (int8, or fp32 when the int8 check refused it)."""
    found = [runtime.release_paths(ckpt, b)[0] for b in runtime.ORT_BACKENDS
             if runtime.release_paths(ckpt, b)[0].is_file()]
    assert len(found) == 1, found
    assert found[0].with_suffix(".onnx").is_file()
    runtime.load_runtime(found[0], sha256=file_sha256(ckpt))  # matches the checkpoint
    doc = json.loads(found[0].read_text())
    return doc["validation"] if "validation" in doc else doc["int8_refused"]["validation"]


def test_runtime_int8_check_uses_the_validation_file_beside_the_checkpoint(tmp_path, synthetic_dataset,
                                                                             monkeypatch, one_thread):
    from asmnet.cli import main
    from asmnet.cli import runtime as runtime_cli

    names = [s.image for s in read_dataset(synthetic_dataset, "aflw2000", split="train").samples]
    ckpt = _checkpoint(tmp_path / "m.pt", synthetic_dataset)
    recorded = [names[i] for i in (1, 4, 9, 16)]  # not what split_validation would draw (2 of 20)
    write_names(validation_file(ckpt), recorded, "test set")
    calls: list[list[str]] = []
    real = runtime_cli._predict

    def spy(predictor, ds, idx):
        calls.append([ds.samples[i].image for i in idx])
        return real(predictor, ds, idx)

    monkeypatch.setattr(runtime_cli, "_predict", spy)
    assert main(["runtime", "--checkpoint", str(ckpt), "--calibration-faces", "8"]) == 0
    calibration, checked = calls[0], calls[1:]
    assert len(calibration) == 8 and not set(calibration) & set(recorded)
    assert checked == [recorded, recorded]  # float graph, then int8
    check = _sidecar(ckpt)
    assert check["faces"] == 4 and check["validation_set"] == str(validation_file(ckpt))


def test_release_writes_the_checkpoint_its_validation_names_and_the_runtime(tmp_path, synthetic_dataset, one_thread):
    from asmnet.training.release import main

    names = [s.image for s in read_dataset(synthetic_dataset, "aflw2000", split="train").samples]
    run = tmp_path / "run"
    run.mkdir()
    recorded = [names[i] for i in (0, 5, 11)]
    _checkpoint(run / "best.pt", synthetic_dataset, validation_names=recorded)
    weights = tmp_path / "weights"
    assert main(["--run", str(run), "--weights", str(weights), "--name", "tiny"]) == 0
    final = weights / "tiny.pt"
    card = load_checkpoint(final)["card"]
    assert card["validation_names"] == recorded and card["validation"]["flip"]["faces"] == 3
    assert read_names(validation_file(final)) == recorded
    assert (weights / "shape_model68.npz").is_file()
    metrics = json.loads((weights / "metrics.json").read_text())
    assert metrics["sha256"] == file_sha256(final) and metrics["test"]["faces"] == 4
    check = _sidecar(final)  # the `asmnet runtime` step: one runtime, matching the shipped file
    assert check["faces"] == 3 and "card" in check["validation_set"]


def test_metrics_rank_the_per_point_confidence_against_the_point_errors():
    """point_confidence_spearman is +1 when the least confident points are exactly the worst ones, -1 when the
    confidence points the other way; the within-face figure ranks each face's points."""
    from asmnet.training.release import metrics

    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (5, 68, 2))
    shift = rng.uniform(0.1, 5.0, (5, 68))                  # each point's error in pixels, all different
    pred = gt.copy()
    pred[:, :, 0] += shift
    pose = np.zeros((5, 3))
    good = metrics(pred, gt, pose, pose, "ibug68", confidence=np.exp(-shift))
    bad = metrics(pred, gt, pose, pose, "ibug68", confidence=1 - np.exp(-shift))
    assert good["point_confidence_spearman_within"] == pytest.approx(1.0)
    assert bad["point_confidence_spearman_within"] == pytest.approx(-1.0)
    assert good["point_confidence_spearman"] > 0.5 > -0.5 > bad["point_confidence_spearman"]
    assert "point_confidence_spearman" not in metrics(pred, gt, pose, pose, "ibug68")
