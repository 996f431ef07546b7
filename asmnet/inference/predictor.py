"""Predictor: image (+ face box) -> 68 landmarks in image pixels, head pose, per-point confidence.

    predictor = Predictor.default()                    # the shipped checkpoint (asmnet/weights/asmnet68.pt)
    pred = predictor.predict(image_rgb_uint8)          # no box: detect the largest face, else whole image
    pred = predictor.predict(image, box=(x0, y0, x1, y1))
    preds = predictor.predict_batch(images, boxes, batch_size=32)

The ``box`` is a *face box*: the tight box around the face's landmarks (a ground-truth landmark box, a
previous prediction's ``landmark_box``, or a detector box mapped with ``asmnet.inference.detect.face_box_from_detection``).
The network crop is the square ``asmnet.inference.crop.square_box(box, crop_margin)``, exactly as in training.

Every face is also run mirrored. The disagreement between the two passes gives the per-point
``confidence`` (``asmnet.inference.uncertainty.point_confidence``: exp(-d / CONFIDENCE_SCALE), d as a fraction of the face
size, in [0, 1]) and, with the shape model's implausibility, the per-face ``uncertainty``
(``asmnet.inference.uncertainty.face_uncertainty``); when the checkpoint's card says flip averaging helped on
validation (``flip_tta``) the returned points and pose are the average of the two passes.

torch is imported only for the torch backends: with an ONNX backend (``fast`` / ``auto`` on the CPU)
``from_checkpoint`` loads the checkpoint's runtime (``asmnet.inference.runtime``: ONNX graph + JSON sidecar keyed by the
checkpoint's sha256) and runs it with onnxruntime, so a process that never imports torch can predict.

``LandmarkPredictor`` is the protocol the app, the pre-label pipeline and the CLI rely on; ``Predictor`` (every
backend, torch or ONNX) implements it. Its ``checkpoint_path`` is the absolute path of the checkpoint file the
weights came from (None for a model built in memory): what a workspace's model registry records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from asmnet.model.asm import ShapeModel
from asmnet.inference.runtime import file_sha256
from asmnet.inference.uncertainty import face_uncertainty, flip_disagreement, point_confidence
from asmnet.inference.warp import crop_face
from asmnet.inference.crop import landmark_boxes
from asmnet_studio.datasets.schemas import get_schema

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "asmnet68.pt"
DEFAULT_SHAPE_MODEL = WEIGHTS_DIR / "shape_model68.npz"


@dataclass
class Prediction:
    """One face.

    Attributes:
        points: (K, 2) float32 x, y image pixels (0-based).
        pose: (3,) float32 yaw, pitch, roll degrees.
        confidence: (K,) float32 in [0, 1] (1 = the mirrored pass agrees exactly).
        box: (4,) float32 the face box the crop was made from (x0, y0, x1, y1 pixels).
        uncertainty: float >= 0, higher = more doubtful (``asmnet.inference.uncertainty.face_uncertainty``: the mean
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


@runtime_checkable
class LandmarkPredictor(Protocol):
    """What the app (``asmnet_studio.annotator.session.Services``), the pre-label pipeline and the CLI need of a model.

    Attributes:
        name: model name; sha256: hex digest of its checkpoint file; card: the checkpoint's card (dict).
        schema: the ``LandmarkSchema`` of the outputs; shape_model: its ``ShapeModel`` or None.
        checkpoint_path: absolute path of the checkpoint file (None when built in memory): the path a
            workspace registers, so ``asmnet prelabel WS.db`` can load the same file later.
    """

    name: str
    sha256: str
    card: dict[str, Any]
    schema: Any
    shape_model: ShapeModel | None
    checkpoint_path: Path | None

    def predict(self, image: np.ndarray, box: Sequence[float] | np.ndarray | None = None) -> "Prediction": ...

    def predict_batch(self, images: Sequence[np.ndarray], boxes: Sequence | None = None,
                      batch_size: int = 32) -> list["Prediction"]: ...


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
        checkpoint_path: absolute path of the checkpoint file (``LandmarkPredictor``), None when the model was
            handed in memory.
        backend: the inference backend (``torch``, ``onnx``, ...: ``asmnet.inference.runtime.BACKENDS``).
    """

    def __init__(self, model: Any, config: dict[str, Any], shape_model: ShapeModel | None, *,
                 name: str, sha256: str, card: dict[str, Any] | None = None, device: str = "cpu",
                 flip_tta: bool | None = None):
        self.device_name = str(device)
        if hasattr(model, "run_numpy"):  # onnxruntime (asmnet.inference.runtime.OrtModel): no torch
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
        self.checkpoint_path: Path | None = None

    @property
    def device(self):
        """The ``torch.device`` (imports torch; ``device_name`` is the same as a string without it)."""
        import torch

        return torch.device(self.device_name)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", *, flip_tta: bool | None = None,
                        backend: str = "torch", threads: int | None = None) -> "Predictor":
        """Load a checkpoint written by ``asmnet train`` (refuses anything else with CheckpointError).

        ``backend``: ``"torch"`` (the float model as trained), one of ``asmnet.inference.runtime.BACKENDS``, ``"fast"``
        (the checkpoint's preferred CPU backend: ``onnx-int8`` where ``asmnet runtime`` made a calibrated
        runtime for it, else ``onnx``) or ``"auto"`` (``"fast"`` on the CPU, ``"torch"`` on a GPU).

        The ONNX backends load the checkpoint's runtime (``asmnet.inference.runtime``, keyed by the file's sha256) without
        importing torch; an ``onnx`` runtime that does not exist yet is built once (torch) into the cache.
        ``threads``: ONNX Runtime intra-op threads of those backends (default
        ``asmnet.inference.runtime.default_threads()``; 1 where the caller runs several batches at once).
        """
        from asmnet.inference.runtime import BACKENDS, ORT_BACKENDS, onnxruntime_available, preferred_backend

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
            return cls._from_runtime(path, sha, backend, device, flip_tta, threads)
        return cls._from_torch(path, sha, backend, device, flip_tta)

    @classmethod
    def _from_torch(cls, path: Path, sha: str, backend: str, device: str, flip_tta: bool | None) -> "Predictor":
        """The checkpoint's float model (torch), switched to ``backend`` by ``asmnet.inference.fast.accelerate``."""
        from asmnet.model.checkpoint import build_model, load_checkpoint, load_shape_model

        obj = load_checkpoint(path)
        model = build_model(obj, path)
        shape_model = load_shape_model(obj)
        card = obj.get("card", {})
        pred = cls(model, obj["config"], shape_model, name=str(card.get("name", path.stem)), sha256=sha,
                   card=card, device=device, flip_tta=flip_tta)
        pred.checkpoint_path = path.resolve()
        if backend != "torch":  # fast CPU inference with torch (asmnet/inference/fast.py)
            from asmnet.inference.fast import accelerate

            accelerate(pred, backend)
        return pred

    @classmethod
    def _from_runtime(cls, path: Path, sha: str, backend: str, device: str, flip_tta: bool | None,
                      threads: int | None = None) -> "Predictor":
        """An ONNX-backend predictor from the checkpoint's runtime (built into the cache first when missing)."""
        from asmnet.inference.runtime import find_runtime, load_runtime

        if str(device).split(":")[0] != "cpu":
            raise ValueError(f"backend {backend!r} runs on the CPU only; found device {device!r}")
        sidecar = find_runtime(path, backend, sha)
        if sidecar is None:
            if backend != "onnx":
                raise ValueError(f"{path}: no calibrated {backend!r} runtime for this checkpoint (sha256 {sha[:12]}...); "
                                 f"make one with `asmnet runtime --checkpoint {path}` or use backend 'onnx'")
            from asmnet.inference.fast import build_runtime  # the one-off export imports torch

            try:
                sidecar = build_runtime(path, backend)
            except OSError as exc:  # an unwritable cache: export in memory at every start instead
                import logging

                logging.getLogger(__name__).warning("cannot cache the ONNX runtime of %s (%s); exporting it in "
                                                    "memory", path, exc)
                return cls._from_torch(path, sha, backend, device, flip_tta)
        rt = load_runtime(sidecar, sha256=sha, threads=threads)
        pred = cls(rt.model, rt.config, rt.shape_model, name=str(rt.card.get("name", path.stem)), sha256=sha,
                   card=rt.card, device=device, flip_tta=flip_tta)
        pred.backend = rt.backend
        pred.checkpoint_path = path.resolve()
        pred.runtime = rt.sidecar
        pred.float_model = None  # not loaded (asmnet.inference.fast.accelerate loads it from the checkpoint when asked)
        pred.float_shape_model = rt.shape_model
        return pred

    @classmethod
    def default(cls, device: str = "cpu", *, fast: bool = False, backend: str | None = None,
                threads: int | None = None) -> "Predictor":
        """The shipped checkpoint ``asmnet/weights/asmnet68.pt``; ``fast=True`` (or ``backend=``) picks a fast
        CPU inference path (``asmnet.inference.fast``); ``threads`` as in ``from_checkpoint``."""
        if not DEFAULT_CHECKPOINT.is_file():
            raise FileNotFoundError(f"{DEFAULT_CHECKPOINT}: the shipped checkpoint is missing (reinstall the "
                                    f"package or pass a checkpoint path)")
        return cls.from_checkpoint(DEFAULT_CHECKPOINT, device, backend=backend or ("fast" if fast else "torch"),
                                   threads=threads)

    # ------------------------------------------------------------------ helpers
    def crop_matrices(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 2, 3) affine maps image pixels -> network-input pixels for (B, 4) face boxes, and their (B, 2, 2)
        inverse as per-axis (scale, shift): image = crop * scale + shift. The same numbers as
        ``asmnet.inference.crop.box_to_crop_matrix(asmnet.inference.crop.square_box(box, crop_margin), input_size)`` (the square box
        rounded to float32 as there), vectorised over the batch."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        c = (b[:, :2] + b[:, 2:]) / 2                                                     # (B, 2) centre
        half = self.crop_margin * np.maximum(np.max(b[:, 2:] - b[:, :2], axis=1), 1.0) / 2
        sq = np.concatenate([c - half[:, None], c + half[:, None]], 1).astype(np.float32).astype(np.float64)
        size = self.input_size
        lin = size / (sq[:, 2:] - sq[:, :2])                                              # (B, 2) x, y scale
        t = (size - 1) / 2 - lin * (sq[:, :2] + sq[:, 2:]) / 2
        m = np.zeros((len(b), 2, 3))
        m[:, 0, 0], m[:, 1, 1], m[:, :, 2] = lin[:, 0], lin[:, 1], t
        return m, np.stack([1.0 / lin, -t / lin], 1)

    def face_box(self, image: np.ndarray) -> np.ndarray:
        """The largest detected face's landmark-box estimate, else the whole image (4,)."""
        from asmnet.inference.detect import detect_faces, face_box_from_detection

        boxes = detect_faces(image)
        if len(boxes):
            return face_box_from_detection(boxes[0])
        from asmnet.inference.crop import whole_image_box

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

    def _run(self, crops: np.ndarray, mirrored: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(B, S, S, 3) uint8 -> normalised points (B, K, 2) and pose (B, 3) radians of the plain pass, then of
        the mirrored pass mapped back to the plain frame. Both passes run as one network batch of 2B.
        ``mirrored=False`` runs the plain pass alone and returns it twice (``bench inference`` measures what the
        mirrored pass costs with it; the predictor always mirrors)."""
        b = len(crops)
        x = np.empty(((2 if mirrored else 1) * b,) + (3,) + crops.shape[1:3], np.float32)
        np.divide(crops.transpose(0, 3, 1, 2), np.float32(255.0), out=x[:b], dtype=np.float32)
        if not mirrored:
            p, q = self._forward(x)
            return p, q, p, q
        x[b:] = x[:b, :, :, ::-1]
        p, q = self._forward(x)
        pf = p[b:, self._flip_perm] * np.float32([-1.0, 1.0])
        qf = q[b:] * np.float32([-1.0, 1.0, -1.0])
        return p[:b], q[:b], pf, qf

    def _uncertainties(self, points: np.ndarray, disagreement: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B,) uncertainty (``asmnet.inference.uncertainty.face_uncertainty`` on the whole batch) and (B,) Mahalanobis
        distance (``ShapeModel.mahalanobis``; None without a shape model of K points) of (B, K, 2) points with
        (B, K) flip disagreement."""
        sm = self.shape_model
        maha = (sm.mahalanobis(points) if sm is not None and sm.num_points == points.shape[1] and len(points)
                else None)
        return np.asarray(face_uncertainty(disagreement, maha, points.shape[1]), np.float64).reshape(-1), maha

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
            imgs = [_check_image(images[i], i) for i in chunk]
            used = self._boxes(imgs, boxes, chunk)
            mats, inv = self.crop_matrices(used)
            crops = np.empty((len(chunk), s, s, 3), np.uint8)
            for j, img in enumerate(imgs):  # one OpenCV resample per image (images differ in size)
                crops[j] = crop_face(img, mats[j], s)
            results += self._predictions(crops, inv, used)
        return results

    def _boxes(self, images: list[np.ndarray], boxes: Sequence | None, index: range) -> np.ndarray:
        """(B, 4) float32 face boxes of ``images`` (detected where ``boxes`` gives None); ValueError naming the
        image for a box that is not finite x0 < x1, y0 < y1."""
        raw = [None if boxes is None else boxes[i] for i in index]
        out = np.empty((len(images), 4), np.float32)
        for j, (img, b) in enumerate(zip(images, raw)):
            b = np.asarray(self.face_box(img) if b is None else b, np.float32).reshape(-1)
            if b.shape != (4,):
                raise ValueError(f"box for image {index[j]} must be 4 numbers x0, y0, x1, y1, found {b.tolist()}")
            out[j] = b
        bad = ~(np.isfinite(out).all(1) & (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1]))
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(f"box for image {index[j]} must be finite x0, y0, x1, y1 with x1 > x0 and y1 > y0, "
                             f"found {out[j].tolist()}")
        return out

    def _predictions(self, crops: np.ndarray, inverse: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        """Run the network on (B, S, S, 3) uint8 crops and map the outputs back to image pixels with the (B, 2, 2)
        crop -> image (scale, shift) of ``crop_matrices``; (B, 4) face boxes. Vectorised over the batch: both
        passes go back to the image in one affine step (normalised crop units u: crop pixels (u + 1) S / 2 - 0.5)."""
        half = self.input_size / 2
        p, q, pf, qf = self._run(crops)
        scale = inverse[:, None, None, 0] * half                                          # (B, 1, 1, 2)
        shift = inverse[:, None, None, 1] + inverse[:, None, None, 0] * (half - 0.5)
        both = np.stack([p, pf], 1).astype(np.float64) * scale + shift                  # (B, 2, K, 2)
        a, f = both[:, 0], both[:, 1]
        pts = (a + f) / 2 if self.flip_tta else a
        pose = np.degrees((q + qf) / 2 if self.flip_tta else q)
        lb = landmark_boxes(pts)
        size = np.sqrt(np.maximum(lb[:, 2] - lb[:, 0], 1e-6) * np.maximum(lb[:, 3] - lb[:, 1], 1e-6))
        dis = flip_disagreement(a, f, size)                                             # (B, K) fraction of size
        conf = point_confidence(dis)
        unc, maha = self._uncertainties(pts, dis)
        pts32, pose32, flip_nme = pts.astype(np.float32), pose.astype(np.float32), dis.mean(axis=1)
        boxes = np.array(boxes, np.float32)
        return [Prediction(points=pts32[j], pose=pose32[j], confidence=conf[j], box=boxes[j], uncertainty=float(unc[j]),
                           extras={"mahalanobis": None if maha is None else float(maha[j]),
                                   "flip_nme": float(flip_nme[j])})
                for j in range(len(crops))]
