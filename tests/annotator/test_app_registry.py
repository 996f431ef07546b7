"""The model the app registers in a workspace is a file the CLI can load again: built through the app's
composition root (``app.create_services``, as ``python app.py WS.db [--weights PATH]`` does), then re-pre-labelled
with ``asmnet prelabel WS.db`` (which picks the latest registered model version)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import app
from asmnet.inference.predictor import DEFAULT_CHECKPOINT, LandmarkPredictor
from asmnet_studio.datasets.store import Workspace


@pytest.mark.parametrize("weights", [None, "weights/asmnet68.pt"], ids=["shipped", "relative --weights"])
def test_app_registers_a_checkpoint_that_asmnet_prelabel_loads(tmp_path, monkeypatch, weights):
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    from PIL import Image

    from asmnet.cli import main
    from tests.asmnet.conftest import synthetic_face_image, synthetic_shapes

    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    pts = synthetic_shapes(1, seed=4)[0] * 0.5 + 40
    image = tmp_path / "face.png"
    Image.fromarray(synthetic_face_image(pts, 200, seed=1)).save(image)
    db = tmp_path / "ws.db"
    with Workspace(db) as ws:
        ws.add_image(image, box=(float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()),
                                 float(pts[:, 1].max())))
    argv = [str(db), "--author", "t"]
    if weights is not None:  # relative to the working directory the app was started in
        monkeypatch.chdir(DEFAULT_CHECKPOINT.parent.parent)
        argv += ["--weights", weights]
    svc = app.create_services(app.parse_args(argv), progress=False)
    try:
        assert isinstance(svc.predictor, LandmarkPredictor)
        assert svc.predictor.checkpoint_path == DEFAULT_CHECKPOINT.resolve()
        (model,) = svc.store.models()  # registered when the app pre-labelled the new face
        assert Path(model.checkpoint).is_absolute() and Path(model.checkpoint) == DEFAULT_CHECKPOINT.resolve()
        before = len(svc.store.predictions(svc.store.images()[0].id))
    finally:
        svc.store.close()
    monkeypatch.chdir(tmp_path)  # the CLI runs from anywhere
    assert main(["prelabel", str(db), "--no-progress"]) == 0
    with Workspace(db) as ws:
        (rec,) = ws.images()
        assert [m.id for m in ws.models()] == [model.id]
        preds = ws.predictions(rec.id)
        assert len(preds) == before + 1 and preds[-1].model_id == model.id
        assert np.isfinite(preds[-1].points).all()
