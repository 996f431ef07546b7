"""Fixtures for the asmnet tests: a shape model fitted on AFLW2000-3D train shapes (skipped without the
data) and a synthetic shape model that needs no data."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.model.asm import ShapeModel
from asmnet_studio.datasets.schemas import IBUG68


@pytest.fixture(scope="session")
def aflw_train_shapes() -> np.ndarray:
    """(1200, 68, 2) AFLW2000-3D train-split landmarks (pixels)."""
    from tests.conftest import data_path
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(data_path("aflw2000-3d"), "aflw2000", split="train")
    return np.stack([s.points for s in ds.samples])


@pytest.fixture(scope="session")
def aflw_shape_model(aflw_train_shapes) -> ShapeModel:
    return ShapeModel.fit(aflw_train_shapes, 0.98, mirror_permutation=IBUG68.flip_permutation())


def synthetic_shapes(n: int = 200, seed: int = 0) -> np.ndarray:
    """(n, 68, 2) random similarity-transformed variations of a face-like template (no data needed)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    base = np.stack([np.cos(t), 1.3 * np.sin(t)], 1) * 50
    modes = rng.normal(size=(3, 68, 2)) * 3
    out = []
    for _ in range(n):
        shape = base + np.tensordot(rng.normal(size=3), modes, 1) + rng.normal(scale=0.2, size=(68, 2))
        a = rng.uniform(-0.5, 0.5)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out.append(rng.uniform(0.5, 2) * shape @ r.T + rng.uniform(0, 300, 2))
    return np.array(out)


@pytest.fixture(scope="session")
def synthetic_model() -> ShapeModel:
    return ShapeModel.fit(synthetic_shapes(), 0.99)


def synthetic_face_image(points: np.ndarray, size: int, seed: int) -> np.ndarray:
    """(size, size, 3) uint8 image with a bright blob per landmark (left/right parts coloured differently)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 60).astype(np.uint8)
    for i, (x, y) in enumerate(points):
        colour = (255, 80, 80) if i % 2 else (80, 255, 80)
        cv2.circle(img, (int(round(x)), int(round(y))), 2, colour, -1)
    return img


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """A tiny AFLW2000-3D-format folder (24 synthetic 96 px faces with pose, split.csv train/test)."""
    from asmnet_studio.datasets.formats import read_dataset, write_dataset
    from asmnet_studio.datasets.sample import Dataset, Sample

    root = tmp_path_factory.mktemp("synthetic_src")
    shapes = synthetic_shapes(24, seed=5)
    samples = []
    for i, s in enumerate(shapes):
        # fit each shape into the middle of a 96 px image
        s = s - s.mean(0)
        s = s / np.abs(s).max() * 30 + 48
        name = f"face{i:03d}.jpg"
        import cv2

        cv2.imwrite(str(root / name), synthetic_face_image(s, 96, i)[..., ::-1])
        pose = np.array([(i % 7 - 3) * 12.0, (i % 5 - 2) * 5.0, (i % 3 - 1) * 8.0], np.float32)
        samples.append(Sample(image=name, points=s.astype(np.float32), pose=pose, split="test" if i >= 20 else "train"))
    out = tmp_path_factory.mktemp("synthetic")
    write_dataset(Dataset(root=root, format="aflw2000", schema="ibug68", samples=samples), out, "aflw2000")
    assert len(read_dataset(out, "aflw2000", split="train")) == 20
    return out


@pytest.fixture
def one_thread():
    """Run a test with one torch thread: on a busy 2-core machine two OpenMP threads spin-wait for each
    other and tiny CPU steps get 50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
