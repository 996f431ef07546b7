"""Helpers for the correction-loop tests (fine-tune from a workspace, re-pre-label, uncertainty): synthetic
face images with known landmarks, a tiny random checkpoint and a stand-in predictor (no data needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from asmnet.inference.predictor import Prediction
from asmnet_studio.datasets.schemas import IBUG68
from asmnet_studio.datasets.store import Workspace
from tests.annotator.synthetic import random_faces, shape_model


def face_image(path: Path, points: np.ndarray, seed: int, size: int = 320) -> Path:
    """A noisy RGB image (size x size) with a dot at each landmark (content differs with ``seed``)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    for x, y in np.round(points).astype(int):
        if 0 <= x < size and 0 <= y < size:
            img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = (255, 220, 180)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def synthetic_workspace(tmp_path: Path, n: int = 12, *,
                        ws_name: str = "ws.db") -> tuple[Workspace, list[int], np.ndarray]:
    """A workspace file with ``n`` synthetic face images (no annotations yet); returns (ws, ids, shapes (n, 68, 2))."""
    shapes = random_faces(n, seed=3)
    ws = Workspace(tmp_path / ws_name)
    ids = [ws.add_image(face_image(tmp_path / "images" / f"face{i:03d}.png", shapes[i], seed=i), split="train")
           for i in range(n)]
    return ws, ids, shapes


def tiny_checkpoint(path: Path, input_size: int = 64, seed: int = 0) -> Path:
    """A random ``asmnet_tiny`` checkpoint with the synthetic shape model."""
    import torch

    from asmnet.model.checkpoint import save_checkpoint
    from asmnet.inference.crop import CROP_MARGIN
    from asmnet.model.network import create_model

    torch.manual_seed(seed)
    model = create_model("asmnet_tiny", num_points=68)
    config = {"model": "asmnet_tiny", "num_points": 68, "input_size": input_size, "crop_margin": CROP_MARGIN,
              "schema": "ibug68"}
    return save_checkpoint(path, model, config, shape_model=shape_model(), card={"name": "tiny-init"})


def image_key(image: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


class StubPredictor:
    """A stand-in for ``asmnet.inference.predictor.Predictor``: returns the points registered for each image's pixels
    (``points[image_key(image)]``), confidence 0.5, and a per-image uncertainty."""

    schema = IBUG68
    name = "stub"
    sha256 = "0" * 64
    card: dict = {}

    def __init__(self, points: dict[str, np.ndarray], uncertainty: dict[str, float] | None = None):
        self.shape_model = shape_model()
        self.points = points
        self.uncertainty = uncertainty or {}
        self.calls = 0

    def predict_batch(self, images, boxes=None, batch_size=32):
        out = []
        for img in images:
            self.calls += 1
            key = image_key(img)
            out.append(Prediction(points=np.asarray(self.points[key], np.float32), pose=np.zeros(3, np.float32),
                                  confidence=np.full(68, 0.5, np.float32), box=np.array([0, 0, 10, 10], np.float32),
                                  uncertainty=float(self.uncertainty.get(key, 0.1))))
        return out
