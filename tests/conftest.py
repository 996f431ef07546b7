"""Shared fixtures. Real data is read from ../shared/data (override with ASMNET_DATA_DIR) and tests that
need it skip with a reason where it is missing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("ASMNET_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _runtime_cache(tmp_path_factory):
    """ONNX runtimes built on first use (asmnet.inference.runtime) go to a temporary cache, not the user's ~/.cache."""
    if "ASMNET_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["ASMNET_CACHE_DIR"] = str(tmp_path_factory.mktemp("asmnet-runtime-cache"))
    yield
    os.environ.pop("ASMNET_CACHE_DIR", None)


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def data_path(*parts: str) -> Path:
    """Path under the shared data folder; skips the calling test when it is missing."""
    p = DATA_DIR.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"research data not found at {p} (set ASMNET_DATA_DIR to the shared data folder)")
    return p


@pytest.fixture
def aflw_dir() -> Path:
    """The AFLW2000-3D folder (1600 images, split.csv with train 1200 / test 400)."""
    return data_path("aflw2000-3d")


@pytest.fixture
def w300_dir() -> Path:
    """The 300-W samples folder (39 images with .pts, index.csv, SPIGA JSON annotations)."""
    return data_path("300w-samples")


@pytest.fixture
def ytf_dir() -> Path:
    """The YouTube-Faces 68-point frames (flat CSV + images)."""
    return data_path("ytf-68")


@pytest.fixture
def format_samples_dir() -> Path:
    """Tiny fixtures in WFLW / COFW / AFLW / 300W-LP / 300-VW / LaPa formats (mmpose tests/data)."""
    return data_path("format-samples")
