"""Shape model: PCA properties, projection, clamp bounds, constrain, Mahalanobis distance, calibration."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.model.asm import ShapeModel
from asmnet_studio.datasets.schemas import IBUG68
from tests.asmnet.conftest import synthetic_shapes


def test_fit_keeps_the_variance_fraction(synthetic_model):
    m = synthetic_model
    assert m.mean.shape == (68, 2)
    assert np.linalg.norm(m.mean) == pytest.approx(1.0)
    assert m.variance_explained >= 0.99
    np.testing.assert_allclose(m.components @ m.components.T, np.eye(m.num_components), atol=1e-9)
    assert np.all(np.diff(m.eigenvalues) <= 0)
    t = m.truncated(0.5)
    assert t.num_components <= m.num_components and t.variance_explained >= 0.5


def test_project_reconstruct_is_idempotent(synthetic_model):
    m = synthetic_model
    shape = synthetic_shapes(201)[-1]  # same modes as the fitted shapes, not among them
    b, T = m.project(shape)
    r = m.reconstruct(b, T)
    b2, T2 = m.project(r)
    np.testing.assert_allclose(b2, b, atol=1e-6)
    np.testing.assert_allclose(m.reconstruct(b2, T2), r, atol=1e-5)
    # the reconstruction is close to a shape the model can express
    assert np.abs(r - shape).mean() < 1.0


def test_clamp_bounds(synthetic_model):
    m = synthetic_model
    b = np.random.default_rng(0).normal(size=m.num_components) * 10 * np.sqrt(m.eigenvalues)
    box = m.clamp(b)
    assert np.all(np.abs(box) <= 3 * np.sqrt(m.eigenvalues) + 1e-12)
    ell = m.clamp(b, "ellipse")
    assert np.sqrt(np.sum(ell ** 2 / m.eigenvalues)) == pytest.approx(3.0)
    small = 0.1 * np.sqrt(m.eigenvalues)
    np.testing.assert_allclose(m.clamp(small), small)
    with pytest.raises(ValueError, match="box"):
        m.clamp(b, "sphere")


@pytest.mark.parametrize("pinned", [(), (30,), (0, 16, 30), tuple(range(36, 48))])
def test_constrain_keeps_pinned_points(aflw_shape_model, aflw_train_shapes, pinned):
    m = aflw_shape_model
    pts = aflw_train_shapes[3].copy()
    rng = np.random.default_rng(2)
    dragged = pts.copy()
    dragged[list(pinned) or [30]] += rng.normal(scale=15, size=(len(pinned) or 1, 2))
    out = m.constrain(dragged, pinned=pinned)
    assert out.shape == (68, 2) and out.dtype == np.float32
    if pinned:
        assert np.abs(out[list(pinned)] - dragged[list(pinned)]).max() < 0.5
    else:
        b, _ = m.project(out)
        assert np.all(np.abs(b) <= 3 * np.sqrt(m.eigenvalues) * 1.01 + 1e-9)


def test_constrain_nothing_pinned_is_inside_the_bounds(aflw_shape_model):
    m = aflw_shape_model
    wild = m.reconstruct(10 * np.sqrt(m.eigenvalues)) * 100 + 200  # far outside +-3 sd
    out = m.constrain(wild)
    b, _ = m.project(out)
    assert np.all(np.abs(b) <= 3 * np.sqrt(m.eigenvalues) * 1.01)
    assert m.mahalanobis(out) < m.mahalanobis(wild)


def test_constrain_stiffness_and_arguments(synthetic_model):
    m = synthetic_model
    pts = synthetic_shapes(202)[-1]
    np.testing.assert_allclose(m.constrain(pts, stiffness=0.0), pts.astype(np.float32))
    half = m.constrain(pts, stiffness=0.5)
    full = m.constrain(pts, stiffness=1.0)
    np.testing.assert_allclose(half, (pts + full) / 2, atol=1e-3)
    with pytest.raises(ValueError, match="0..67"):
        m.constrain(pts, pinned=[68])
    with pytest.raises(ValueError, match="stiffness"):
        m.constrain(pts, stiffness=2)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        m.constrain(pts[:10])
    w = np.ones(68)
    w[:17] = 0
    assert m.constrain(pts, weights=w).shape == (68, 2)


def test_mahalanobis_is_similarity_invariant_and_ranks_implausible_shapes(aflw_shape_model, aflw_train_shapes):
    m = aflw_shape_model
    p = aflw_train_shapes[10].astype(np.float64)
    a = 0.4
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    assert m.mahalanobis(p) == pytest.approx(m.mahalanobis(1.7 * p @ r.T + 5), rel=1e-4)
    broken = p.copy()
    broken[36:48] = broken[36:48][::-1]
    assert m.mahalanobis(broken) > 2 * m.mahalanobis(p)


def test_mahalanobis_equals_its_definition_from_the_projection(synthetic_model):
    """The one-solve Mahalanobis distance (coefficients and residual from the same closed-form solve) equals
    its definition: project, bring the shape into the model frame with the projection's similarity, and add
    |b / sd|² to the squared distance to the model's instance over the residual variance."""
    m = synthetic_model
    assert m.residual_variance > 0
    rng = np.random.default_rng(5)
    shapes = synthetic_shapes(40, seed=9) * rng.uniform(0.2, 30.0, (40, 1, 1)) + rng.uniform(-500, 500, (40, 1, 2))
    shapes[::2] += rng.normal(scale=3.0, size=shapes[::2].shape)  # off the model: a real residual
    b, scale, angle, t = m.project_batch(shapes)
    expected = []
    for x, bj, sj, aj, tj in zip(shapes, b, scale, angle, t):
        rot = np.array([[np.cos(aj), -np.sin(aj)], [np.sin(aj), np.cos(aj)]])
        model_frame = (x - tj) @ rot / sj                                   # R(θ)ᵀ (x − t) / s, row vectors
        inst = m.mean + (bj @ m.components).reshape(-1, 2)
        expected.append(np.sqrt(np.sum(bj ** 2 / m.eigenvalues) + np.sum((model_frame - inst) ** 2) / m.residual_variance))
    np.testing.assert_allclose(m.mahalanobis(shapes), expected, rtol=1e-9)
    assert np.ptp(expected) > 1.0, "the shapes must differ in plausibility for the check to mean anything"


def test_mahalanobis_batched_equals_one_shape_at_a_time(aflw_shape_model, aflw_train_shapes, synthetic_model):
    """(N, K, 2) in gives (N,) out, each the (K, 2) value (the predictor scores a whole batch this way); a
    model without residual variance leaves that term out in both forms."""
    shapes = aflw_train_shapes[:30].astype(np.float64)
    shapes[::3] += np.random.default_rng(0).normal(scale=4.0, size=shapes[::3].shape)
    for m in (aflw_shape_model, synthetic_model, ShapeModel(aflw_shape_model.mean, aflw_shape_model.components,
                                                               aflw_shape_model.eigenvalues)):
        batched = m.mahalanobis(shapes)
        assert isinstance(batched, np.ndarray) and batched.shape == (30,)
        np.testing.assert_allclose(batched, [m.mahalanobis(x) for x in shapes], rtol=1e-10)
        assert isinstance(m.mahalanobis(shapes[0]), float)
    bad = shapes[:2].copy()
    bad[1, 7] = np.nan
    with pytest.raises(ValueError, match="shape 1: point 7"):
        aflw_shape_model.mahalanobis(bad)


def test_asm_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, asmnet.model.asm; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------ the editor's conditional constraint
def _drag(points, i, offset):
    out = np.asarray(points, np.float64).copy()
    out[i] += offset
    return out


def test_conditional_constraint_is_scale_free(aflw_shape_model, aflw_train_shapes):
    """The same drag on an image and on its 4x upscaled copy gives the same shape, up to that scale."""
    m = aflw_shape_model
    face = aflw_train_shapes[10].astype(np.float64)
    drag = np.array([6.0, 9.0])
    small = m.constrain(_drag(face, 8, drag), pinned=[8, 36], previous=face, stiffness=0.5)
    big = m.constrain(_drag(4 * face, 8, 4 * drag), pinned=[8, 36], previous=4 * face, stiffness=0.5)
    np.testing.assert_allclose(big, 4 * small, atol=1e-3 * 4 * np.ptp(face))
    moved = np.linalg.norm(small - face, axis=1)
    assert moved[9] > 0.5, "a neighbour of the dragged point follows it"
    # without ``previous`` (pins' old places unknown) the result is also scale-free
    s2 = m.constrain(_drag(face, 8, drag), pinned=[8], stiffness=0.5)
    b2 = m.constrain(_drag(4 * face, 8, 4 * drag), pinned=[8], stiffness=0.5)
    np.testing.assert_allclose(b2, 4 * s2, atol=1e-3 * 4 * np.ptp(face))


def test_conditional_constraint_pins_exactly_and_moves_nothing_without_a_drag(aflw_shape_model, aflw_train_shapes):
    m = aflw_shape_model
    face = aflw_train_shapes[20].astype(np.float64)
    same = m.constrain(face, pinned=[8, 30], previous=face, stiffness=0.7)
    np.testing.assert_allclose(same, face, atol=1e-3)            # pins not moved: nothing moves
    dragged = _drag(face, 30, [5.0, -4.0])
    out = m.constrain(dragged, pinned=[8, 30], previous=face, stiffness=0.7)
    np.testing.assert_array_equal(out[[8, 30]], dragged[[8, 30]].astype(np.float32))
    # a rotated face behaves like an upright one
    a = 0.6
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    rot = m.constrain(dragged @ r.T, pinned=[8, 30], previous=face @ r.T, stiffness=0.7)
    np.testing.assert_allclose(rot, out @ r.T, atol=1e-2)
    # stiffness 0 is a free drag; less trust in a point makes it follow the drag more
    np.testing.assert_array_equal(m.constrain(dragged, pinned=[30], previous=face, stiffness=0.0),
                                  dragged.astype(np.float32))
    w = np.ones(68)
    w[33] = 0.05
    low = m.constrain(dragged, pinned=[30], previous=face, stiffness=0.5, weights=w)
    hi = m.constrain(dragged, pinned=[30], previous=face, stiffness=0.5)
    assert np.linalg.norm(low[33] - face[33]) > np.linalg.norm(hi[33] - face[33])
    with pytest.raises(ValueError, match="legacy"):
        m.constrain(dragged, pinned=[30], method="nope")


def test_calibration_on_held_out_shapes(aflw_train_shapes, tmp_path):
    """Thresholds come from held-out faces: about the chosen share of new ground-truth faces is flagged,
    and they survive save / load."""
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(aflw_train_shapes))
    fit, calib, report = (aflw_train_shapes[idx[:800]], aflw_train_shapes[idx[800:1000]],
                          aflw_train_shapes[idx[1000:]])
    m = ShapeModel.fit(fit, 0.98, mirror_permutation=IBUG68.flip_permutation()).calibrate(calib, (0.9, 0.99))
    lo, hi = m.plausibility_thresholds
    assert 0 < lo < hi
    flagged = np.mean([m.plausibility(x)[1] != "plausible" for x in report])
    assert 0.02 <= flagged <= 0.25, flagged          # ~10 % expected on exchangeable held-out faces
    d_fit = np.median([m.mahalanobis(x) for x in fit[:200]])
    assert d_fit < lo
    broken = report[0].copy()
    broken[36:48] += 40
    assert m.plausibility(broken)[1] == "implausible"
    path = m.save(tmp_path / "sm.npz")
    assert ShapeModel.load(path).plausibility_thresholds == m.plausibility_thresholds
    with pytest.raises(ValueError, match="N >= 20"):
        m.calibrate(report[:5])


# ---------------------------------------------------------------------------- the closed-form projection
def _tangent_model():
    return ShapeModel.fit(synthetic_shapes(300, seed=3), 0.99), synthetic_shapes(12, seed=4)


def _objective(sm, p, b, T):
    return float(np.sum((sm.reconstruct(b, T) - p) ** 2))


def test_closed_form_projection_equals_the_converged_alternation():
    sm, shapes = _tangent_model()
    assert sm.similarity_orthogonal()
    for p in shapes:
        b1, t1 = sm._fit(p, np.ones(len(p)), prior=0.0, iterations=3000)  # the slow alternation
        b2, t2 = sm.project(p)
        np.testing.assert_allclose(b2, b1, atol=1e-8)
        assert t2.scale == pytest.approx(t1.scale, rel=1e-8)
        assert t2.angle == pytest.approx(t1.angle, abs=1e-8)
        np.testing.assert_allclose(t2.translation, t1.translation, atol=1e-6)


def test_projection_never_fits_worse_than_the_alternation():
    """For any model (also one with a scale mode, which falls back to the alternation) the projection reaches
    the alternation's objective or lower."""
    sm, shapes = _tangent_model()
    scale_mode = np.vstack([sm.mean.reshape(1, -1), sm.components])
    scale_mode /= np.linalg.norm(scale_mode, axis=1, keepdims=True)
    odd = ShapeModel(sm.mean, scale_mode, np.concatenate([[0.01], sm.eigenvalues]))
    assert not odd.similarity_orthogonal()
    for model in (sm, odd):
        for p in shapes[:5]:
            alternation = model._fit(p, np.ones(len(p)), prior=0.0, iterations=100)
            assert _objective(model, p, *model.project(p)) <= _objective(model, p, *alternation) + 1e-6
