"""Training data: a compact decoded cache of face crops, augmentation and batching.

Every face is decoded once (``asmnet_studio.datasets.images.load_image``, the decoder of every inference path: stored
pixel grid, no EXIF rotation, alpha composited on white) into a square uint8 crop (``CACHE_MARGIN`` x the
larger side of its landmark box, at ``cache_size_for(input_size)`` px so that the plain training crop is a
1:1 resample of it) and kept in one array (saved under ``.cache/asmnet`` so the next run skips the decoding).
A training sample is then one ``asmnet.inference.warp.crop_face`` from that crop (the same anti-aliased crop function
the predictor uses): the nominal crop box (``asmnet.inference.crop.crop_box_from_points``, as the predictor uses)
randomly scaled, shifted and rotated, then optionally mirrored with the schema's flip permutation.

Pose labels follow the augmentation exactly (``asmnet.model.head_pose``): an in-plane rotation is composed with
the head's rotation matrix in AFLW2000-3D's convention (adding the angle to roll is right only for a frontal
face); a horizontal mirror negates yaw and roll.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import math
import os

import numpy as np

from asmnet.training.config_flags import setting
from asmnet.inference.crop import apply_affine, box_to_crop_matrix, crop_box_from_points, square_box, landmark_box, \
    to_normalised, CROP_MARGIN
from asmnet.model.head_pose import mirror_pose, rotate_pose_in_plane
from asmnet.inference.warp import crop_face
from asmnet_studio.datasets.images import load_image
from asmnet_studio.datasets.sample import Dataset
from asmnet_studio.datasets.schemas import get_schema
from asmnet_studio.evaluation.pose import yaw_bucket_index

#: the cached crop covers this multiple of the landmark box's larger side (room for augmentation)
CACHE_MARGIN = 2.0
CACHE_VERSION = 2
#: poses with any |angle| above this many degrees are treated as unlabelled (AFLW2000-3D has a few
#: fits beyond +-99 degrees, which the usual head-pose protocol drops as unreliable)
POSE_LIMIT_DEG = 99.0


@dataclass
class FaceArrays:
    """Decoded faces.

    Attributes:
        images: (N, S, S, 3) uint8 RGB crops.
        points: (N, K, 2) float32 landmarks in crop pixels.
        pose: (N, 3) float32 yaw, pitch, roll degrees (0 where unknown).
        pose_valid: (N,) bool, False where the sample has no usable pose.
        names: N image paths relative to the dataset root.
        schema: landmark schema name.
    """

    images: np.ndarray
    points: np.ndarray
    pose: np.ndarray
    pose_valid: np.ndarray
    names: list[str]
    schema: str

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, idx: np.ndarray) -> "FaceArrays":
        idx = np.asarray(idx)
        return FaceArrays(self.images[idx], self.points[idx], self.pose[idx], self.pose_valid[idx],
                          [self.names[i] for i in idx], self.schema)


def cache_size_for(input_size: int) -> int:
    """Side (px) of the cached crops for a network input of ``input_size`` px: the plain training crop
    (``CROP_MARGIN`` x the face) is then a 1:1 resample of the cache (``CACHE_MARGIN`` x the face)."""
    return int(math.ceil(input_size * CACHE_MARGIN / CROP_MARGIN))


def read_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB image through ``asmnet_studio.datasets.images.load_image`` (the inference decoder);
    ImageError naming the file when it cannot be decoded."""
    return load_image(path)


def usable_pose(pose: np.ndarray | None) -> bool:
    """True when ``pose`` (3,) degrees exists, is finite and within ``POSE_LIMIT_DEG``."""
    return pose is not None and bool(np.isfinite(pose).all()) and bool((np.abs(pose) <= POSE_LIMIT_DEG).all())


def decode_faces(dataset: Dataset, cache_size: int, progress: bool = False) -> FaceArrays:
    """Decode every sample of ``dataset`` into a ``cache_size`` px crop of ``CACHE_MARGIN`` x its landmark box."""
    n = len(dataset.samples)
    if n == 0:
        raise ValueError(f"dataset {dataset.root} has no samples to train on")
    k = dataset.samples[0].num_points
    images = np.zeros((n, cache_size, cache_size, 3), np.uint8)
    points = np.zeros((n, k, 2), np.float32)
    pose = np.zeros((n, 3), np.float32)
    valid = np.zeros(n, bool)
    it = dataset.samples
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="decoding faces", unit="img")
    for i, s in enumerate(it):
        img = read_rgb(Path(dataset.root) / s.image)
        box = square_box(landmark_box(s.points), CACHE_MARGIN)
        m = box_to_crop_matrix(box, cache_size)
        images[i] = crop_face(img, m, cache_size)
        points[i] = apply_affine(m, s.points)
        if usable_pose(s.pose):
            pose[i] = s.pose
            valid[i] = True
    return FaceArrays(images, points, pose, valid, [s.image for s in dataset.samples], dataset.schema)


def cached_faces(dataset: Dataset, cache_dir: str | Path | None, cache_size: int,
                 progress: bool = False, *, build: bool = True) -> FaceArrays:
    """``decode_faces`` with an on-disk cache keyed by the dataset's images, labels and the crop settings.

    ``build=False`` (the non-zero ranks of a distributed run, after rank 0 has built it) only reads the cache
    and fails if it is missing. The cache is written to a process-unique temporary file, then renamed."""
    if cache_dir is None:
        return decode_faces(dataset, cache_size, progress)
    h = hashlib.sha1()
    h.update(json.dumps([CACHE_VERSION, CACHE_MARGIN, cache_size, str(Path(dataset.root).resolve())]).encode())
    for s in dataset.samples:
        h.update(s.image.encode())
        h.update(np.ascontiguousarray(s.points, np.float32).tobytes())
        h.update(np.zeros(3, np.float32).tobytes() if s.pose is None else np.asarray(s.pose, np.float32).tobytes())
    path = Path(cache_dir) / f"faces-{h.hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return FaceArrays(z["images"], z["points"], z["pose"], z["pose_valid"], [str(x) for x in z["names"]],
                                  str(z["schema"]))
        except Exception:  # a broken cache is rebuilt
            pass
    if not build:
        raise FileNotFoundError(f"{path}: the decoded-face cache was not built by rank 0")
    faces = decode_faces(dataset, cache_size, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, images=faces.images, points=faces.points, pose=faces.pose, pose_valid=faces.pose_valid,
             names=np.array(faces.names), schema=np.array(faces.schema))
    tmp.replace(path)
    return faces


def split_validation(faces: FaceArrays, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): a |yaw|-stratified random ``fraction`` held out for validation (buckets of
    ``asmnet_studio.evaluation.pose.yaw_bucket_index``)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), found {fraction}")
    rng = np.random.default_rng(seed)
    idx = np.arange(len(faces))
    if fraction == 0.0:
        return idx, idx[:0]
    buckets = yaw_bucket_index(faces.pose[:, 0])
    val = []
    for b in np.unique(buckets):
        members = idx[buckets == b]
        members = members[rng.permutation(len(members))]
        val.extend(members[: int(round(fraction * len(members)))].tolist())
    val = np.array(sorted(val), dtype=np.int64)
    train = np.setdiff1d(idx, val)
    return train, val


def split_by_names(names: Sequence[str], held_out: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(train indices, held-out indices, names of ``held_out`` not in ``names``): the faces called ``held_out``
    (image paths relative to the dataset root) held out of the N ``names``; the caller says what a missing name
    means."""
    where = {n: i for i, n in enumerate(names)}
    missing = [n for n in held_out if n not in where]
    val = np.array(sorted(where[n] for n in held_out if n in where), dtype=np.int64)
    return np.setdiff1d(np.arange(len(names)), val), val, missing


def split_named(faces: FaceArrays, names: list[str], source: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with the faces called ``names`` (image paths relative to the dataset root) held out;
    ValueError naming ``source`` and the first name that is not among ``faces``."""
    train, val, missing = split_by_names(faces.names, names)
    if missing:
        raise ValueError(f"{source}: {len(missing)} validation face(s) not in the training data, first {missing[0]!r}")
    return train, val


@dataclass
class AugmentConfig:
    """Random crop perturbations. Angles in degrees; scale/shift relative to the crop side.

    Each field is also an ``asmnet train`` flag of the same name (``asmnet.training.config_flags``)."""

    rotation: float = setting(25.0, "max in-plane rotation, degrees (uniform in +-rotation; the pose label follows)")
    scale: float = setting(0.12, "crop side scaled by exp(U(-scale, scale))")
    shift: float = setting(0.06, "crop centre shifted by U(-shift, shift) x the crop side, per axis")
    flip: float = setting(0.5, "probability of a horizontal mirror (left/right points swapped)", off_flag="no-flip")
    brightness: float = setting(0.3, "brightness factor U(1 - b, 1 + b)")
    contrast: float = setting(0.3, "contrast factor U(1 - c, 1 + c)")
    saturation: float = setting(0.3, "saturation factor U(1 - s, 1 + s)")
    grayscale: float = setting(0.05, "probability of a grey-scale image")

    def to_dict(self) -> dict:
        return asdict(self)


def sample_crop(image: np.ndarray, points: np.ndarray, pose: np.ndarray, size: int, *, rng: np.random.Generator | None,
                aug: AugmentConfig | None, flip_perm: np.ndarray, margin: float = CROP_MARGIN
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (augmented) network crop.

    Args:
        image: (H, W, 3) uint8 RGB (a cached crop or a full image).
        points: (K, 2) landmarks in ``image`` pixels.
        pose: (3,) yaw, pitch, roll degrees.
        size: output side S in pixels.
        aug: None for the plain centred crop (validation), else the perturbation ranges.
    Returns:
        crop (S, S, 3) uint8, points (K, 2) in crop pixels, pose (3,) degrees (consistent with the crop).
    """
    box = crop_box_from_points(points, margin).astype(np.float64)
    angle = 0.0
    flip = False
    if aug is not None and rng is not None:
        side = box[2] - box[0]
        s = side * float(np.exp(rng.uniform(-aug.scale, aug.scale)))
        c = (box[:2] + box[2:]) / 2 + rng.uniform(-aug.shift, aug.shift, 2) * side
        box = np.array([c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2])
        angle = float(rng.uniform(-aug.rotation, aug.rotation))
        flip = bool(rng.random() < aug.flip)
    m = box_to_crop_matrix(box, size, angle)
    crop = crop_face(image, m, size)
    pts = apply_affine(m, points)
    pose = np.array(pose, dtype=np.float64, copy=True)
    if angle != 0.0:
        pose = rotate_pose_in_plane(pose, angle)
    if flip:
        crop = np.ascontiguousarray(crop[:, ::-1])
        pts = pts.copy()
        pts[:, 0] = (size - 1) - pts[:, 0]
        pts = pts[flip_perm]
        pose = mirror_pose(pose)
    return crop, pts.astype(np.float32), pose.astype(np.float32)


def make_batch(faces: FaceArrays, indices: np.ndarray, size: int, *, rng: np.random.Generator | None = None,
               aug: AugmentConfig | None = None) -> dict[str, np.ndarray]:
    """A batch of crops.

    Returns a dict: ``images`` (B, S, S, 3) uint8, ``points`` (B, K, 2) float32 normalised crop
    coordinates in [-1, 1], ``pose`` (B, 3) float32 degrees, ``pose_valid`` (B,) bool.
    """
    flip_perm = get_schema(faces.schema).flip_permutation()
    b = len(indices)
    k = faces.points.shape[1]
    imgs = np.zeros((b, size, size, 3), np.uint8)
    pts = np.zeros((b, k, 2), np.float32)
    pose = np.zeros((b, 3), np.float32)
    for j, i in enumerate(indices):
        imgs[j], p, pose[j] = sample_crop(faces.images[i], faces.points[i], faces.pose[i], size, rng=rng, aug=aug,
                                          flip_perm=flip_perm)
        pts[j] = to_normalised(p, size)
    return {"images": imgs, "points": pts, "pose": pose, "pose_valid": faces.pose_valid[np.asarray(indices)].copy()}


def color_jitter(images, aug: AugmentConfig, generator=None):
    """Random brightness, contrast, saturation and greyscale on a float (B, 3, S, S) torch batch in [0, 1]."""
    import torch

    b = images.shape[0]
    dev = images.device

    def u(lo, hi):
        return (torch.rand(b, 1, 1, 1, generator=generator) * (hi - lo) + lo).to(dev)

    x = images * u(1 - aug.brightness, 1 + aug.brightness)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    mean = gray.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * u(1 - aug.contrast, 1 + aug.contrast) + mean
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = (x - gray) * u(1 - aug.saturation, 1 + aug.saturation) + gray
    to_gray = (torch.rand(b, 1, 1, 1, generator=generator) < aug.grayscale).to(dev)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    x = torch.where(to_gray, gray, x)
    return x.clamp(0.0, 1.0)
