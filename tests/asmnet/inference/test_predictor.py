"""Predictor: output shapes, coordinate frame (a known crop round-trips), batching, confidence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from asmnet.inference.crop import square_box
from asmnet.inference.predictor import Prediction, Predictor
from asmnet_studio.datasets.schemas import IBUG68

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": 64, "crop_margin": 1.3, "schema": "ibug68"}


class FixedNet(nn.Module):
    """Predicts fixed normalised points (mirror-consistent when ``symmetric``) and a fixed pose."""

    def __init__(self, u: np.ndarray, pose=(0.2, 0.1, -0.05)):
        super().__init__()
        self.u = torch.tensor(u, dtype=torch.float32)
        self.pose = torch.tensor(pose, dtype=torch.float32)

    def forward(self, x):
        n = x.shape[0]
        return self.u.expand(n, -1, -1).clone(), self.pose.expand(n, -1).clone()


def _symmetric_u():
    rng = np.random.default_rng(0)
    u = rng.uniform(-0.8, 0.8, (68, 2))
    perm = IBUG68.flip_permutation()
    mirrored = u[perm] * [-1, 1]
    return (u + mirrored) / 2  # invariant under the mirror


def test_known_crop_round_trips_to_image_pixels():
    u = _symmetric_u()
    pred = Predictor(FixedNet(u), CONFIG, None, name="fixed", sha256="0", flip_tta=False)
    image = np.zeros((200, 300, 3), np.uint8)
    box = np.array([100.0, 50.0, 180.0, 150.0])
    out = pred.predict(image, box)
    sq = square_box(box, 1.3)
    side = sq[2] - sq[0]
    expected = sq[:2] + (u + 1) / 2 * side  # normalised [-1, 1] spans the square crop box edge to edge
    np.testing.assert_allclose(out.points, expected, atol=1e-3)
    np.testing.assert_allclose(out.pose, np.degrees([0.2, 0.1, -0.05]), atol=1e-4)
    # a mirror-consistent prediction is fully confident
    np.testing.assert_allclose(out.confidence, 1.0, atol=1e-5)
    assert out.uncertainty == pytest.approx(0.0, abs=1e-6)


def test_shapes_batching_and_confidence_range():
    rng = np.random.default_rng(1)
    u = rng.uniform(-0.8, 0.8, (68, 2))  # not mirror-consistent: confidence < 1
    pred = Predictor(FixedNet(u), CONFIG, None, name="fixed", sha256="0", flip_tta=True)
    images = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(3)]
    boxes = [np.array([20, 20, 90, 100.0]), None, (10, 10, 60, 60)]
    outs = pred.predict_batch(images, boxes, batch_size=2)
    assert len(outs) == 3 and all(isinstance(o, Prediction) for o in outs)
    for o in outs:
        assert o.points.shape == (68, 2) and o.points.dtype == np.float32
        assert o.pose.shape == (3,) and o.box.shape == (4,) and o.confidence.shape == (68,)
        assert np.all((o.confidence >= 0) & (o.confidence <= 1)) and o.confidence.min() < 1
        assert isinstance(o.uncertainty, float) and o.uncertainty > 0
    single = pred.predict(images[0], boxes[0])
    np.testing.assert_allclose(single.points, outs[0].points, atol=1e-4)
    # with no box the whole image (or a detected face) is used
    assert outs[1].box[2] > outs[1].box[0]
    with pytest.raises(ValueError, match="uint8"):
        pred.predict(images[0].astype(np.float32), boxes[0])
    with pytest.raises(ValueError, match="box"):
        pred.predict(images[0], (10, 10, 5, 5))


def test_shipped_default_predictor_loads():
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint yet")
    p = Predictor.default()
    assert p.schema.num_points == 68 and len(p.sha256) == 64 and p.shape_model is not None
    out = p.predict(np.zeros((100, 100, 3), np.uint8), (20, 20, 80, 80))
    assert out.points.shape == (68, 2)
