"""Synthetic faces for the annotator's tests: an iBUG-68-like template, a shape model fitted on random
variations of it, and a stand-in predictor that places the template in the face box (no torch, no data).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from asmnet.model.asm import ShapeModel
from asmnet_studio.datasets.formats.pts import write_pts
from asmnet_studio.datasets.schemas import IBUG68


def template_face() -> np.ndarray:
    """(68, 2) float32 a left/right symmetric face in a unit frame (x right, y down, origin between the eyes)."""
    pts = []
    for t in np.linspace(0, 1, 17):                       # jaw, image-left to image-right through the chin
        th = np.pi - t * np.pi
        pts.append((np.cos(th), 1.1 * np.sin(th) * (t * (1 - t) * 4) ** 0.3))
    pts += [(x, -0.5 - 0.08 * np.sin((x + 0.8) / 0.6 * np.pi)) for x in np.linspace(-0.8, -0.2, 5)]
    pts += [(x, -0.5 - 0.08 * np.sin((x - 0.2) / 0.6 * np.pi)) for x in np.linspace(0.2, 0.8, 5)]
    pts += [(0.0, y) for y in np.linspace(-0.35, 0.15, 4)]
    pts += [(x, 0.25 + 0.05 * (1 - abs(x) / 0.2)) for x in np.linspace(-0.2, 0.2, 5)]
    def eye(cx, order):
        ring = [(-0.17, 0), (-0.06, -0.07), (0.06, -0.07), (0.17, 0), (0.06, 0.06), (-0.06, 0.06)]
        ring = ring if order > 0 else [(-x, y) for x, y in [ring[3], ring[2], ring[1], ring[0], ring[5], ring[4]]]
        return [(cx + x, -0.25 + y) for x, y in ring]
    pts += eye(-0.45, +1)
    pts += [(0.45 + x, -0.25 + y) for x, y in
            [(-0.17, 0), (-0.06, -0.07), (0.06, -0.07), (0.17, 0), (0.06, 0.06), (-0.06, 0.06)]]
    outer = [(-0.4 * np.cos(a), 0.6 - 0.15 * np.sin(a)) for a in np.linspace(0, np.pi, 7)]
    outer += [(0.4 * np.cos(a), 0.6 + 0.15 * np.sin(a)) for a in np.linspace(0, np.pi, 7)[1:-1]]
    pts += outer
    inner = [(-0.25 * np.cos(a), 0.6 - 0.07 * np.sin(a)) for a in np.linspace(0, np.pi, 5)]
    inner += [(0.25 * np.cos(a), 0.6 + 0.07 * np.sin(a)) for a in np.linspace(0, np.pi, 5)[1:-1]]
    pts += inner
    out = np.asarray(pts, np.float32)
    assert out.shape == (68, 2), out.shape
    return out


def random_faces(n: int = 200, seed: int = 0) -> np.ndarray:
    """(n, 68, 2) float32 template variations: a few smooth modes, noise and a random similarity, in pixels."""
    rng = np.random.default_rng(seed)
    t = template_face().astype(np.float64)
    modes = [np.stack([t[:, 0] * (t[:, 1] > 0.3), 0 * t[:, 1]], 1),           # lower face width
             np.stack([0 * t[:, 0], (t[:, 1] - 0.6) * (t[:, 1] > 0.45)], 1),   # mouth / chin drop
             np.stack([0 * t[:, 0], -np.abs(t[:, 1] + 0.5) * (t[:, 1] < -0.4)], 1)]  # brow raise
    out = []
    for _ in range(n):
        s = t + sum(rng.normal(0, 0.15) * m for m in modes) + rng.normal(0, 0.002, t.shape)
        a = rng.normal(0, 0.1)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out.append(s @ r.T * rng.uniform(60, 120) + rng.uniform(150, 250, 2))
    return np.asarray(out, np.float32)


def shape_model() -> ShapeModel:
    """A symmetric ShapeModel fitted on :func:`random_faces`."""
    return ShapeModel.fit(random_faces(), 0.95, mirror_permutation=IBUG68.flip_permutation())


@dataclass
class FakePrediction:
    points: np.ndarray
    pose: np.ndarray
    confidence: np.ndarray
    box: np.ndarray
    uncertainty: float


class FakePredictor:
    """Places the template in the box (or the middle of the image); same API as
    ``asmnet.inference.predictor.Predictor``."""

    name = "synthetic-template"
    sha256 = "0" * 64
    card = {"note": "test stand-in"}
    schema = IBUG68
    checkpoint_path = None  # built in memory (asmnet.inference.predictor.LandmarkPredictor)

    def __init__(self, model: ShapeModel | None = None):
        self.shape_model = model or shape_model()
        self.calls = 0

    def predict(self, image: np.ndarray, box=None) -> FakePrediction:
        self.calls += 1
        h, w = image.shape[:2]
        if box is None:
            box = np.array([w * 0.25, h * 0.2, w * 0.75, h * 0.8], np.float32)
        box = np.asarray(box, np.float32)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        s = (box[2] - box[0]) / 2.4
        pts = template_face() * s + np.array([cx, cy - 0.1 * s], np.float32)
        return FakePrediction(pts.astype(np.float32), np.array([5, -3, 1], np.float32),
                              np.full(68, 0.8, np.float32), box, float(0.1 + 0.01 * (self.calls % 7)))

    def predict_batch(self, images, boxes=None, batch_size=32):
        boxes = boxes if boxes is not None else [None] * len(images)
        return [self.predict(i, b) for i, b in zip(images, boxes)]


def noise_png(path: Path, seed: int, size: tuple[int, int] = (120, 100)) -> Path:
    """Write a PNG of random RGB noise, ``size`` = (height, width) pixels, at ``path``; returns the path."""
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, "PNG")
    return path


def pts_folder_with_bad_entries(folder: Path, n_bad: int, ok_seed: int) -> Path:
    """A .pts dataset folder: ``bad0.png .. bad{n_bad-1}.png`` whose .pts hold one point instead of 68 (one reader
    problem each) and ``ok.png`` with the template face; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_bad):
        noise_png(folder / f"bad{i}.png", i)
        (folder / f"bad{i}.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    noise_png(folder / "ok.png", ok_seed)
    write_pts(folder / "ok.pts", template_face() * 20 + 50)
    return folder
