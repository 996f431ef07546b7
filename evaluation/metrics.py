"""Landmark metrics as pure numpy over batches of shapes.

Conventions (the project's, see ``docs/INTERFACES.md``):

* ``pred`` and ``gt`` are (N, K, 2) arrays (a single (K, 2) shape is read as N = 1), x then y, in pixels.
  Arguments always come as (pred, gt).
* ``visibility`` is an optional (N, K) (or (K,)) int array in the COCO convention: 2 visible, 1 occluded,
  0 outside / not labelled. Points with visibility 0 are left out of every mean; occluded points count.
* **Units.** Every NME, CED value, failure rate and AUC here is a **percentage**: NME is the point error as a
  percentage of the per-image normalising distance (``100 * error_px / d``); CED values, failure rates and
  AUCs are percentages of images (0 to 100). Thresholds are NME percentages too (``threshold=10.0`` means
  an NME of 10 %, i.e. 0.10 in the "fraction" convention some papers use).
* **Failures are never hidden.** :func:`ced`, :func:`failure_rate` and :func:`auc` take every per-image error
  they are given: a non-finite error (NaN or inf, e.g. a diverged prediction) counts as a failure at every
  threshold (never reached in the CED, 0 in the AUC). A caller that has images it cannot measure (``nme`` is
  NaN for an image with no point of non-zero visibility) leaves them out itself, as
  ``asmnet_studio.evaluation.report`` does.

Normalisers (the ``name`` argument, see :data:`NORMALISERS`), each a distance in pixels per image taken
from the *ground truth* and the schema, never guessed from the point count:

``interocular``  distance between the outer eye corners ``schema.interocular`` (iBUG 68: 36 / 45;
                 WFLW 98: 60 / 72).
``interpupil``   distance between the eye centres, each the mean of ``schema.pupils[0]`` / ``[1]``.
``box``          ``sqrt(w * h)`` of the tight box around the ground-truth landmarks (AFLW2000-3D protocol).
``diagonal``     ``sqrt(w**2 + h**2)`` of the same box.

The box normalisers use only points whose visibility is not 0 when a visibility mask is given.
Everything is vectorised: 100k faces of 68 points take a fraction of a second.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from asmnet_studio.datasets.schemas import LandmarkSchema, get_schema

#: the valid normaliser names, in the order they are documented
NORMALISERS: tuple[str, ...] = ("interocular", "interpupil", "box", "diagonal")


def _schema(schema: LandmarkSchema | str) -> LandmarkSchema:
    return get_schema(schema) if isinstance(schema, str) else schema


def _as_batch(arr, what: str) -> np.ndarray:
    """(N, K, 2) float64 view of ``arr`` ((K, 2) becomes N = 1); ValueError naming ``what`` otherwise."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != 2:
        raise ValueError(f"{what} must be (N, K, 2) or (K, 2) x, y points, found shape {np.shape(arr)}")
    return a


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = _as_batch(pred, "pred")
    g = _as_batch(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, found {p.shape} and {g.shape}")
    return p, g


def _mask(visibility, shape: tuple[int, int]) -> np.ndarray | None:
    """(N, K) bool "counts" mask (visibility != 0) or None for "all points count"."""
    if visibility is None:
        return None
    v = np.asarray(visibility)
    if v.ndim == 1:
        v = v[None]
    if v.shape != shape:
        raise ValueError(f"visibility must be (N, K) = {shape} (or (K,) for one shape), found {np.shape(visibility)}")
    return v != 0


def point_errors(pred, gt) -> np.ndarray:
    """Euclidean distance of each predicted point from its ground truth.

    Args:
        pred, gt: (N, K, 2) (or (K, 2)) x, y in pixels.

    Returns:
        (N, K) float64 errors in pixels.
    """
    p, g = _pair(pred, gt)
    d = p - g
    d *= d
    return np.sqrt(d[..., 0] + d[..., 1])


def _box_wh(g: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(N,) width and height of the tight box around the (counted) points of each shape."""
    x, y = g[..., 0], g[..., 1]  # reducing each coordinate separately is ~10x faster than over axis 1
    if mask is None:
        return x.max(axis=1) - x.min(axis=1), y.max(axis=1) - y.min(axis=1)
    with np.errstate(invalid="ignore"):
        w = np.where(mask, x, -np.inf).max(axis=1) - np.where(mask, x, np.inf).min(axis=1)
        h = np.where(mask, y, -np.inf).max(axis=1) - np.where(mask, y, np.inf).min(axis=1)
    none = ~mask.any(axis=1)
    w[none] = np.nan
    h[none] = np.nan
    return w, h


def _interocular(g: np.ndarray, s: LandmarkSchema, mask) -> np.ndarray:
    if s.interocular is None:
        raise ValueError(f"schema {s.name!r} defines no outer eye corners; use one of "
                         f"{[n for n in NORMALISERS if n != 'interocular' and (n != 'interpupil' or s.pupils)]}")
    i, j = s.interocular
    return np.linalg.norm(g[:, i] - g[:, j], axis=-1)


def _interpupil(g: np.ndarray, s: LandmarkSchema, mask) -> np.ndarray:
    if s.pupils is None:
        raise ValueError(f"schema {s.name!r} defines no eye points for pupils; use one of "
                         f"{[n for n in NORMALISERS if n != 'interpupil' and (n != 'interocular' or s.interocular)]}")
    right = g[:, list(s.pupils[0])].mean(axis=1)
    left = g[:, list(s.pupils[1])].mean(axis=1)
    return np.linalg.norm(right - left, axis=-1)


def _box(g: np.ndarray, s: LandmarkSchema, mask) -> np.ndarray:
    w, h = _box_wh(g, mask)
    return np.sqrt(w * h)


def _diagonal(g: np.ndarray, s: LandmarkSchema, mask) -> np.ndarray:
    w, h = _box_wh(g, mask)
    return np.sqrt(w * w + h * h)


_NORMALISER_FUNCS: dict[str, Callable] = {
    "interocular": _interocular, "interpupil": _interpupil, "box": _box, "diagonal": _diagonal,
}


def check_normaliser(name: str) -> str:
    """``name`` if it is a valid normaliser; ValueError listing :data:`NORMALISERS` otherwise."""
    if name not in _NORMALISER_FUNCS:
        raise ValueError(f"unknown normaliser {name!r}; choose one of {list(NORMALISERS)}")
    return name


def normaliser(gt, schema: LandmarkSchema | str, name: str, visibility=None) -> np.ndarray:
    """Per-image normalising distance from the ground truth.

    Args:
        gt: (N, K, 2) (or (K, 2)) ground-truth x, y in pixels.
        schema: the landmark schema (or its registered name) giving the eye indices.
        name: one of :data:`NORMALISERS` (see the module docstring for the formulas).
        visibility: optional (N, K) mask; the box normalisers use only points with visibility != 0.

    Returns:
        (N,) float64 distances in pixels (NaN for an image with no counted point under a box normaliser).

    Raises:
        ValueError: unknown ``name`` (listing the valid ones), a schema without the needed eye indices,
            or a point count that does not match the schema.
    """
    check_normaliser(name)
    s = _schema(schema)
    g = _as_batch(gt, "gt")
    if g.shape[1] != s.num_points:
        raise ValueError(f"gt has {g.shape[1]} points per shape but schema {s.name!r} has {s.num_points}")
    return _NORMALISER_FUNCS[name](g, s, _mask(visibility, g.shape[:2]))


def _check_norm(d: np.ndarray, name: str) -> None:
    ok = np.isfinite(d)
    if np.any(ok & (d <= 0)):
        bad = np.where(ok & (d <= 0))[0]
        raise ValueError(f"{name} normaliser is zero for {bad.size} image(s), e.g. index {bad[:5].tolist()}: "
                         "the ground truth is degenerate (coincident points)")


def masked_mean(values: np.ndarray, mask: np.ndarray | None, axis: int) -> np.ndarray:
    """Mean of (N, K) ``values`` along ``axis`` over the entries where ``mask`` (N, K) is True (None = all);
    NaN where no entry counts."""
    if mask is None:
        return values.mean(axis=axis)
    cnt = mask.sum(axis=axis)
    tot = np.where(mask, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def _normalised_errors(pred, gt, schema, name, visibility) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, K) errors in percent of the normaliser, and the (N, K) counted-points mask (or None)."""
    p, g = _pair(pred, gt)
    d = normaliser(g, schema, name, visibility)
    _check_norm(d, name)
    err = point_errors(p, g)
    return 100.0 * err / d[:, None], _mask(visibility, p.shape[:2])


def nme(pred, gt, schema: LandmarkSchema | str, normaliser: str, visibility=None) -> np.ndarray:
    """Normalised mean error of each image, in percent.

    ``nme[n] = 100 / d_n * mean_k ||pred[n, k] - gt[n, k]||`` over the points k with visibility != 0,
    where ``d_n`` is the named normaliser of ``gt[n]`` (see :func:`normaliser`).

    Args:
        pred, gt: (N, K, 2) (or (K, 2)) x, y in pixels.
        schema: landmark schema or its name.
        normaliser: one of :data:`NORMALISERS`.
        visibility: optional (N, K) (or (K,)) int mask; points with 0 are excluded from the mean.

    Returns:
        (N,) float64 NME in percent (NaN for an image with no counted point).
    """
    e, m = _normalised_errors(pred, gt, schema, normaliser, visibility)
    return masked_mean(e, m, axis=1)


def per_landmark_nme(pred, gt, schema: LandmarkSchema | str, normaliser: str, visibility=None) -> np.ndarray:
    """Mean normalised error of each landmark over the images, in percent.

    ``out[k] = mean_n 100 * ||pred[n, k] - gt[n, k]|| / d_n`` over the images n where point k has
    visibility != 0.

    Returns:
        (K,) float64 NME in percent (NaN for a point never counted).
    """
    e, m = _normalised_errors(pred, gt, schema, normaliser, visibility)
    return masked_mean(e, m, axis=0)


def _errors_1d(errors, what: str = "errors") -> np.ndarray:
    """(N,) float64 per-image errors, non-finite ones kept (they are failures); ValueError for another shape."""
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of per-image errors, found shape {e.shape}")
    return e


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"threshold must be a positive finite number (NME percent), found {threshold!r}")
    return t


def ced(errors, thresholds=None, *, max_threshold: float | None = None,
        num: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: the percentage of images whose error is at most each threshold.

    ``ced(t) = 100 * #{n : errors[n] <= t} / N`` over all N images; a non-finite error never reaches any
    threshold, so the curve of a set with failures ends below 100.

    Args:
        errors: (N,) per-image errors (e.g. NME in percent); NaN / inf count as never reached.
        thresholds: (T,) thresholds in the same unit; default ``num`` evenly spaced values on
            [0, max_threshold] (``max_threshold`` defaults to the largest finite error, or 10 if that is 0 /
            there is none).

    Returns:
        (thresholds (T,), ced (T,)) float64; ced is non-decreasing in the threshold, in [0, 100]; NaN when
        no error is given.
    """
    e = _errors_1d(errors)
    fin = np.sort(e[np.isfinite(e)])
    if thresholds is None:
        hi = max_threshold if max_threshold is not None else (float(fin[-1]) if fin.size and fin[-1] > 0 else 10.0)
        thresholds = np.linspace(0.0, float(hi), int(num))
    t = np.asarray(thresholds, dtype=np.float64)
    if e.size == 0:
        return t, np.full(t.shape, np.nan)
    return t, 100.0 * np.searchsorted(fin, t, side="right") / e.size


def _per_image(errors, threshold: float, score: Callable, non_finite) -> np.ndarray | None:
    """(N,) ``score(e, t)`` of each finite error e at the checked threshold t, ``non_finite`` for a NaN / inf
    error (a failure is never hidden); None when no error is given."""
    t = _check_threshold(threshold)
    e = _errors_1d(errors)
    if e.size == 0:
        return None
    fin = np.isfinite(e)
    out = np.full(e.shape, non_finite)
    out[fin] = score(e[fin], t)
    return out


def failure_rate(errors, threshold: float = 10.0) -> float:
    """Percentage of images whose error is strictly above ``threshold`` or not finite.

    Args:
        errors: (N,) per-image errors, e.g. NME in percent; NaN / inf (a diverged prediction) are failures.
        threshold: a positive finite number in the same unit (10.0 = NME 10 %); ValueError otherwise.

    Returns:
        float in [0, 100]; NaN when no error is given.
    """
    failed = _per_image(errors, threshold, lambda e, t: e > t, non_finite=True)
    return float("nan") if failed is None else float(100.0 * np.count_nonzero(failed) / failed.size)


def auc(errors, threshold: float = 10.0) -> float:
    """Area under the CED curve on [0, threshold], divided by ``threshold``, in percent.

    Integration rule: **exact** integration of the CED step function (no grid, no step size)::

        AUC = 100 / t * integral_0^t ced01(x) dx,   ced01(x) = #{n : e_n <= x} / N
            = 100 / N * sum_n max(0, 1 - e_n / t)

    because image n contributes 1 on [e_n, t], a length of max(0, t - e_n). A non-finite error contributes
    0 (it never reaches the curve) but still counts in N. The usual trapezoid rule on a uniform grid of
    step h converges to this value with an error of at most h / t (x 100).

    Args:
        errors: (N,) per-image errors, e.g. NME in percent; NaN / inf are failures.
        threshold: the upper limit t > 0 in the same unit (10.0 = NME 10 %).

    Returns:
        float in [0, 100]; NaN when no error is given.
    """
    share = _per_image(errors, threshold, lambda e, t: np.clip(1.0 - e / t, 0.0, 1.0), non_finite=0.0)
    return float("nan") if share is None else float(100.0 * share.mean())


def _ranks(x: np.ndarray) -> np.ndarray:
    """(N,) ranks 1..N of ``x``, ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(xs[1:] != xs[:-1]) + 1]    # first index of each run of equal values
    ends = np.r_[starts[1:], len(xs)]
    mean_rank = (starts + ends + 1) / 2.0                       # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation of two (N,) arrays (e.g. per-face uncertainty and NME), in [-1, 1].

    The Pearson correlation of the ranks, ties ranked by the mean of the ranks they span (as
    ``scipy.stats.spearmanr``); +-inf ranks first / last. NaN when either array is constant or N < 2.

    Raises:
        ValueError: arrays of another shape or length, or a NaN (it has no rank; its index is named, so a
            diverged prediction cannot silently change a ranking).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"spearman needs two 1-D arrays of one length, found shapes {x.shape} and {y.shape}")
    bad = np.flatnonzero(np.isnan(x) | np.isnan(y))
    if bad.size:
        raise ValueError(f"spearman: {bad.size} NaN value(s), e.g. at index {bad[:5].tolist()}")
    if x.size < 2:
        return float("nan")
    rx, ry = _ranks(x) - (x.size + 1) / 2.0, _ranks(y) - (x.size + 1) / 2.0
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")
