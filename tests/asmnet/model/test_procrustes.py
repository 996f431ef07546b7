"""Similarity maths: the one similarity solver, the similarity basis, generalised Procrustes alignment."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.model.procrustes import (Similarity, as_complex, as_xy, procrustes_align, rotation_matrices, similarity_basis,
                                     similarity_lsq)
from tests.asmnet.conftest import synthetic_shapes


def test_similarity_lsq_recovers_a_known_transform_batched_and_weighted():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(3, 68, 2))
    a, s, t = np.array([0.3, -1.0, 2.5]), np.array([2.5, 0.5, 10.0]), np.array([[10.0, -4.0], [0, 0], [-3, 7]])
    c, n = np.cos(a)[:, None, None], np.sin(a)[:, None, None]
    dst = s[:, None, None] * np.concatenate([c * src[..., :1] - n * src[..., 1:], n * src[..., :1] + c * src[..., 1:]],
                                            -1) + t[:, None]
    z, shift = similarity_lsq(as_complex(src), as_complex(dst))
    np.testing.assert_allclose(np.abs(z[:, 0]), s)
    np.testing.assert_allclose(np.angle(z[:, 0]), a)
    np.testing.assert_allclose(as_xy(shift)[:, 0], t, atol=1e-9)
    sim = Similarity(float(abs(z[0, 0])), float(np.angle(z[0, 0])), as_xy(shift)[0, 0])
    np.testing.assert_allclose(sim.apply(src[0]), dst[0], atol=1e-9)
    np.testing.assert_allclose(sim.invert(dst[0]), src[0], atol=1e-9)
    # weights: a point with weight 0 does not pull the fit
    bad = dst[0].copy()
    bad[5] += 50.0
    w = np.ones(68)
    w[5] = 0.0
    z, shift = similarity_lsq(as_complex(src[0]), as_complex(bad), w)
    assert abs(z[0]) == pytest.approx(s[0]) and np.angle(z[0]) == pytest.approx(a[0])


def test_similarity_basis_is_orthonormal_and_spans_what_a_similarity_does():
    mean = synthetic_shapes(1)[0]
    q = similarity_basis(mean)
    assert q.shape == (136, 4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    moved = Similarity(1.3, 0.2, np.array([4.0, -2.0])).apply(mean) - mean
    flat = moved.reshape(-1)
    np.testing.assert_allclose(q @ (q.T @ flat), flat, atol=1e-9)


def test_procrustes_align_puts_similar_shapes_onto_one_normalised_mean():
    """Copies of one shape under different similarities align onto the same points; the mean is centred
    with unit Frobenius norm; a wrong array shape is refused."""
    base = synthetic_shapes(1)[0]
    copies = np.stack([Similarity(s, a, np.array(t)).apply(base)
                       for s, a, t in ((1.0, 0.0, (0, 0)), (2.5, 0.7, (30, -4)), (0.4, -1.2, (-9, 100)))])
    aligned, mean = procrustes_align(copies)
    assert aligned.shape == copies.shape
    np.testing.assert_allclose(mean.mean(0), 0.0, atol=1e-12)
    assert np.linalg.norm(mean) == pytest.approx(1.0)
    np.testing.assert_allclose(aligned, np.broadcast_to(mean, aligned.shape), atol=1e-9)
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        procrustes_align(base)


def test_rotation_matrices_match_the_similarity():
    angles = np.array([0.0, 0.5, -2.0])
    rot = rotation_matrices(np.cos(angles), np.sin(angles))
    assert rot.shape == (3, 2, 2)
    for a, r in zip(angles, rot):
        np.testing.assert_allclose(r, Similarity(1.0, float(a), np.zeros(2)).matrix, atol=1e-15)
