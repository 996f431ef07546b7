"""How sure is the model about a face? Per-point confidence and per-face uncertainty (numpy only).

Both come from two cheap signals the predictor already has:

* **flip disagreement** ``d`` (K,): distance between the plain pass's point and the mirrored pass's point
  (mapped back), divided by the face size ``sqrt(w * h)`` of the predicted landmark box. A network that
  is unsure of a point places it differently in the mirror image.
* **implausibility** ``D``: the shape model's Mahalanobis distance of the predicted shape
  (``ShapeModel.mahalanobis``); a typical face scores about ``D0 = sqrt(2K - 4)``.

    confidence_i = exp(-d_i / CONFIDENCE_SCALE)                           in [0, 1]
    uncertainty  = max(mean(d), MIN_DISAGREEMENT) * (D / D0) ** IMPLAUSIBILITY_POWER     (>= 0)

The product (a sum in log space) lets either signal move a face up the queue: a face both passes agree
on but whose shape is far from any face the model knows (a collapsed jaw, a face squashed by a bad box)
is doubtful too, and it is scale-free (no constant converts Mahalanobis units into face-size units).
``IMPLAUSIBILITY_POWER`` was chosen on the *validation* faces of the AFLW2000-3D training split (never
the test split); ``bench/loop_experiment.py`` reports the Spearman correlation of this score with the
per-face NME on the held-out test split. Without a shape model the uncertainty is the mean disagreement.
"""
from __future__ import annotations

import math

import numpy as np

#: flip disagreement (fraction of the face size) at which a point's confidence is exp(-1) ~ 0.37
CONFIDENCE_SCALE = 0.05
#: exponent of the normalised Mahalanobis distance in the face uncertainty
IMPLAUSIBILITY_POWER = 2.0
#: floor of the mean disagreement, so that implausibility still ranks faces both passes agree on
MIN_DISAGREEMENT = 0.002
FORMULA = "max(mean flip disagreement / face size, 0.002) * (Mahalanobis / sqrt(2K - 4)) ** 2"


def flip_disagreement(plain: np.ndarray, mirrored: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(..., K) distance between the two passes' points (..., K, 2) as a fraction of the face ``size`` (...,)
    (the predictor uses sqrt(w * h) of the landmark box of the returned points)."""
    d = np.linalg.norm(np.asarray(plain, np.float64) - np.asarray(mirrored, np.float64), axis=-1)
    return d / np.asarray(size, np.float64)[..., None]


def point_confidence(disagreement: np.ndarray) -> np.ndarray:
    """(..., K) float32 confidence in [0, 1] from the (..., K) flip disagreement."""
    return np.exp(-np.asarray(disagreement, np.float64) / CONFIDENCE_SCALE).astype(np.float32)


def typical_mahalanobis(num_points: int) -> float:
    """The Mahalanobis distance of a typical face, sqrt(2K - 4) (2K coordinates less the 4 of a similarity)."""
    return math.sqrt(max(2 * num_points - 4, 1))


def face_uncertainty(disagreement: np.ndarray, mahalanobis, num_points: int | None = None):
    """The per-face uncertainty (see the module docstring) of (..., K) disagreements with (...,) Mahalanobis
    distances (None, or a non-finite entry, leaves that factor out: the mean disagreement alone). A float for
    one face ((K,) input), else a (...,) float64 array; the predictor calls it on a whole batch."""
    d = np.asarray(disagreement, np.float64)
    mean = d.mean(axis=-1) if d.shape[-1] else np.zeros(d.shape[:-1])
    if mahalanobis is None:
        u = mean
    else:
        m = np.asarray(mahalanobis, np.float64)
        k = int(num_points if num_points is not None else d.shape[-1])
        scaled = np.maximum(mean, MIN_DISAGREEMENT) * (m / typical_mahalanobis(k)) ** IMPLAUSIBILITY_POWER
        u = np.where(np.isfinite(m), scaled, mean)
    return float(u) if np.ndim(u) == 0 else u
