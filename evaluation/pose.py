"""Head-pose errors and the breakdowns of a per-image table (by |yaw|, 300-W subset, WFLW attribute).

Pose is (N, 3) yaw, pitch, roll in **degrees** (the project's convention). AFLW2000-3D stores
``Pose_Para[:3]`` as pitch, yaw, roll in radians; ``asmnet_studio.datasets.formats.aflw2000`` already converts it.

Angle error with wrap-around: ``|((pred - gt + 180) mod 360) - 180|``, in [0, 180]; e.g. 179 vs -179 is 2.

Rotation matrices (for :func:`geodesic_error`) follow the face3d / 3DDFA ``angle2matrix`` convention used
with AFLW2000-3D's ``Pose_Para`` (pitch, yaw, roll)::

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch)

with right-handed rotations about the camera x axis (pitch), y axis (yaw) and z axis (roll); i.e. the
extrinsic x-y-z (= intrinsic z-y'-x'') sequence applied to a column vector, pitch first.

|yaw| buckets (the AFLW2000-3D protocol): ``"0-30"`` for |yaw| in [0, 30], ``"30-60"`` for (30, 60] and
``"60-90"`` for (60, 90]; |yaw| beyond 90 also goes in ``"60-90"`` (the last bucket is open-ended), so no
image is dropped. The balanced mean is the mean of the bucket means over the non-empty buckets.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from asmnet_studio.evaluation import metrics

ANGLES: tuple[str, ...] = ("yaw", "pitch", "roll")
#: bucket labels, in order, and their upper |yaw| limits (the last bucket is open-ended)
YAW_BUCKETS: tuple[str, ...] = ("0-30", "30-60", "60-90")
YAW_EDGES: tuple[float, ...] = (30.0, 60.0)


def _pose_batch(a, what: str) -> np.ndarray:
    p = np.asarray(a, dtype=np.float64)
    if p.ndim == 1:
        p = p[None]
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{what} must be (N, 3) yaw, pitch, roll in degrees, found shape {np.shape(a)}")
    return p


def _pose_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p, g = _pose_batch(pred, "pred_pose"), _pose_batch(gt, "gt_pose")
    if p.shape != g.shape:
        raise ValueError(f"pred_pose and gt_pose must have the same shape, found {p.shape} and {g.shape}")
    return p, g


def wrap_degrees(a) -> np.ndarray:
    """Angles mapped to [-180, 180) degrees (any shape)."""
    return (np.asarray(a, dtype=np.float64) + 180.0) % 360.0 - 180.0


def angle_errors(pred, gt) -> np.ndarray:
    """Absolute per-angle error with wrap-around.

    Args:
        pred, gt: (N, 3) (or (3,)) yaw, pitch, roll in degrees.

    Returns:
        (N, 3) float64 errors in degrees, each in [0, 180] (179 vs -179 gives 2).
    """
    p, g = _pose_pair(pred, gt)
    return np.abs(wrap_degrees(p - g))


def pose_mae(pred, gt) -> dict[str, float]:
    """Mean absolute error of each angle, and their mean.

    Args:
        pred, gt: (N, 3) yaw, pitch, roll in degrees.

    Returns:
        ``{"yaw", "pitch", "roll", "mean"}`` in degrees (``mean`` = mean of the three MAEs).
    """
    e = angle_errors(pred, gt)
    mae = e.mean(axis=0)
    return {"yaw": float(mae[0]), "pitch": float(mae[1]), "roll": float(mae[2]), "mean": float(mae.mean())}


def rotation_matrix(pose) -> np.ndarray:
    """Rotation matrices ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` of (N, 3) yaw, pitch, roll degrees -> (N, 3, 3)."""
    p = np.radians(_pose_batch(pose, "pose"))
    yaw, pitch, roll = p[:, 0], p[:, 1], p[:, 2]
    n = p.shape[0]
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    one, zero = np.ones(n), np.zeros(n)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], axis=1).reshape(n, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], axis=1).reshape(n, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], axis=1).reshape(n, 3, 3)
    return rz @ ry @ rx


def geodesic_error(pred, gt) -> np.ndarray:
    """Angle of the rotation taking the predicted head rotation to the true one.

    ``theta = arccos((trace(R_pred^T R_gt) - 1) / 2)`` with R as in :func:`rotation_matrix`.

    Args:
        pred, gt: (N, 3) (or (3,)) yaw, pitch, roll in degrees.

    Returns:
        (N,) float64 degrees in [0, 180].
    """
    p, g = _pose_pair(pred, gt)
    rp, rg = rotation_matrix(p), rotation_matrix(g)
    tr = np.einsum("nji,nji->n", rp, rg)  # trace(rp^T rg)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def yaw_bucket_index(yaw) -> np.ndarray:
    """(N,) int |yaw| bucket index (into ``YAW_BUCKETS``) for (N,) (or scalar) yaw in degrees; -1 for NaN / inf.

    The angle is wrapped to [-180, 180) first (350 is -10, so bucket 0); then [0, 30] -> 0, (30, 60] -> 1,
    above 60 (including beyond 90) -> 2. The one bucket rule of the project (stratified splits, balanced
    metrics, reports).
    """
    a = np.abs(wrap_degrees(np.atleast_1d(np.asarray(yaw, dtype=np.float64))))
    idx = np.minimum(np.searchsorted(np.asarray(YAW_EDGES), a, side="left"), len(YAW_BUCKETS) - 1)  # 30 -> 0
    return np.where(np.isfinite(a), idx, -1).astype(np.int64)


def yaw_bucket(yaw) -> np.ndarray:
    """(N,) |yaw| bucket labels (object array of ``YAW_BUCKETS`` strings) for (N,) yaw in degrees.

    [0, 30] -> "0-30", (30, 60] -> "30-60", above 60 (including beyond 90) -> "60-90", after wrapping the
    angle (``yaw_bucket_index``). NaN yaw -> None.
    """
    idx = yaw_bucket_index(yaw)
    labels = np.asarray(YAW_BUCKETS, dtype=object)[np.maximum(idx, 0)]
    labels[idx < 0] = None
    return labels


def bucket_means(values, yaw) -> tuple[dict[str, float | None], float | None]:
    """Mean of ``values`` per |yaw| bucket, and the balanced mean of the bucket means.

    Args:
        values: (N,) per-image values (e.g. NME percent); NaN values are left out.
        yaw: (N,) ground-truth yaw in degrees.

    Returns:
        (``{"0-30": m0, "30-60": m1, "60-90": m2}`` with None for an empty bucket,
        mean of the non-empty bucket means or None when all are empty).
    """
    v = np.asarray(values, dtype=np.float64)
    b = yaw_bucket(yaw)
    if v.shape != b.shape:
        raise ValueError(f"values and yaw must have the same length, found {v.shape} and {b.shape}")
    out: dict[str, float | None] = {}
    for name in YAW_BUCKETS:
        sel = (b == name) & np.isfinite(v)
        out[name] = float(v[sel].mean()) if sel.any() else None
    present = [m for m in out.values() if m is not None]
    return out, (float(np.mean(present)) if present else None)


def _group_stats(values: pd.Series, threshold: float) -> dict[str, float]:
    v = values.to_numpy(dtype=np.float64)
    fin = v[np.isfinite(v)]
    return {
        "n": int(fin.size),
        "nme": float(fin.mean()) if fin.size else float("nan"),
        "fr": metrics.failure_rate(fin, threshold),
        "auc": metrics.auc(fin, threshold),
    }


def breakdown(table: pd.DataFrame, by: str, *, value: str = "nme", threshold: float = 10.0,
              order: Iterable[str] | None = None) -> pd.DataFrame:
    """Group a per-image table by column ``by``: n, mean ``value``, failure rate and AUC at ``threshold``.

    Args:
        table: a per-image table (e.g. ``Report.per_image``) with columns ``by`` and ``value``.
        by: the grouping column, e.g. ``"bucket"`` or ``"subset"``.
        value: the per-image error column (percent), default ``"nme"``.
        threshold: failure / AUC threshold in the same unit.
        order: the group labels to list first, in this order (e.g. ``YAW_BUCKETS``); empty ones are kept
            with n = 0.

    Returns:
        DataFrame indexed by group label with columns n, nme, fr, auc (percent); rows with a missing
        group label are left out.
    """
    for col in (by, value):
        if col not in table.columns:
            raise ValueError(f"column {col!r} is not in the table; columns are {list(table.columns)}")
    rows = {str(k): _group_stats(g[value], threshold) for k, g in table.dropna(subset=[by]).groupby(by, sort=True)}
    labels = list(order or [])
    labels += [k for k in rows if k not in labels]
    empty = {"n": 0, "nme": float("nan"), "fr": float("nan"), "auc": float("nan")}
    out = pd.DataFrame([rows.get(k, empty) for k in labels], index=pd.Index(labels, name=by),
                       columns=["n", "nme", "fr", "auc"])
    return out


def breakdown_by_yaw(table: pd.DataFrame, *, value: str = "nme", threshold: float = 10.0) -> pd.DataFrame:
    """:func:`breakdown` by the ``bucket`` column (|yaw| buckets in protocol order, empty ones kept)."""
    return breakdown(table, "bucket", value=value, threshold=threshold, order=YAW_BUCKETS)


def breakdown_by_subset(table: pd.DataFrame, *, value: str = "nme", threshold: float = 10.0) -> pd.DataFrame:
    """:func:`breakdown` by the ``subset`` column (e.g. 300-W common / challenging / private)."""
    return breakdown(table, "subset", value=value, threshold=threshold)


def breakdown_by_attribute(table: pd.DataFrame, attributes: Iterable[str] | None = None, *,
                           value: str = "nme", threshold: float = 10.0) -> pd.DataFrame:
    """Statistics over the images that carry each 0/1 attribute flag (e.g. WFLW pose, blur ...).

    Args:
        table: per-image table with one column ``attr_<name>`` per attribute (as ``evaluate`` writes it).
        attributes: the attribute names (without ``attr_``); default all ``attr_*`` columns.

    Returns:
        DataFrame indexed by attribute name with columns n, nme, fr, auc over the images whose flag is
        non-zero; an extra row ``"all"`` covers every image.
    """
    names = list(attributes) if attributes is not None else [c[5:] for c in table.columns if c.startswith("attr_")]
    rows = {}
    for name in names:
        col = f"attr_{name}"
        if col not in table.columns:
            raise ValueError(f"attribute {name!r} is not in the table; attributes are "
                             f"{[c[5:] for c in table.columns if c.startswith('attr_')]}")
        flag = pd.to_numeric(table[col], errors="coerce").fillna(0).to_numpy() != 0
        rows[name] = _group_stats(table.loc[flag, value], threshold)
    rows["all"] = _group_stats(table[value], threshold)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["n", "nme", "fr", "auc"]).rename_axis("attribute")


def attributes_table(attributes, n: int) -> pd.DataFrame:
    """Normalise per-image attribute flags to a DataFrame with ``attr_<name>`` int columns (N rows).

    Args:
        attributes: a mapping name -> (N,) flags, a DataFrame with N rows, or a sequence of N dicts
            (e.g. ``[s.attributes for s in dataset.samples]``); missing flags become 0.
    """
    if isinstance(attributes, pd.DataFrame):
        df = attributes.reset_index(drop=True)
    elif isinstance(attributes, Mapping):
        df = pd.DataFrame({k: np.asarray(v) for k, v in attributes.items()})
    else:
        df = pd.DataFrame(list(attributes))
    if len(df) != n:
        raise ValueError(f"attributes must describe the {n} images, found {len(df)} rows")
    df = df.fillna(0)
    return pd.DataFrame({f"attr_{c}": pd.to_numeric(df[c], errors="coerce").fillna(0).astype(int) for c in df.columns})
