"""Face detection with a detector bundled in an installed package (no torch, nothing downloaded).

Backends, the first available one is used (``detector_name()`` says which):

* ``opencv-haar``: OpenCV's bundled Haar cascades (frontal, plus the profile cascade on the image and
  on its mirror; the cascade knows only one side). Present in opencv-python(-headless) 4.x only:
  OpenCV 5 dropped ``cv2.CascadeClassifier`` and the ``cv2.data.haarcascades`` files.
* ``dlib-hog``: dlib's bundled HOG + linear SVM frontal detector (``dlib.get_frontal_face_detector``),
  when the ``dlib``/``dlib-bin`` package is installed.
* none: ``detect_faces`` returns no box, and the predictor falls back to the whole image.

``detect_faces`` merges overlapping hits and returns raw detector boxes, largest first.
A detector box covers brows to chin and is not the landmark box the network was trained around;
``face_box_from_detection`` maps it to an estimate of the tight 68-point landmark box (constants
measured on the AFLW2000-3D *train* split, see ``DETECTION_TO_FACE``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"

#: per backend, the landmark box from a detector box (side d, centre c): centre c + (dx, dy) * d,
#: width ``w * d``, height ``h * d``. dlib-hog: medians over 218 AFLW2000-3D *train* faces (every 4th)
#: whose detection overlaps the landmark box with IoU > 0.3. opencv-haar (frontal + both profiles, OpenCV
#: 4.14): medians over the 231 of 300 AFLW2000-3D *train* faces (every 4th) detected with IoU > 0.3.
DETECTION_TO_FACE = {
    "dlib-hog": {"dx": 0.0, "dy": 0.09, "w": 0.96, "h": 0.90},
    "opencv-haar": {"dx": 0.0, "dy": 0.137, "w": 0.774, "h": 0.747},
    "none": {"dx": 0.0, "dy": 0.0, "w": 1.0, "h": 1.0},
}


DETECTORS = ("opencv-haar", "dlib-hog", "none")


@lru_cache(maxsize=None)
def _cascade(name: str):
    """The bundled OpenCV cascade ``name``, or None where this OpenCV has no cascades."""
    if not hasattr(cv2, "CascadeClassifier"):
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not (Path(folder) / name).is_file():
        return None
    cc = cv2.CascadeClassifier(str(Path(folder) / name))
    return None if cc.empty() else cc


@lru_cache(maxsize=None)
def _dlib_detector():
    try:
        import dlib
    except ImportError:
        return None
    return dlib.get_frontal_face_detector()


def detector_name() -> str:
    """The backend ``detect_faces`` uses here: one of ``DETECTORS``."""
    if _cascade(FRONTAL) is not None:
        return "opencv-haar"
    if _dlib_detector() is not None:
        return "dlib-hog"
    return "none"


def _nms(boxes: np.ndarray, iou: float = 0.3) -> np.ndarray:
    if len(boxes) == 0:
        return boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-area)
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            xx0, yy0 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx1, yy1 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx1 - xx0) * max(0.0, yy1 - yy0)
            if inter / min(area[i], area[j]) > iou:
                ok = False
                break
        if ok:
            keep.append(int(i))
    return boxes[keep]


def detect_faces(image: np.ndarray, *, min_size: int = 30, profile: bool = True) -> np.ndarray:
    """Face boxes in ``image`` (H, W, 3) uint8 RGB (or (H, W) grey).

    Returns (F, 4) float32 x0, y0, x1, y1 detector boxes, largest first; (0, 4) when no face is found.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"image must be (H, W, 3) or (H, W) uint8, found {img.shape} {img.dtype}")
    gray = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    backend = detector_name()
    if backend == "none":
        return np.zeros((0, 4), np.float32)
    found: list[np.ndarray] = []
    if backend == "dlib-hog":
        upsample = 1 if max(gray.shape) < 800 else 0
        for r in _dlib_detector()(np.ascontiguousarray(gray), upsample):
            if min(r.width(), r.height()) >= min_size:
                found.append(np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32))
        return _nms(np.stack(found)).astype(np.float32) if found else np.zeros((0, 4), np.float32)
    gray = cv2.equalizeHist(gray)
    w = gray.shape[1]
    hits = _cascade(FRONTAL).detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    found += [np.array([x, y, x + s, y + t], np.float32) for x, y, s, t in np.reshape(hits, (-1, 4))]
    if profile:
        pc = _cascade(PROFILE)
        for mirrored in (False, True):
            g = gray[:, ::-1].copy() if mirrored else gray
            hits = pc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
            for x, y, s, t in np.reshape(hits, (-1, 4)):
                x0 = w - (x + s) if mirrored else x
                found.append(np.array([x0, y, x0 + s, y + t], np.float32))
    if not found:
        return np.zeros((0, 4), np.float32)
    return _nms(np.stack(found)).astype(np.float32)


def face_box_from_detection(box: np.ndarray, backend: str | None = None) -> np.ndarray:
    """Estimate of the tight landmark box (4,) from a detector box (4,) of ``backend`` (default: the one
    in use here; see ``DETECTION_TO_FACE``)."""
    backend = backend or detector_name()
    if backend not in DETECTION_TO_FACE:
        raise ValueError(f"unknown detector {backend!r}; choose one of {list(DETECTION_TO_FACE)}")
    k = DETECTION_TO_FACE[backend]
    b = np.asarray(box, dtype=np.float64)
    d = max(b[2] - b[0], b[3] - b[1])
    cx = (b[0] + b[2]) / 2 + k["dx"] * d
    cy = (b[1] + b[3]) / 2 + k["dy"] * d
    hw, hh = k["w"] * d / 2, k["h"] * d / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], dtype=np.float32)
