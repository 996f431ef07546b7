"""ASM-assisted loss: alpha schedule, reduction to MSE, pose masking, torch projection."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asmnet.model.losses import AlphaSchedule, ASMLoss, ShapeProjector

pytestmark = pytest.mark.usefixtures("one_thread")


def test_alpha_schedule_hardens_over_thirds():
    s = AlphaSchedule()
    assert [s(p) for p in (0.0, 0.3, 0.34, 0.6, 0.67, 0.99, 1.0)] == [2, 2, 1, 1, 0.5, 0.5, 0.5]
    assert AlphaSchedule.parse("off")(0.1) == 0.0
    assert AlphaSchedule.parse("2,1,0.5,0")(0.8) == 0.0
    assert AlphaSchedule.parse("0.7")(0.9) == 0.7
    with pytest.raises(ValueError, match="off"):
        AlphaSchedule.parse("two")


def _batch(model, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = torch.tensor(np.stack([model.reconstruct(np.zeros(model.num_components))] * n), dtype=torch.float32)
    gt = gt / gt.abs().max() * 0.6 + 0.05 * torch.randn(gt.shape, generator=g)
    pred = gt + 0.1 * torch.randn(gt.shape, generator=g)
    return pred, gt


def test_alpha_zero_is_plain_mse(synthetic_model):
    pred, gt = _batch(synthetic_model)
    proj = ShapeProjector(synthetic_model, 0.9)
    plain = torch.mean((pred - gt) ** 2)
    loss, parts = ASMLoss(proj, AlphaSchedule(()), pose_weight=0.0)(pred, gt)
    assert torch.allclose(loss, plain) and parts["alpha"] == 0.0
    loss2, parts2 = ASMLoss(proj, AlphaSchedule((2.0, 1.0, 0.5)), pose_weight=0.0)(pred, gt, progress=0.1)
    target = proj(gt)
    assert parts2["alpha"] == 2.0
    assert torch.allclose(loss2, plain + 2.0 * torch.mean((pred - target) ** 2))
    _, parts3 = ASMLoss(proj, AlphaSchedule((2.0, 1.0, 0.5)), pose_weight=0.0)(pred, gt, progress=0.9)
    assert parts3["alpha"] == 0.5


def test_pose_term_is_masked(synthetic_model):
    pred, gt = _batch(synthetic_model, n=4)
    crit = ASMLoss(None, AlphaSchedule(()), pose_weight=0.5)
    pp = torch.zeros(4, 3)
    gp = torch.tensor([[0.1, 0.0, 0.0], [5.0, 5.0, 5.0], [0.1, 0.0, 0.0], [9.0, 9.0, 9.0]])
    valid = torch.tensor([True, False, True, False])
    _, parts = crit(pred, gt, pp, gp, valid)
    assert parts["pose"] == pytest.approx(0.01 / 3)
    _, none_valid = crit(pred, gt, pp, gp, torch.zeros(4, dtype=torch.bool))
    assert none_valid["pose"] == 0.0


def test_projector_matches_the_numpy_model_and_respects_bounds(synthetic_model):
    m = synthetic_model.truncated(0.9)
    rng = np.random.default_rng(0)
    # plausible shapes come back unchanged
    b = rng.normal(size=m.num_components) * np.sqrt(m.eigenvalues)
    shape = m.reconstruct(b) * 0.8 + 0.1
    out = ShapeProjector(synthetic_model, 0.9)(torch.tensor(shape[None], dtype=torch.float32))[0]
    np.testing.assert_allclose(out.numpy(), shape, atol=1e-4)
    # implausible shapes are pulled inside +-3 sd
    wild = m.reconstruct(8 * np.sqrt(m.eigenvalues)) * 0.8
    out = ShapeProjector(synthetic_model, 0.9)(torch.tensor(wild[None], dtype=torch.float32))[0]
    bw, _ = m.project(out.double().numpy())
    assert np.all(np.abs(bw) <= 3 * np.sqrt(m.eigenvalues) * 1.02)


def test_asm_target_is_the_closed_form_projection_on_turned_real_faces(aflw_shape_model, aflw_train_shapes):
    """The loss target of an unclipped shape is exactly ShapeModel.project's closed form, which is the
    converged optimum (a long alternation agrees), also on faces turned far from the mean."""
    m = aflw_shape_model.truncated(0.9)
    shapes = aflw_train_shapes[:16]
    crop = (shapes - shapes.mean(1, keepdims=True)) / np.abs(shapes - shapes.mean(1, keepdims=True)).max()
    target = ShapeProjector(aflw_shape_model, 0.9)(torch.tensor(crop, dtype=torch.float64)).numpy()
    limit_free = m.closest_plausible(crop, limit=1e9)
    for i in range(len(crop)):
        b, t = m.project(crop[i])
        np.testing.assert_allclose(limit_free[i], m.reconstruct(b, t), atol=1e-9)
        sd = np.abs(b) / np.sqrt(m.eigenvalues)
        if sd.max() <= 3.0:  # nothing clipped: the target is the projection itself
            np.testing.assert_allclose(target[i], m.reconstruct(b, t), atol=1e-9)
        b_alt, t_alt = m._fit(crop[i], np.ones(len(crop[i])), prior=0.0, iterations=3000)
        np.testing.assert_allclose(m.reconstruct(b, t), m.reconstruct(b_alt, t_alt), atol=1e-6)
