"""``evaluate(...)`` -> :class:`Report`: a per-image table and a summary, the input of every plot.

All NME, failure-rate and AUC figures are **percentages** (see ``asmnet_studio.evaluation.metrics``); angles are
degrees.

``Report.summary`` has exactly these keys (the content of ``summary.json``):

=================== ==========================================================================
``n``               number of images evaluated
``normaliser``      the normaliser name used for ``nme`` (one of ``metrics.NORMALISERS``)
``nme``             mean NME over the images, percent
``nme_interocular`` mean NME normalised by the outer-eye-corner distance, percent (None when the
                    schema defines no eye corners)
``nme_buckets``     ``{"0-30", "30-60", "60-90"}`` mean NME per ground-truth |yaw| bucket (None for an
                    empty bucket; the whole entry is None without ground-truth pose)
``nme_balanced``    mean of the non-empty bucket means (None without ground-truth pose)
``fr_10``           failure rate: percent of images with NME > 10 %
``auc_10``          area under the CED on [0, 10 %] divided by 10, percent (exact integration)
``pose_mae``        ``{"yaw", "pitch", "roll", "mean"}`` degrees — only when both poses are given
=================== ==========================================================================

When ``failure_threshold`` is not 10, the keys ``fr_<t>`` and ``auc_<t>`` (``t`` formatted with ``:g``)
are added beside ``fr_10`` / ``auc_10``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from asmnet_studio.datasets.schemas import LandmarkSchema, get_schema
from asmnet_studio.evaluation import metrics, pose as posemod

#: dataset format -> the normaliser its literature reports (formats not listed: interocular when the schema
#: has eye corners, else box)
FORMAT_NORMALISERS: dict[str, str] = {
    "aflw2000": "box",
    "pts": "interocular",
    "300w": "interocular",
    "wflw": "interocular",
}


def default_normaliser(format_name: str | None, schema: LandmarkSchema | str) -> str:
    """The customary normaliser for a dataset format and schema.

    AFLW2000-3D -> ``"box"`` (sqrt(w·h) of the GT landmark box); 68-point 300-W (``pts`` / ``300w``) and
    WFLW -> ``"interocular"`` (outer eye corners). Any other format, or a schema without the outer eye
    corners, falls back to ``"interocular"`` when the schema has them and ``"box"`` otherwise.
    """
    s = get_schema(schema) if isinstance(schema, str) else schema
    name = FORMAT_NORMALISERS.get(format_name or "")
    if name == "interocular" and s.interocular is None:
        name = None
    if name is None:
        name = "interocular" if s.interocular is not None else "box"
    return name


@dataclass
class Report:
    """The result of :func:`evaluate`.

    Attributes:
        per_image: one row per image: ``image``, ``nme`` (percent, chosen normaliser), ``nme_interocular``
            (when the schema has eye corners), ``norm_px`` (normalising distance, pixels), ``error_px``
            (mean point error, pixels), ``failed`` (nme > failure_threshold), and when given:
            ``yaw_gt``/``pitch_gt``/``roll_gt``, ``bucket``, ``yaw_pred``..., ``yaw_err``/``pitch_err``/
            ``roll_err``/``pose_err`` (mean of the three)/``geodesic_err`` (degrees), ``subset``,
            ``attr_<name>`` flags.
        summary: see the module docstring (JSON-ready: floats, ints, str, None, nested dicts).
        landmark_nme: (K,) per-landmark NME, percent.
        mean_shape: (K, 2) mean ground-truth shape after removing each face's translation and scale
            (centred on the box centre, scaled by the normaliser), x, y in normalised units (y down);
            for drawing per-landmark errors on a face.
        schema: the landmark schema.
        normaliser: the normaliser name.
        failure_threshold: NME percent above which an image counts as a failure.
    """

    per_image: pd.DataFrame
    summary: dict
    landmark_nme: np.ndarray
    mean_shape: np.ndarray
    schema: LandmarkSchema
    normaliser: str
    failure_threshold: float = 10.0
    by_subset: pd.DataFrame | None = field(default=None, repr=False)
    by_attribute: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def has_pose(self) -> bool:
        """True when predicted and ground-truth pose were both given."""
        return "yaw_err" in self.per_image.columns

    @property
    def has_gt_pose(self) -> bool:
        return "yaw_gt" in self.per_image.columns

    def ced(self, thresholds=None, *, max_threshold: float | None = None, num: int = 1001, column: str = "nme"):
        """(thresholds (T,), percent of images with ``column`` <= threshold (T,)); see ``metrics.ced``.

        Over the measured images (``nme`` finite: an image with no counted point has nothing to measure);
        a non-finite value of a measured image never reaches a threshold."""
        measured = np.isfinite(self.per_image["nme"].to_numpy())
        return metrics.ced(self.per_image[column].to_numpy()[measured], thresholds, max_threshold=max_threshold,
                           num=num)

    def failure_curve(self, thresholds=None, *, max_threshold: float | None = None, num: int = 1001):
        """(thresholds (T,), failure rate percent (T,)): 100 - CED, non-increasing."""
        t, c = self.ced(thresholds, max_threshold=max_threshold, num=num)
        return t, 100.0 - c

    def pose_ced(self, angle: str, thresholds=None, *, max_threshold: float | None = None, num: int = 1001):
        """CED of one angle's absolute error (``angle`` in yaw / pitch / roll / pose / geodesic), degrees."""
        valid = [*posemod.ANGLES, "pose", "geodesic"]
        if angle not in valid:
            raise ValueError(f"unknown angle {angle!r}; choose one of {valid}")
        if not self.has_pose:
            raise ValueError("this report has no pose errors (evaluate without pred_pose / gt_pose)")
        return metrics.ced(self.per_image[f"{angle}_err"].to_numpy(), thresholds, max_threshold=max_threshold, num=num)

    def region_nme(self) -> pd.DataFrame:
        """Per-landmark NME with its region: columns index, name, region, nme (percent), ordered by index."""
        idx = np.arange(self.schema.num_points)
        return pd.DataFrame({
            "index": idx,
            "name": list(self.schema.names),
            "region": [self.schema.group_of(int(i)) for i in idx],
            "nme": self.landmark_nme,
        })

    def by_yaw(self) -> pd.DataFrame:
        """n, nme, fr, auc per |yaw| bucket (``pose.breakdown_by_yaw``); ValueError without GT pose."""
        if not self.has_gt_pose:
            raise ValueError("this report has no ground-truth pose, so no |yaw| buckets")
        return posemod.breakdown_by_yaw(self.per_image, threshold=self.failure_threshold)

    def worst(self, n: int = 20) -> pd.DataFrame:
        """The ``n`` images with the highest NME: columns rank (1 = worst), image, nme (+ bucket, subset)."""
        if int(n) < 0:
            raise ValueError(f"n must be >= 0, found {n}")
        cols = [c for c in ("image", "nme", "bucket", "subset") if c in self.per_image.columns]
        df = self.per_image[cols].sort_values("nme", ascending=False, kind="stable", na_position="last")
        df = df.head(int(n)).reset_index(drop=True)
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        return df


def _fmt(t: float) -> str:
    return f"{t:g}"


def _mean(a: np.ndarray) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else None


def _mean_shape(gt: np.ndarray, schema: LandmarkSchema, norm: np.ndarray, mask) -> np.ndarray:
    """(K, 2) mean of the GT shapes, each centred on its landmark-box centre and divided by its normaliser."""
    ok = np.isfinite(norm) & (norm > 0)
    g = gt[ok]
    if g.shape[0] == 0:
        return np.full((gt.shape[1], 2), np.nan)
    m = np.ones(g.shape[:2], dtype=bool) if mask is None else mask[ok]
    lo = np.stack([np.where(m, g[..., c], np.inf).min(axis=1) for c in (0, 1)], axis=1)
    hi = np.stack([np.where(m, g[..., c], -np.inf).max(axis=1) for c in (0, 1)], axis=1)
    centre = (lo + hi) / 2.0
    u = (g - centre[:, None]) / norm[ok][:, None, None]
    cnt = m.sum(axis=0)
    tot = np.where(m[..., None], u, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt[:, None] > 0, tot / np.maximum(cnt, 1)[:, None], np.nan)


def _pose_columns(table: dict, pose, name: str, suffix: str, n: int) -> np.ndarray | None:
    """Validate ``pose`` ((n, 3) yaw, pitch, roll in degrees, or None) and add its ``<angle>_<suffix>`` columns
    to ``table``; returns the (n, 3) float array, or None when ``pose`` is None."""
    if pose is None:
        return None
    arr = posemod._pose_batch(pose, name)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one row per image ({n}), found {arr.shape[0]}")
    for i, a in enumerate(posemod.ANGLES):
        table[f"{a}_{suffix}"] = arr[:, i]
    return arr


def evaluate(pred, gt, *, schema: LandmarkSchema | str, normaliser: str, pred_pose=None, gt_pose=None,
             names: Sequence[str] | None = None, visibility=None, subsets: Sequence[str | None] | None = None,
             attributes=None, failure_threshold: float = 10.0) -> Report:
    """Evaluate predicted landmarks (and pose) against the ground truth.

    Args:
        pred, gt: (N, K, 2) x, y pixels.
        schema: landmark schema or its registered name; K must match.
        normaliser: one of ``metrics.NORMALISERS`` (see ``default_normaliser``).
        pred_pose, gt_pose: optional (N, 3) yaw, pitch, roll degrees. ``gt_pose`` alone gives the |yaw|
            buckets; both give pose errors and ``summary["pose_mae"]``.
        names: (N,) image names for the table (default ``"0"``, ``"1"`` ...).
        visibility: optional (N, K) ints; points with 0 are left out of every mean.
        subsets: optional (N,) subset labels (e.g. 300-W common / challenging), None for unknown.
        attributes: optional per-image 0/1 flags (see ``pose.attributes_table``), e.g. WFLW attributes.
        failure_threshold: NME percent above which an image fails (also ``fr_<t>``/``auc_<t>`` when not 10).

    Returns:
        :class:`Report`.
    """
    s = get_schema(schema) if isinstance(schema, str) else schema
    metrics.check_normaliser(normaliser)
    ft = metrics._check_threshold(failure_threshold)
    p, g = metrics._pair(pred, gt)
    n, k = g.shape[:2]
    if n == 0:
        raise ValueError("no faces to evaluate (pred and gt are empty)")
    if k != s.num_points:
        raise ValueError(f"shapes have {k} points but schema {s.name!r} has {s.num_points}")
    mask = metrics._mask(visibility, (n, k))
    if names is None:
        names = [str(i) for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise ValueError(f"names must have one entry per image ({n}), found {len(names)}")

    err_px = metrics.point_errors(p, g)  # (N, K) pixels, computed once for every statistic below
    bad = ~np.isfinite(err_px) if mask is None else (~np.isfinite(err_px) & mask)
    if bad.any():
        rows = np.where(bad.any(axis=1))[0]
        raise ValueError(f"non-finite predicted or ground-truth points (counted by visibility) in {rows.size} "
                         f"image(s), e.g. {[names[i] for i in rows[:5]]}")
    norm = metrics.normaliser(g, s, normaliser, visibility)
    metrics._check_norm(norm, normaliser)
    rel = 100.0 * err_px / norm[:, None]
    per_nme = metrics.masked_mean(rel, mask, axis=1)
    landmark_nme = metrics.masked_mean(rel, mask, axis=0)
    err_mean = metrics.masked_mean(err_px, mask, axis=1)

    table: dict[str, object] = {"image": names, "nme": per_nme}
    nme_io = None
    if s.interocular is not None:
        if normaliser == "interocular":
            nme_io = per_nme
        else:
            d_io = metrics.normaliser(g, s, "interocular", visibility)
            metrics._check_norm(d_io, "interocular")
            nme_io = metrics.masked_mean(100.0 * err_px / d_io[:, None], mask, axis=1)
        table["nme_interocular"] = nme_io
    table["norm_px"] = norm
    table["error_px"] = err_mean
    table["failed"] = per_nme > ft

    gp = _pose_columns(table, gt_pose, "gt_pose", "gt", n)
    if gp is not None:
        table["bucket"] = posemod.yaw_bucket(gp[:, 0])
    pp = _pose_columns(table, pred_pose, "pred_pose", "pred", n)
    if gp is not None and pp is not None:
        ae = posemod.angle_errors(pp, gp)
        for i, a in enumerate(posemod.ANGLES):
            table[f"{a}_err"] = ae[:, i]
        table["pose_err"] = ae.mean(axis=1)
        table["geodesic_err"] = posemod.geodesic_error(pp, gp)
    if subsets is not None:
        subsets = list(subsets)
        if len(subsets) != n:
            raise ValueError(f"subsets must have one entry per image ({n}), found {len(subsets)}")
        table["subset"] = subsets
    per_image = pd.DataFrame(table)
    if attributes is not None:
        per_image = pd.concat([per_image, posemod.attributes_table(attributes, n)], axis=1)

    measured = per_nme[np.isfinite(per_nme)]  # NaN only for an image with no counted point: nothing to measure
    summary: dict = {
        "n": int(n),
        "normaliser": normaliser,
        "nme": _mean(per_nme),
        "nme_interocular": _mean(nme_io) if nme_io is not None else None,
        "nme_buckets": None,
        "nme_balanced": None,
        "fr_10": _nan_none(metrics.failure_rate(measured, 10.0)),
        "auc_10": _nan_none(metrics.auc(measured, 10.0)),
    }
    if gp is not None:
        summary["nme_buckets"], summary["nme_balanced"] = posemod.bucket_means(per_nme, gp[:, 0])
    if ft != 10.0:
        summary[f"fr_{_fmt(ft)}"] = _nan_none(metrics.failure_rate(measured, ft))
        summary[f"auc_{_fmt(ft)}"] = _nan_none(metrics.auc(measured, ft))
    if gp is not None and pp is not None:
        summary["pose_mae"] = posemod.pose_mae(pp, gp)

    rep = Report(
        per_image=per_image, summary=summary,
        landmark_nme=landmark_nme,
        mean_shape=_mean_shape(g, s, norm, mask), schema=s, normaliser=normaliser, failure_threshold=ft,
    )
    if subsets is not None:
        rep.by_subset = posemod.breakdown_by_subset(per_image, threshold=ft)
    if attributes is not None:
        rep.by_attribute = posemod.breakdown_by_attribute(per_image, threshold=ft)
    return rep


def _nan_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)
