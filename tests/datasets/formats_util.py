"""Helpers for the format tests: tiny images and sample comparison."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from asmnet_studio.datasets.sample import Dataset, Sample


def make_image(path: Path, width: int = 40, height: int = 30, color=(120, 60, 30)) -> Path:
    """A small solid RGB image file (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), color).save(path)
    return path


def by_key(ds: Dataset) -> dict[tuple[str, int], Sample]:
    return {(s.image, s.face): s for s in ds.samples}


def assert_same_samples(a: Dataset, b: Dataset, *, pose_atol: float = 0.0, fields=("box", "visibility")) -> None:
    """Same images and faces, bit-identical points (float32), and the same optional fields."""
    ka, kb = by_key(a), by_key(b)
    assert sorted(ka) == sorted(kb)
    for key, s in ka.items():
        t = kb[key]
        assert t.points.dtype == np.float32 and t.points.shape == s.points.shape
        np.testing.assert_array_equal(t.points.view(np.uint32), s.points.astype(np.float32).view(np.uint32))
        for f in fields:
            u, v = getattr(s, f), getattr(t, f)
            assert (u is None) == (v is None), (key, f)
            if u is not None:
                np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
        if s.pose is not None:
            np.testing.assert_allclose(t.pose, s.pose, atol=pose_atol, rtol=0)
        assert s.split == t.split, key

