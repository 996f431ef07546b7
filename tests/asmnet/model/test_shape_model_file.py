"""The shape model's file: round trip, and refusals that name the file."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.model import shape_model_file
from asmnet.model.asm import ShapeModel


def test_save_load_round_trip(tmp_path, synthetic_model):
    path = synthetic_model.save(tmp_path / "sm.npz")
    back = ShapeModel.load(path)
    np.testing.assert_array_equal(back.mean, synthetic_model.mean)
    np.testing.assert_array_equal(back.components, synthetic_model.components)
    assert back.residual_variance == synthetic_model.residual_variance
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        ShapeModel.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an ASMNet shape model"):
        ShapeModel.load(tmp_path / "other.npz")


def test_thresholds_round_trip_and_bad_ones_are_refused(tmp_path, synthetic_model):
    synthetic_model.plausibility_thresholds = (9.0, 12.0)
    try:
        path = shape_model_file.write(synthetic_model, tmp_path / "sm")
    finally:
        synthetic_model.plausibility_thresholds = None
    assert path.name == "sm.npz"
    assert shape_model_file.read(path, ShapeModel).plausibility_thresholds == (9.0, 12.0)
    with np.load(path) as z:
        arrays = dict(z)
    np.savez(tmp_path / "bad_t.npz", **{**arrays, "plausibility_thresholds": np.array([12.0, 9.0])})
    with pytest.raises(ValueError, match="bad_t.npz: plausibility_thresholds"):
        ShapeModel.load(tmp_path / "bad_t.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        ShapeModel.load(tmp_path / "missing.npz")
