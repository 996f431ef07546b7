"""Shape model: Procrustes + PCA properties, clamp bounds, constrain, save/load."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.asm import ShapeModel, similarity_fit
from tests.asmnet.conftest import synthetic_shapes


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(68, 2))
    a, s, t = 0.3, 2.5, np.array([10.0, -4.0])
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = s * src @ r.T + t
    sim = similarity_fit(src, dst)
    assert sim.scale == pytest.approx(s)
    assert sim.angle == pytest.approx(a)
    np.testing.assert_allclose(sim.apply(src), dst, atol=1e-9)
    np.testing.assert_allclose(sim.invert(dst), src, atol=1e-9)


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


def test_asm_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, asmnet.asm; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
