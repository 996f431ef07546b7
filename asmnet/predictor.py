"""Predictor: image (+ face box) -> 68 landmarks in image pixels, head pose, per-point confidence.

    predictor = Predictor.default()                    # the shipped checkpoint (asmnet/weights/asmnet68.pt)
    pred = predictor.predict(image_rgb_uint8)          # no box: detect the largest face, else whole image
    pred = predictor.predict(image, box=(x0, y0, x1, y1))
    preds = predictor.predict_batch(images, boxes, batch_size=32)

The ``box`` is a *face box*: the tight box around the face's landmarks (a ground-truth landmark box, a
previous prediction's ``landmark_box``, or a detector box mapped with ``asmnet.detect.face_box_from_detection``).
The network crop is the square ``asmnet.crop.square_box(box, crop_margin)``, exactly as in training.

Every face is also run mirrored. The disagreement between the two passes gives the per-point
``confidence`` (exp(-d / (CONFIDENCE_SCALE * face size)), in [0, 1]) and, with the shape model's
implausibility, the per-face ``uncertainty``; when the checkpoint's card says flip averaging helped on
validation (``flip_tta``) the returned points and pose are the average of the two passes.

torch is imported only for the torch backends: with an ONNX backend (``fast`` / ``auto`` on the CPU)
``from_checkpoint`` loads the checkpoint's runtime (``asmnet.runtime``: ONNX graph + JSON sidecar keyed by the
checkpoint's sha256) and runs it with onnxruntime, so a process that never imports torch can predict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asmnet.asm import ShapeModel
from asmnet.runtime import file_sha256
from asmnet.uncertainty import IMPLAUSIBILITY_POWER, MIN_DISAGREEMENT, typical_mahalanobis
from asmnet.warp import crop_face
from asmnet.crop import (apply_affine, box_to_crop_matrix, from_normalised, invert_affine, landmark_boxes,
                         square_box)
from datasets.schemas import get_schema

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "asmnet68.pt"
DEFAULT_SHAPE_MODEL = WEIGHTS_DIR / "shape_model68.npz"
#: flip disagreement (fraction of the face size) at which a point's confidence is exp(-1) ~ 0.37
CONFIDENCE_SCALE = 0.05
#: weight of the shape implausibility in ``uncertainty`` (see ``Predictor._uncertainty``)
IMPLAUSIBILITY_WEIGHT = 0.05


@dataclass
class Prediction:
    """One face.

    Attributes:
        points: (K, 2) float32 x, y image pixels (0-based).
        pose: (3,) float32 yaw, pitch, roll degrees.
        confidence: (K,) float32 in [0, 1] (1 = the mirrored pass agrees exactly).
        box: (4,) float32 the face box the crop was made from (x0, y0, x1, y1 pixels).
        uncertainty: float >= 0, higher = more doubtful (``asmnet.uncertainty.face_uncertainty``: the mean
            flip disagreement as a fraction of the face size, times the squared ratio of the shape's
            Mahalanobis distance to a typical face's).
    """

    points: np.ndarray
    pose: np.ndarray
    confidence: np.ndarray
    box: np.ndarray
    uncertainty: float
    extras: dict[str, Any] = field(default_factory=dict)


def _check_image(image: np.ndarray, i: int | None = None) -> np.ndarray:
    img = np.asarray(image)
    where = "" if i is None else f" (image {i})"
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB{where}, found dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB{where}, found shape {img.shape}")
    return np.ascontiguousarray(img[..., :3])


class Predictor:
    """A loaded landmark network with its crop settings and shape model.

    Attributes:
        schema: the ``LandmarkSchema`` of the outputs.
        shape_model: the ``ShapeModel`` shipped with the checkpoint (used for ``uncertainty``).
        name: model name (from the card, else the file stem).
        sha256: hex digest of the checkpoint file.
        card: the checkpoint's card (training settings and metrics), a dict.
        input_size: network input side in pixels; crop_margin: crop side / face box side.
        flip_tta: whether returned points/pose average the mirrored pass.
    """

    def __init__(self, model: Any, config: dict[str, Any], shape_model: ShapeModel | None, *,
                 name: str, sha256: str, card: dict[str, Any] | None = None, device: str = "cpu",
                 flip_tta: bool | None = None):
        self.device_name = str(device)
        if hasattr(model, "run_numpy"):  # onnxruntime (asmnet.runtime.OrtModel): no torch
            self.model = model.to(self.device_name).eval()
        else:
            import torch

            self.model = model.to(torch.device(device)).eval()
        self.config = dict(config)
        self.schema = get_schema(config["schema"])
        self.shape_model = shape_model
        self.name = name
        self.sha256 = sha256
        self.card = dict(card or {})
        self.input_size = int(config["input_size"])
        self.crop_margin = float(config["crop_margin"])
        self.flip_tta = bool(self.card.get("flip_tta", False)) if flip_tta is None else bool(flip_tta)
        self._flip_perm = np.asarray(self.schema.flip_permutation(), dtype=np.int64)
        self.backend = "torch" if not hasattr(model, "run_numpy") else "onnx"
        self.checkpoint: Path | None = None

    @property
    def device(self):
        """The ``torch.device`` (imports torch; ``device_name`` is the same as a string without it)."""
        import torch

        return torch.device(self.device_name)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", *, flip_tta: bool | None = None,
                        backend: str = "torch") -> "Predictor":
        """Load a checkpoint written by ``asmnet train`` (refuses anything else with CheckpointError).

        ``backend``: ``"torch"`` (the float model as trained), one of ``asmnet.runtime.BACKENDS``, ``"fast"``
        (the checkpoint's preferred CPU backend: ``onnx-int8`` where ``asmnet runtime`` made a calibrated
        runtime for it, else ``onnx``) or ``"auto"`` (``"fast"`` on the CPU, ``"torch"`` on a GPU).

        The ONNX backends load the checkpoint's runtime (``asmnet.runtime``, keyed by the file's sha256) without
        importing torch; an ``onnx`` runtime that does not exist yet is built once (torch) into the cache.
        """
        from asmnet.runtime import BACKENDS, ORT_BACKENDS, onnxruntime_available, preferred_backend

        if backend not in ("auto", "fast") + BACKENDS:
            raise ValueError(f"unknown inference backend {backend!r}; choose one of {['auto', 'fast', *BACKENDS]}")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint file not found")
        if backend == "auto":
            backend = "fast" if str(device).split(":")[0] == "cpu" else "torch"
        sha = file_sha256(path)
        if backend == "fast":
            backend = preferred_backend(path, sha) if onnxruntime_available() else "fused"
        if backend in ORT_BACKENDS:
            return cls._from_runtime(path, sha, backend, device, flip_tta)
        return cls._from_torch(path, sha, backend, device, flip_tta)

    @classmethod
    def _from_torch(cls, path: Path, sha: str, backend: str, device: str, flip_tta: bool | None) -> "Predictor":
        """The checkpoint's float model (torch), switched to ``backend`` by ``asmnet.fast.accelerate``."""
        from asmnet.checkpoint import build_model, load_checkpoint, load_shape_model

        obj = load_checkpoint(path)
        model = build_model(obj, path)
        shape_model = load_shape_model(obj)
        card = obj.get("card", {})
        pred = cls(model, obj["config"], shape_model, name=str(card.get("name", path.stem)), sha256=sha,
                   card=card, device=device, flip_tta=flip_tta)
        pred.checkpoint = path
        if backend != "torch":  # fast CPU inference with torch (asmnet/fast.py)
            from asmnet.fast import accelerate

            accelerate(pred, backend)
        return pred

    @classmethod
    def _from_runtime(cls, path: Path, sha: str, backend: str, device: str, flip_tta: bool | None) -> "Predictor":
        """An ONNX-backend predictor from the checkpoint's runtime (built into the cache first when missing)."""
        from asmnet.runtime import find_runtime, load_runtime

        if str(device).split(":")[0] != "cpu":
            raise ValueError(f"backend {backend!r} runs on the CPU only; found device {device!r}")
        sidecar = find_runtime(path, backend, sha)
        if sidecar is None:
            if backend != "onnx":
                raise ValueError(f"{path}: no calibrated {backend!r} runtime for this checkpoint (sha256 {sha[:12]}...); "
                                 f"make one with `asmnet runtime --checkpoint {path}` or use backend 'onnx'")
            from asmnet.fast import build_runtime  # the one-off export imports torch

            try:
                sidecar = build_runtime(path, backend)
            except OSError as exc:  # an unwritable cache: export in memory at every start instead
                import logging

                logging.getLogger(__name__).warning("cannot cache the ONNX runtime of %s (%s); exporting it in "
                                                    "memory", path, exc)
                return cls._from_torch(path, sha, backend, device, flip_tta)
        rt = load_runtime(sidecar, sha256=sha)
        pred = cls(rt.model, rt.config, rt.shape_model, name=str(rt.card.get("name", path.stem)), sha256=sha,
                   card=rt.card, device=device, flip_tta=flip_tta)
        pred.backend = rt.backend
        pred.checkpoint = path
        pred.runtime = rt.sidecar
        pred.float_model = None  # not loaded (asmnet.fast.accelerate loads it from the checkpoint when asked)
        pred.float_shape_model = rt.shape_model
        return pred

    @classmethod
    def default(cls, device: str = "cpu", *, fast: bool = False, backend: str | None = None) -> "Predictor":
        """The shipped checkpoint ``asmnet/weights/asmnet68.pt``; ``fast=True`` (or ``backend=``) picks a fast
        CPU inference path (``asmnet.fast``)."""
        if not DEFAULT_CHECKPOINT.is_file():
            raise FileNotFoundError(f"{DEFAULT_CHECKPOINT}: the shipped checkpoint is missing (reinstall the "
                                    f"package or pass a checkpoint path)")
        return cls.from_checkpoint(DEFAULT_CHECKPOINT, device, backend=backend or ("fast" if fast else "torch"))

    # ------------------------------------------------------------------ helpers
    def crop_matrix(self, box: np.ndarray) -> np.ndarray:
        """(2, 3) affine map from image pixels to network-input pixels for face box (4,)."""
        return box_to_crop_matrix(square_box(box, self.crop_margin), self.input_size)

    def face_box(self, image: np.ndarray) -> np.ndarray:
        """The largest detected face's landmark-box estimate, else the whole image (4,)."""
        from asmnet.detect import detect_faces, face_box_from_detection

        boxes = detect_faces(image)
        if len(boxes):
            return face_box_from_detection(boxes[0])
        from asmnet.crop import whole_image_box

        return whole_image_box(*image.shape[:2], self.crop_margin)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 RGB in [0, 1] -> normalised points (N, K, 2) and pose (N, 3) radians, numpy.

        A backend with a numpy entry point (``run_numpy``: onnxruntime) is called without touching torch:
        small torch ops between two onnxruntime calls cost more than the network at batch 1 (the two
        libraries' thread pools contend)."""
        run_numpy = getattr(self.model, "run_numpy", None)
        if run_numpy is not None:
            p, q = run_numpy(x)
            return np.asarray(p, np.float32), np.asarray(q, np.float32)
        import torch

        with torch.no_grad():
            p, q = self.model(torch.from_numpy(x).to(self.device))
        return p.float().cpu().numpy(), q.float().cpu().numpy()

    def _run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(B, S, S, 3) uint8 -> normalised points (B, K, 2) and pose (B, 3) radians of the plain pass, then of
        the mirrored pass mapped back to the plain frame. Both passes run as one network batch of 2B."""
        b = len(crops)
        x = np.empty((2 * b,) + (3,) + crops.shape[1:3], np.float32)
        np.divide(crops.transpose(0, 3, 1, 2), np.float32(255.0), out=x[:b], dtype=np.float32)
        x[b:] = x[:b, :, :, ::-1]
        p, q = self._forward(x)
        pf = p[b:, self._flip_perm] * np.float32([-1.0, 1.0])
        qf = q[b:] * np.float32([-1.0, 1.0, -1.0])
        return p[:b], q[:b], pf, qf

    def _uncertainty(self, points: np.ndarray, disagreement: np.ndarray) -> tuple[float, float | None]:
        """(uncertainty, mahalanobis) for one face (``asmnet.uncertainty.face_uncertainty``); the batch path is
        ``_uncertainties``."""
        u, m = self._uncertainties(points[None], disagreement[None])
        return float(u[0]), None if m is None else float(m[0])

    def _mahalanobis(self, points: np.ndarray) -> np.ndarray | None:
        """(B,) ``ShapeModel.mahalanobis`` of (B, K, 2) shapes in one batched projection; None without a
        shape model of K points."""
        sm = self.shape_model
        if sm is None or sm.num_points != points.shape[1] or not len(points):
            return None
        p = np.asarray(points, np.float64)
        b, scale, angle, t = sm.project_batch(p)
        d2 = np.sum(b ** 2 / sm.eigenvalues, axis=1)
        if sm.residual_variance > 0:
            c, s = np.cos(angle), np.sin(angle)
            rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)          # (B, 2, 2)
            model_frame = np.einsum("bki,bij->bkj", p - t[:, None], rot) / scale[:, None, None]
            inst = sm.mean[None] + (b @ sm.components).reshape(len(p), -1, 2)
            d2 = d2 + np.sum((model_frame - inst) ** 2, axis=(1, 2)) / sm.residual_variance
        return np.sqrt(d2)

    def _uncertainties(self, points: np.ndarray, disagreement: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B,) uncertainty and (B,) Mahalanobis distance (None without a shape model) of (B, K, 2) points with
        (B, K) flip disagreement: ``asmnet.uncertainty.face_uncertainty`` vectorised = max(mean disagreement
        (fraction of the face size), 0.002) * (mahalanobis / sqrt(2K - 4)) ** 2 (validated in bench/LOOP.md;
        the mean disagreement alone without a shape model)."""
        d = np.asarray(disagreement, np.float64).mean(axis=1)
        maha = self._mahalanobis(points)
        if maha is None:
            return d, None
        u = np.maximum(d, MIN_DISAGREEMENT) * (maha / typical_mahalanobis(points.shape[1])) ** IMPLAUSIBILITY_POWER
        return np.where(np.isfinite(maha), u, d), maha

    # ------------------------------------------------------------------ public API
    def predict(self, image: np.ndarray, box: Sequence[float] | np.ndarray | None = None) -> Prediction:
        """Landmarks of one face in ``image`` (H, W, 3) uint8 RGB; ``box`` (4,) face box or None (detect)."""
        return self.predict_batch([image], None if box is None else [box], batch_size=1)[0]

    def predict_batch(self, images: Sequence[np.ndarray], boxes: Sequence | None = None,
                      batch_size: int = 32) -> list[Prediction]:
        """One ``Prediction`` per image (one face each). ``boxes``: None, or one (4,) box or None per image."""
        if boxes is not None and len(boxes) != len(images):
            raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, found {batch_size}")
        import cv2

        s = self.input_size
        results: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            chunk = range(start, min(start + batch_size, len(images)))
            crops = np.empty((len(chunk), s, s, 3), np.uint8)
            mats = np.empty((len(chunk), 2, 3), np.float64)
            used = np.empty((len(chunk), 4), np.float32)
            for j, i in enumerate(chunk):
                img = _check_image(images[i], i)
                b = None if boxes is None else boxes[i]
                if b is None:
                    b = self.face_box(img)
                b = np.asarray(b, dtype=np.float32).reshape(-1)
                if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
                    raise ValueError(f"box for image {i} must be finite x0, y0, x1, y1 with x1 > x0 and y1 > y0, "
                                     f"found {b.tolist()}")
                m = self.crop_matrix(b)
                crops[j] = crop_face(img, m, s)
                mats[j] = m
                used[j] = b
            results += self._predictions(crops, mats, used)
        return results

    def _predictions(self, crops: np.ndarray, mats: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        """Run the network on (B, S, S, 3) uint8 crops made with (B, 2, 3) image -> crop matrices from the
        (B, 4) face boxes, and map the outputs back to image pixels (vectorised over the batch)."""
        s = self.input_size
        p, q, pf, qf = self._run(crops)
        inv = invert_affine(mats)                                            # (B, 2, 3) crop -> image
        a = apply_affine(inv, from_normalised(p, s))                         # (B, K, 2) image pixels
        f = apply_affine(inv, from_normalised(pf, s))
        pts = (a + f) / 2 if self.flip_tta else a
        pose = np.degrees((q + qf) / 2 if self.flip_tta else q)
        lb = landmark_boxes(pts)
        size = np.sqrt(np.maximum(lb[:, 2] - lb[:, 0], 1e-6) * np.maximum(lb[:, 3] - lb[:, 1], 1e-6))
        dis = np.linalg.norm(a - f, axis=2) / size[:, None]                 # (B, K) fraction of the face size
        conf = np.exp(-dis / CONFIDENCE_SCALE).astype(np.float32)
        unc, maha = self._uncertainties(pts, dis)
        pts32, pose32, flip_nme = pts.astype(np.float32), pose.astype(np.float32), dis.mean(axis=1)
        boxes = np.array(boxes, np.float32)
        return [Prediction(points=pts32[j], pose=pose32[j], confidence=conf[j], box=boxes[j], uncertainty=float(unc[j]),
                           extras={"mahalanobis": None if maha is None else float(maha[j]),
                                   "flip_nme": float(flip_nme[j])})
                for j in range(len(crops))]
