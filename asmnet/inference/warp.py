"""The one crop function: image pixels -> a network (or cache) crop, anti-aliased (numpy + OpenCV, no torch).

Training's decoded cache, its augmentation and every inference path make crops with ``crop_face``, so a
face is resampled the same way wherever it is seen.

``cv2.warpAffine`` interpolates from at most 2 x 2 source pixels (its ``INTER_AREA`` flag silently means
bilinear), so shrinking a large face by warping alone aliases. ``crop_face`` therefore first shrinks only the
region the crop covers with a true area average (``cv2.resize(..., INTER_AREA)``), then warps the small remainder
(rotation, sub-pixel shift, scale near 1) bilinearly: by the *whole* factor ``k = floor(1 / scale)`` when the crop
shrinks the face 2x or more (the mean of each k x k block; the warp then shrinks by less than 2), by the exact
factor between 1x and 2x. Enlarging crops are one bilinear warp. Outside the image the crop is black (0).

Until 2026-12-02 the area step always shrank by the exact factor; OpenCV computes a non-integer factor ~20x slower
than an integer one (0.7 of the 1.1 ms a face of AFLW2000-3D took). Measured on the shipped model's recorded validation faces
(``bench/RESULTS.md``): balanced NME 3.547 -> 3.566 (float; the int8 runtime, re-calibrated on the new crops,
3.565); crop 1.10 -> 0.30 ms.
"""
from __future__ import annotations

import cv2
import numpy as np

from asmnet.inference.crop import apply_affine, invert_affine

#: below this linear scale (crop px per image px) the region is area-averaged before the warp
AREA_BELOW = 1.0


def _compose(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(2, 3) affine ``m`` after ``n``: x -> m(n(x))."""
    return np.hstack([m[:, :2] @ n[:, :2], (m[:, :2] @ n[:, 2] + m[:, 2])[:, None]])


def crop_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(size, size, C) uint8 crop of ``image`` (H, W, C) uint8 through the (2, 3) image -> crop ``matrix``
    (``asmnet.inference.crop.box_to_crop_matrix``); anti-aliased when the crop shrinks the image (see module doc)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"crop matrix must be a finite (2, 3) affine, found {m.tolist()}")
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale >= AREA_BELOW or scale <= 0:
        return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    h, w = image.shape[:2]
    # the image region the crop covers (its corners mapped back), padded by the area kernel's reach
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    src = apply_affine(invert_affine(m), corners)
    pad = 2.0 / scale
    x0 = int(max(np.floor(src[:, 0].min() - pad), 0))
    y0 = int(max(np.floor(src[:, 1].min() - pad), 0))
    x1 = int(min(np.ceil(src[:, 0].max() + pad), w))
    y1 = int(min(np.ceil(src[:, 1].max() + pad), h))
    if x1 <= x0 or y1 <= y0:  # the crop lies entirely outside the image
        return np.zeros((size, size) + image.shape[2:], np.uint8)
    k = int(1.0 / scale)
    if k >= 2:  # an integer area factor (fast), the remainder (a scale in (0.5, 1]) left to the warp
        sw, sh = (x1 - x0) // k, (y1 - y0) // k
        x1, y1 = x0 + sw * k, y0 + sh * k
    else:  # 0.5 <= scale < 1: the exact factor (a small region: the crop side / scale < 2 crop sides)
        sw, sh = int(round((x1 - x0) * scale)), int(round((y1 - y0) * scale))
    if sw < 1 or sh < 1:  # a sliver of the image: nothing to average
        return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    small = cv2.resize(image[y0:y1, x0:x1], (sw, sh), interpolation=cv2.INTER_AREA)
    if small.ndim == 2 and image.ndim == 3:
        small = small[:, :, None]
    fx, fy = sw / (x1 - x0), sh / (y1 - y0)
    # small pixel s <- image pixel x: s = (x - x0 + 0.5) * f - 0.5 (pixel centres); its inverse composed with m
    to_image = np.array([[1.0 / fx, 0.0, x0 + 0.5 / fx - 0.5], [0.0, 1.0 / fy, y0 + 0.5 / fy - 0.5]])
    out = cv2.warpAffine(small, _compose(m, to_image), (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
    return out.reshape((size, size) + image.shape[2:])
