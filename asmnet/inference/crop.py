"""Crop geometry shared by training and prediction (numpy only; no torch, no OpenCV).

A face crop is a square box in image pixels mapped onto an S x S network input. Training and the
predictor build the box and the affine map with these same functions, so a point means the same thing
in both.

Conventions: points (K, 2) x, y 0-based pixel centres; a box (4,) x0, y0, x1, y1 in the same continuous
coordinates (so the S-pixel crop of the box (-0.5, -0.5, S - 0.5, S - 0.5) is the identity map); normalised crop
coordinates u = 2 * (x_crop + 0.5) / S - 1 in [-1, 1] (the network's output frame).
"""
from __future__ import annotations

import numpy as np

#: side of the square crop as a multiple of the larger side of the landmark box (training and --boxes gt)
CROP_MARGIN = 1.3


def landmark_box(points: np.ndarray) -> np.ndarray:
    """(4,) float32 tight box x0, y0, x1, y1 around (K, 2) points (non-finite points ignored)."""
    p = np.asarray(points, dtype=np.float64)
    if not np.isfinite(p).all(axis=-1).any():
        raise ValueError("landmark_box: no finite point")
    return landmark_boxes(p[None])[0].astype(np.float32)


def landmark_boxes(points: np.ndarray) -> np.ndarray:
    """(B, 4) float64 tight boxes around (B, K, 2) point sets (non-finite points ignored; a set without a
    finite point gets an empty box (inf, inf, -inf, -inf))."""
    p = np.asarray(points, dtype=np.float64)
    ok = np.isfinite(p).all(axis=-1, keepdims=True)
    lo = np.where(ok, p, np.inf).min(axis=-2)
    hi = np.where(ok, p, -np.inf).max(axis=-2)
    return np.concatenate([lo, hi], axis=-1)


def square_box(box: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """(4,) square box with the same centre as ``box`` and side ``margin * max(w, h)``."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise ValueError(f"box must be 4 finite numbers x0, y0, x1, y1, found {b}")
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    side = margin * max(b[2] - b[0], b[3] - b[1], 1.0)
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


def whole_image_box(height: int, width: int, margin: float = CROP_MARGIN) -> np.ndarray:
    """The face box (4,) float32 assumed when no face is found: the centred square of side
    ``min(width, height) / margin``, so that its crop (``margin`` x the box) is the largest centred square
    of the image. The one fallback rule of the predictor and the CLI."""
    side = min(width, height) / margin
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def crop_box_from_points(points: np.ndarray, margin: float = CROP_MARGIN) -> np.ndarray:
    """The square crop box (4,) the model expects for a face with landmarks (K, 2): centred on the
    landmark box, side ``margin`` times its larger side. Used identically by training and ``--boxes gt``."""
    return square_box(landmark_box(points), margin)


def box_to_crop_matrix(box: np.ndarray, size: int, angle_deg: float = 0.0) -> np.ndarray:
    """(2, 3) affine matrix mapping image pixel coordinates into an ``size`` x ``size`` crop of ``box``.

    The box (square or not; a non-square box is stretched) is rotated by ``angle_deg`` about its centre
    first: positive angles turn the face clockwise on screen (x right, y down), which *adds*
    ``angle_deg`` to a head's roll in the AFLW2000-3D convention. The matrix suits ``cv2.warpAffine``.
    """
    b = np.asarray(box, dtype=np.float64)
    w, h = b[2] - b[0], b[3] - b[1]
    if w <= 0 or h <= 0:
        raise ValueError(f"box must have positive width and height, found {b}")
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    rot = np.array([[c, -s], [s, c]])
    scale = np.diag([size / w, size / h])
    lin = scale @ rot
    # box edges are continuous coordinates (pixel centres at integers): x0 -> -0.5, x1 -> size - 0.5
    t = np.array([(size - 1) / 2, (size - 1) / 2]) - lin @ np.array([cx, cy])
    return np.hstack([lin, t[:, None]]).astype(np.float64)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., K, 2) points with a (2, 3) affine matrix, or a (B, 2, 3) stack of them with (B, K, 2) points."""
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 3:
        return np.einsum("bkj,bij->bki", p, m[:, :, :2]) + m[:, None, :, 2]
    return p @ m[:, :2].T + m[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine matrix (or of each in a (B, 2, 3) stack)."""
    m = np.asarray(matrix, dtype=np.float64)
    lin = np.linalg.inv(m[..., :2])
    return np.concatenate([lin, -(lin @ m[..., 2:])], axis=-1)


def to_normalised(points_crop: np.ndarray, size: int) -> np.ndarray:
    """Crop pixels (x, y in [-0.5, size - 0.5]) -> normalised crop coordinates in [-1, 1]."""
    return 2.0 * (np.asarray(points_crop, dtype=np.float64) + 0.5) / size - 1.0


def from_normalised(u: np.ndarray, size: int) -> np.ndarray:
    """Normalised crop coordinates in [-1, 1] -> crop pixels."""
    return (np.asarray(u, dtype=np.float64) + 1.0) * size / 2.0 - 0.5
