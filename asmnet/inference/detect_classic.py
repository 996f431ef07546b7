"""The classic face detectors, where the installed libraries have them: OpenCV's bundled Haar cascades
(frontal, plus the profile cascade on the image and on its mirror) and dlib's HOG + linear SVM frontal
detector. ``asmnet.inference.detect`` is the façade that chooses a backend.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from asmnet.inference.detect_mtcnn import nms

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"


@lru_cache(maxsize=None)
def cascade(name: str):
    """The bundled OpenCV cascade ``name``, or None where this OpenCV has no cascades."""
    if not hasattr(cv2, "CascadeClassifier"):
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not (Path(folder) / name).is_file():
        return None
    cc = cv2.CascadeClassifier(str(Path(folder) / name))
    return None if cc.empty() else cc


@lru_cache(maxsize=None)
def dlib_detector():
    """dlib's HOG frontal face detector, or None where dlib is not installed."""
    try:
        import dlib
    except ImportError:
        return None
    return dlib.get_frontal_face_detector()


def _merge(boxes: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """Largest-first suppression of overlapping Haar / dlib hits (overlap over the smaller box)."""
    if len(boxes) == 0:
        return boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = nms(boxes, area, iou, "min")
    return boxes[keep]


def haar_boxes(gray: np.ndarray, min_size: int, profile: bool) -> np.ndarray:
    """(F, 4) float32 x0, y0, x1, y1 boxes of the frontal cascade (and, with ``profile``, the profile cascade
    on the (H, W) uint8 grey image and on its mirror) for faces of ``min_size`` pixels or more, merged."""
    gray = cv2.equalizeHist(gray)
    w = gray.shape[1]
    found: list[np.ndarray] = []
    hits = cascade(FRONTAL).detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    found += [np.array([x, y, x + s, y + t], np.float32) for x, y, s, t in np.reshape(hits, (-1, 4))]
    if profile:
        pc = cascade(PROFILE)
        for mirrored in (False, True):
            g = gray[:, ::-1].copy() if mirrored else gray
            hits = pc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
            for x, y, s, t in np.reshape(hits, (-1, 4)):
                x0 = w - (x + s) if mirrored else x
                found.append(np.array([x0, y, x0 + s, y + t], np.float32))
    return _merge(np.stack(found)) if found else np.zeros((0, 4), np.float32)


def dlib_boxes(gray: np.ndarray, min_size: int) -> np.ndarray:
    """(F, 4) float32 x0, y0, x1, y1 boxes of dlib's HOG detector on the (H, W) uint8 grey image (upsampled
    once below 800 px) for faces of ``min_size`` pixels or more, merged."""
    upsample = 1 if max(gray.shape) < 800 else 0
    found = [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32)
             for r in dlib_detector()(np.ascontiguousarray(gray), upsample)
             if min(r.width(), r.height()) >= min_size]
    return _merge(np.stack(found)) if found else np.zeros((0, 4), np.float32)
