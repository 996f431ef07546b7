"""Hand-computed values of asmnet_studio.evaluation.metrics (the arithmetic is in the comments)."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.schemas import IBUG68, LandmarkSchema
from asmnet_studio.evaluation import metrics


def face68(io_left=(0.0, 0.0), io_right=(10.0, 0.0)) -> np.ndarray:
    """A (68, 2) shape whose points all lie inside [0, 10] x [0, 4], with the outer eye corners 36 / 45
    where asked, and every eye point at its corner (so the pupils are the corners too)."""
    g = np.zeros((68, 2))
    g[:, 0] = np.linspace(0.0, 10.0, 68)
    g[:, 1] = np.linspace(0.0, 4.0, 68)
    g[36:42] = io_left
    g[42:48] = io_right
    return g


def test_point_errors_by_hand():
    pred = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]])
    gt = np.array([[0.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    # sqrt(3^2 + 4^2) = 5; 0; sqrt(1 + 1) = 1.41421356
    np.testing.assert_allclose(metrics.point_errors(pred, gt), [[5.0, 0.0, np.sqrt(2.0)]])


def test_interocular_nme_by_hand():
    g = face68()
    p = g + [0.3, 0.4]  # every point off by sqrt(0.09 + 0.16) = 0.5 px
    # outer eye corners 36 = (0, 0) and 45 = (10, 0): d = 10 px; NME = 100 * 0.5 / 10 = 5 %
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "interocular"), [10.0])
    np.testing.assert_allclose(metrics.nme(p, g, IBUG68, "interocular"), [5.0])


def test_interpupil_uses_eye_means():
    g = face68()
    # right eye 36..41: x = 0, 0, 0, 0, 2, 4 -> mean 1; left eye 42..47 all at x = 10 -> centre (10, 0)
    g[40] = (2.0, 0.0)
    g[41] = (4.0, 0.0)
    # interpupil d = 10 - 1 = 9
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "interpupil"), [9.0])
    # the outer corners 36 = (0, 0) and 45 = (10, 0) are unchanged: interocular still 10
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "interocular"), [10.0])


def test_box_and_diagonal_by_hand():
    g = face68()
    g[0] = (-5.0, -0.5)  # box now x in [-5, 10], y in [-0.5, 4]: w = 15, h = 4.5
    # box = sqrt(15 * 4.5) = sqrt(67.5) = 8.21584; diagonal = sqrt(225 + 20.25) = sqrt(245.25) = 15.66046
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "box"), [np.sqrt(67.5)])
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "diagonal"), [np.sqrt(245.25)])
    p = g + [0.0, 1.0]  # every error 1 px -> NME = 100 / 8.21584 = 12.17161 %
    np.testing.assert_allclose(metrics.nme(p, g, IBUG68, "box"), [100.0 / np.sqrt(67.5)])


def test_visibility_excludes_points_from_mean_and_box():
    g = face68()
    p = g.copy()
    p[:, 0] += 10.0          # every point 10 px off ...
    p[0] = g[0] + [3.0, 0]   # ... except point 0 (3 px) and point 1 (1 px)
    p[1] = g[1] + [0, 1.0]
    vis = np.zeros(68, dtype=np.int8)
    vis[[0, 1, 36, 45]] = [2, 1, 0, 0]  # occluded (1) counts, outside (0) does not
    # counted errors: 3 and 1 -> mean 2 px; interocular d = 10 (eye corners are used even when not counted)
    np.testing.assert_allclose(metrics.nme(p, g, IBUG68, "interocular", vis), [20.0])
    # box over the counted points 0 = (0, 0) and 1 = (10/67, 4/67): w = 0.149254, h = 0.059701
    w, h = 10.0 / 67.0, 4.0 / 67.0
    np.testing.assert_allclose(metrics.normaliser(g, IBUG68, "box", vis), [np.sqrt(w * h)])
    # no counted point at all -> NaN, not an error
    assert np.isnan(metrics.nme(p, g, IBUG68, "interocular", np.zeros(68)))[0]


def test_per_landmark_nme_by_hand():
    a = face68()
    b = 2.0 * face68()  # same face twice as large: interocular d = 20
    gt = np.stack([a, b])
    pred = gt.copy()
    pred[0, 0] += (1.0, 0.0)   # point 0: 1 px on d = 10 -> 10 %
    pred[1, 0] += (0.0, 4.0)   # point 0: 4 px on d = 20 -> 20 %
    lm = metrics.per_landmark_nme(pred, gt, IBUG68, "interocular")
    # point 0: (10 + 20) / 2 = 15 %; every other point 0
    assert lm.shape == (68,)
    assert lm[0] == pytest.approx(15.0)
    assert np.all(lm[1:] == 0)
    # image NMEs: 10 / 68 and 20 / 68 percent
    np.testing.assert_allclose(metrics.nme(pred, gt, IBUG68, "interocular"), [10 / 68, 20 / 68])


def test_ced_by_hand():
    e = [1.0, 2.0, 2.0, 5.0]
    t, c = metrics.ced(e, [0, 1, 2, 3, 5, 6])
    # <= 0: none; <= 1: 1 of 4; <= 2: 3 of 4; <= 3: 3; <= 5: 4; <= 6: 4
    np.testing.assert_allclose(c, [0, 25, 75, 75, 100, 100])
    t, c = metrics.ced(e)  # default grid: 0 .. max error (5), 1001 points
    assert t[0] == 0 and t[-1] == 5 and len(t) == 1001 and c[-1] == 100


def test_failure_rate_by_hand():
    e = [1.0, 10.0, 10.5, 20.0]
    # strictly above 10: 10.5 and 20 -> 2 / 4 = 50 %
    assert metrics.failure_rate(e, 10.0) == pytest.approx(50.0)
    assert metrics.failure_rate(e, 0.5) == pytest.approx(100.0)
    assert np.isnan(metrics.failure_rate([], 10.0))


def test_non_finite_errors_are_failures_not_left_out():
    e = [1.0, 10.0, 10.5, 20.0, np.nan, np.inf]
    # a diverged prediction (NaN / inf) fails: 10.5, 20, NaN, inf of 6 -> 66.7 %
    assert metrics.failure_rate(e, 10.0) == pytest.approx(400.0 / 6)
    assert metrics.failure_rate([np.nan], 10.0) == pytest.approx(100.0)
    # AUC: 0.9 + 0 + 0 + 0 + 0 + 0 over 6 images
    assert metrics.auc(e, 10.0) == pytest.approx(90.0 / 6)
    # CED: never reached by the two non-finite errors, so it ends at 4 / 6
    t, c = metrics.ced(e, [0.0, 1.0, 10.0, 1e9])
    np.testing.assert_allclose(c, [0.0, 100.0 / 6, 200.0 / 6, 400.0 / 6])
    t, c = metrics.ced(e)  # the default grid still ends at the largest finite error
    assert t[-1] == 20.0 and c[-1] == pytest.approx(400.0 / 6)


def test_failure_rate_threshold_is_validated_as_auc_is():
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="positive finite"):
            metrics.failure_rate([1.0], bad)
        with pytest.raises(ValueError, match="positive finite"):
            metrics.auc([1.0], bad)


def test_auc_exact_by_hand():
    e = [0.0, 5.0, 10.0, 20.0]
    # each image contributes max(0, 1 - e / 10): 1, 0.5, 0, 0 -> mean 0.375 -> 37.5 %
    assert metrics.auc(e, 10.0) == pytest.approx(37.5)
    # the same by the trapezoid rule on a grid of step 1e-4 (what many papers do) agrees to < 0.01
    t, c = metrics.ced(e, np.arange(0.0, 10.0 + 1e-9, 1e-4))
    trap = float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(t)) / 10.0)
    assert trap == pytest.approx(37.5, abs=0.01)
    assert metrics.auc([0.0], 10.0) == pytest.approx(100.0)
    assert metrics.auc([50.0], 10.0) == pytest.approx(0.0)


def test_bad_arguments_name_the_choices():
    g = face68()
    with pytest.raises(ValueError, match="interocular.*interpupil.*box.*diagonal"):
        metrics.nme(g, g, IBUG68, "eyes")
    with pytest.raises(ValueError, match="same shape"):
        metrics.nme(g[:10], g, IBUG68, "box")
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        metrics.point_errors(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="schema 'ibug68' has 68"):
        metrics.normaliser(np.zeros((5, 2)), IBUG68, "box")
    with pytest.raises(ValueError, match="zero"):
        metrics.nme(np.zeros((68, 2)), np.zeros((68, 2)), IBUG68, "box")
    with pytest.raises(ValueError, match="positive"):
        metrics.auc([1.0], 0.0)
    with pytest.raises(ValueError, match="visibility"):
        metrics.nme(g, g, IBUG68, "box", np.ones(5))


def test_schema_without_eye_points():
    tiny = LandmarkSchema(name="tiny3", names=("a", "b", "c"), groups={"all": (0, 1, 2)}, edges=(), flip_pairs=())
    g = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 9.0]])
    with pytest.raises(ValueError, match="no outer eye corners.*box"):
        metrics.normaliser(g, tiny, "interocular")
    with pytest.raises(ValueError, match="pupils"):
        metrics.normaliser(g, tiny, "interpupil")
    # box = sqrt(4 * 9) = 6
    np.testing.assert_allclose(metrics.normaliser(g, tiny, "box"), [6.0])


def test_schema_by_name_and_single_shape():
    g = face68()
    assert metrics.nme(g + [0.3, 0.4], g, "ibug68", "interocular") == pytest.approx([5.0])


def test_vectorised_over_many_faces():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 200, (20000, 68, 2))
    pred = gt + rng.normal(0, 1, gt.shape)
    e = metrics.nme(pred, gt, IBUG68, "box")
    assert e.shape == (20000,) and np.isfinite(e).all()
    # the vectorised result equals a per-face loop on a few faces
    for n in (0, 123, 19999):
        w = np.ptp(gt[n, :, 0])
        h = np.ptp(gt[n, :, 1])
        ref = 100 * np.mean(np.linalg.norm(pred[n] - gt[n], axis=1)) / np.sqrt(w * h)
        assert e[n] == pytest.approx(ref)


def test_spearman_by_hand_ties_and_nan():
    assert metrics.spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]) == pytest.approx(1.0)
    assert metrics.spearman([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # ties get the mean rank: a ranks (1.5, 1.5, 3, 4), b ranks (1, 2, 3, 4) -> r = 4.5 / sqrt(4.5 * 5)
    assert metrics.spearman([1.0, 1.0, 2.0, np.inf], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert np.isnan(metrics.spearman([1.0, 1.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="index \\[1\\]"):
        metrics.spearman([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="1-D"):
        metrics.spearman([1.0, 2.0], [1.0, 2.0, 3.0])
