"""Per-face uncertainty and per-point confidence (asmnet.inference.predictor) order the queue: a face whose mirrored
pass disagrees more is less certain, and comes first."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asmnet.inference.crop import CROP_MARGIN
from asmnet.inference.predictor import Predictor
from asmnet.inference.workspace_prelabel import repredict_workspace
from asmnet_studio.datasets.schemas import IBUG68
from asmnet_studio.datasets.store import Workspace
from tests.annotator.synthetic import shape_model
from tests.asmnet.loop_helpers import face_image


class Lopsided(torch.nn.Module):
    """Outputs a mirror-symmetric version of ``mean_shape`` shifted right by ``gain`` x the image's mean
    brightness: not mirror-equivariant, so the mirrored pass lands ``2 * gain * brightness`` away."""

    def __init__(self, mean_shape: np.ndarray, gain: float = 0.2):
        super().__init__()
        m = torch.as_tensor(mean_shape, dtype=torch.float32)
        m = m - m.mean(0)
        mirrored = m.clone()
        mirrored[:, 0] = -mirrored[:, 0]
        m = (m + mirrored[torch.as_tensor(IBUG68.flip_permutation())]) / 2  # exactly mirror-symmetric
        self.register_buffer("mean_shape", 0.5 * m / m.abs().max())
        self.gain = gain

    def forward(self, x):
        shift = self.gain * x.mean(dim=(1, 2, 3))
        pts = self.mean_shape.expand(x.shape[0], -1, -1).clone()
        pts[..., 0] = pts[..., 0] + shift[:, None]
        return pts, torch.zeros(x.shape[0], 3)


@pytest.fixture(scope="module")
def predictor():
    sm = shape_model()
    config = {"model": "lopsided", "num_points": 68, "input_size": 64, "crop_margin": CROP_MARGIN, "schema": "ibug68"}
    return Predictor(Lopsided(sm.mean), config, sm, name="lopsided", sha256="0" * 64, card={"flip_tta": False})


def _image(value: int) -> np.ndarray:
    return np.full((200, 200, 3), value, np.uint8)


BOX = np.array([50, 50, 150, 150], np.float32)


def test_larger_flip_disagreement_means_higher_uncertainty(predictor):
    dark, mid, bright = predictor.predict_batch([_image(10), _image(120), _image(250)], [BOX] * 3)
    assert dark.uncertainty < mid.uncertainty < bright.uncertainty
    assert dark.extras["flip_nme"] < mid.extras["flip_nme"] < bright.extras["flip_nme"]
    # the shape is the same (only shifted), so the Mahalanobis term does not decide the order
    assert dark.extras["mahalanobis"] == pytest.approx(bright.extras["mahalanobis"], abs=1e-2)
    # per point: every point of the brighter face is less confident
    assert (bright.confidence < dark.confidence).all()
    assert ((0 <= bright.confidence) & (bright.confidence <= 1)).all()


def test_a_symmetric_model_on_a_face_is_certain(predictor):
    still = Predictor(Lopsided(predictor.shape_model.mean, gain=0.0), predictor.config, predictor.shape_model,
                      name="still", sha256="1" * 64)
    p = still.predict(_image(200), BOX)
    assert p.extras["flip_nme"] == pytest.approx(0.0, abs=1e-6)
    assert p.confidence.min() > 0.999


def test_implausible_shape_raises_uncertainty():
    sm = shape_model()
    config = {"model": "x", "num_points": 68, "input_size": 64, "crop_margin": CROP_MARGIN, "schema": "ibug68"}
    plain = Predictor(Lopsided(sm.mean, gain=0.0), config, sm, name="plain", sha256="2" * 64)
    odd_shape = sm.mean.copy()
    odd_shape[:17] *= 0.3  # the jaw collapsed inside the face (symmetrised, so the passes still agree)
    odd = Predictor(Lopsided(odd_shape, gain=0.0), config, sm, name="odd", sha256="3" * 64)
    a, b = plain.predict(_image(100), BOX), odd.predict(_image(100), BOX)
    assert b.extras["mahalanobis"] > a.extras["mahalanobis"]
    assert b.uncertainty > a.uncertainty  # both passes agree: the implausibility alone ranks them


def test_queue_puts_the_least_certain_face_first(tmp_path, predictor):
    from tests.annotator.synthetic import random_faces

    ws = Workspace(tmp_path / "ws.db")
    shapes = random_faces(3, seed=1)
    ids = []
    for n, value in enumerate((30, 240, 120)):
        path = face_image(tmp_path / f"f{n}.png", shapes[n], seed=n)
        img = np.full((320, 320, 3), value, np.uint8)
        from PIL import Image

        Image.fromarray(img).save(path)
        ids.append(ws.add_image(path, box=BOX))
    mid = ws.register_model("lopsided", "lopsided.pt", predictor.sha256, {})
    repredict_workspace(ws, predictor, mid)
    q = ws.queue().sort_values("uncertainty", ascending=False)
    assert q["image_id"].tolist() == [ids[1], ids[2], ids[0]]
    ws.close()


def test_face_uncertainty_grows_with_each_signal():
    from asmnet.inference.uncertainty import face_uncertainty, point_confidence, typical_mahalanobis

    d_small, d_large = np.full(68, 0.01), np.full(68, 0.04)
    typical = typical_mahalanobis(68)
    assert face_uncertainty(d_small, typical, 68) < face_uncertainty(d_large, typical, 68)
    assert face_uncertainty(d_small, typical, 68) < face_uncertainty(d_small, 2 * typical, 68)
    assert face_uncertainty(d_small, typical, 68) == pytest.approx(0.01)
    assert face_uncertainty(d_large, None) == pytest.approx(0.04)  # no shape model: the disagreement alone
    conf = point_confidence(np.array([0.0, 0.05, 0.5]))
    assert conf[0] == 1.0 and conf[1] == pytest.approx(np.exp(-1)) and conf[2] < 1e-4
