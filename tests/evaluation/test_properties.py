"""Hypothesis properties of the metrics and pose errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asmnet_studio.datasets.schemas import IBUG68
from asmnet_studio.evaluation import metrics, pose

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
err_values = st.floats(0, 100, allow_nan=False, allow_infinity=False)
errors = arrays(np.float64, st.integers(1, 40), elements=err_values)
#: per-image errors where some predictions diverged (NaN / inf: failures at every threshold)
errors_failing = arrays(np.float64, st.integers(1, 40),
                        elements=st.one_of(err_values, st.just(np.nan), st.just(np.inf)))
thresholds_pos = st.floats(0.001, 100, allow_nan=False, allow_infinity=False)
angles = st.floats(-720, 720, allow_nan=False, allow_infinity=False)


@st.composite
def shape_pairs(draw):
    """(pred, gt) of 1-3 faces of 68 points with non-degenerate boxes and eye distances."""
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 100, (n, 68, 2))
    gt[:, 36] = [10.0, 40.0]
    gt[:, 45] = [90.0, 45.0]
    pred = gt + rng.normal(0, draw(st.floats(0.1, 20)), gt.shape)
    return pred, gt


@settings(max_examples=40, deadline=None)
@given(shape_pairs(), st.sampled_from(metrics.NORMALISERS), finite, finite)
def test_nme_invariant_to_translating_both(pair, name, dx, dy):
    pred, gt = pair
    a = metrics.nme(pred, gt, IBUG68, name)
    b = metrics.nme(pred + [dx, dy], gt + [dx, dy], IBUG68, name)
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(shape_pairs(), st.sampled_from(metrics.NORMALISERS), st.floats(0.01, 100))
def test_nme_invariant_to_scaling_both(pair, name, s):
    pred, gt = pair
    a = metrics.nme(pred, gt, IBUG68, name)
    b = metrics.nme(pred * s, gt * s, IBUG68, name)
    np.testing.assert_allclose(a, b, rtol=1e-7)
    np.testing.assert_allclose(metrics.per_landmark_nme(pred, gt, IBUG68, name),
                               metrics.per_landmark_nme(pred * s, gt * s, IBUG68, name), rtol=1e-7)


@given(errors_failing, arrays(np.float64, st.integers(1, 20), elements=thresholds_pos))
def test_ced_non_decreasing_and_fr_complement(e, thresholds):
    t = np.sort(thresholds)
    _, c = metrics.ced(e, t)
    assert np.all(np.diff(c) >= 0)
    assert np.all((c >= 0) & (c <= 100))
    for ti, ci in zip(t, c):
        assert metrics.failure_rate(e, ti) == pytest.approx(100.0 - ci)


@given(errors_failing, thresholds_pos, thresholds_pos)
def test_failure_rate_non_increasing(e, t1, t2):
    lo, hi = sorted((t1, t2))
    assert metrics.failure_rate(e, hi) <= metrics.failure_rate(e, lo)


@given(errors, st.floats(0.01, 100))
def test_auc_in_range_and_matches_trapezoid(e, t):
    a = metrics.auc(e, t)
    assert 0.0 <= a <= 100.0
    grid = np.linspace(0.0, t, 20001)
    _, c = metrics.ced(e, grid)
    trap = float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(grid)) / t)
    # the trapezoid rule on a grid of step h = t / 20000 is within 100 * h / t = 0.005 of the exact value
    assert trap == pytest.approx(a, abs=0.0051)


@given(angles, angles, st.integers(-3, 3))
def test_angle_error_wraps(a, b, k):
    e = pose.angle_errors([a, 0, 0], [b, 0, 0])[0, 0]
    assert 0.0 <= e <= 180.0
    assert pose.angle_errors([a + 360 * k, 0, 0], [b, 0, 0])[0, 0] == pytest.approx(e, abs=1e-7)
    assert pose.angle_errors([b, 0, 0], [a, 0, 0])[0, 0] == pytest.approx(e, abs=1e-7)


@given(angles, angles)
def test_geodesic_equals_yaw_error_for_pure_yaw(a, b):
    g = pose.geodesic_error([a, 0, 0], [b, 0, 0])[0]
    e = pose.angle_errors([a, 0, 0], [b, 0, 0])[0, 0]
    assert g == pytest.approx(e, abs=1e-4)


@given(st.tuples(angles, angles, angles), st.tuples(angles, angles, angles))
def test_geodesic_symmetric_and_bounded(p, q):
    g1 = pose.geodesic_error(p, q)[0]
    g2 = pose.geodesic_error(q, p)[0]
    assert 0.0 <= g1 <= 180.0
    assert g1 == pytest.approx(g2, abs=1e-4)
