"""AFLW2000-3D: one ``.mat`` beside each ``.jpg``.

On disk (checked on the official release): ``pt3d_68`` is (3, 68) and its first two rows are the
x, y landmarks in 0-based pixels; ``Pose_Para[0][:3]`` is pitch, yaw, roll in **radians**.
In memory: points (68, 2) float32 unchanged; pose (3,) yaw, pitch, roll in **degrees**.
The writer produces ``.mat`` files that this reader (and the usual AFLW2000-3D loaders) accept.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats._common import (image_name_problem, atomic_write_bytes, check_writable, copy_image,
                                                    flag_points, problem)
from asmnet_studio.datasets.sample import Dataset, Problem, Sample

NAME = "aflw2000"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _find_image(mat: Path) -> Path | None:
    for suf in IMAGE_SUFFIXES:
        p = mat.with_suffix(suf)
        if p.is_file():
            return p
    return None


#: The variables read from a ``.mat`` and the most elements each may hold (checked from the variable headers
#: before anything is decompressed into memory: a small compressed file cannot make the reader allocate GBs).
NEEDED = {"pt3d_68": 3 * 68, "Pose_Para": 64}
_NUMERIC = ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def _load_needed(path: Path) -> dict[str, np.ndarray]:
    """The ``NEEDED`` variables of a ``.mat`` as real numeric arrays; FormatError naming the file otherwise
    (unreadable file, a variable missing, too large, or not a real numeric matrix: text, cell, struct,
    logical, sparse or complex)."""
    try:
        found = {name: (shape, kind) for name, shape, kind in scipy.io.whosmat(str(path))}
    except Exception as exc:  # scipy raises several types for corrupt files
        raise FormatError(path, f"not a readable MATLAB file ({str(exc)[:200]})") from None
    for name, limit in NEEDED.items():
        if name not in found:
            keys = sorted(k for k in found if not k.startswith("__"))[:20]
            raise FormatError(path, f"missing key {name!r} (keys: {keys})")
        shape, kind = found[name]
        if kind not in _NUMERIC:
            raise FormatError(path, f"{name!r} must be a numeric matrix, found a MATLAB {kind}")
        n = int(np.prod(shape, dtype=np.float64))
        if n > limit:
            raise FormatError(path, f"{name!r} is {'x'.join(map(str, shape))} ({n} values); at most {limit} expected")
    try:
        m = scipy.io.loadmat(str(path), variable_names=list(NEEDED))
    except Exception as exc:
        raise FormatError(path, f"not a readable MATLAB file ({str(exc)[:200]})") from None
    out = {}
    for name in NEEDED:
        a = m.get(name)
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf":
            what = "complex numbers" if isinstance(a, np.ndarray) and a.dtype.kind == "c" else \
                type(a).__name__ if not isinstance(a, np.ndarray) else f"{a.dtype} values"
            raise FormatError(path, f"{name!r} must hold real numbers, found {what}")
        out[name] = a
    return out


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(points (68, 2) float32, pose (3,) float32 yaw/pitch/roll degrees or None) from one ``.mat``.

    A ``Pose_Para`` whose three angles are all NaN means "no pose" (what ``write`` stores for a face without
    one); any other non-finite angle is an error.

    Raises FormatError naming the file (and point index for non-finite coordinates).
    """
    m = _load_needed(path)
    pts = m["pt3d_68"].astype(np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] != 68:
        raise FormatError(path, f"'pt3d_68' must be (3, 68) or (2, 68), found {pts.shape}")
    points = pts[:2].T.astype(np.float32)
    bad = np.where(~np.isfinite(points).all(axis=1))[0]
    if bad.size:
        raise FormatError(path, "non-finite coordinate", point=int(bad[0]))
    pp = m["Pose_Para"].astype(np.float64).ravel()
    if pp.size < 3:
        raise FormatError(path, f"'Pose_Para' must hold pitch, yaw, roll first, found {pp.size} values")
    if np.isnan(pp[:3]).all():  # written by this project for a face without a pose label
        return points, None
    if not np.isfinite(pp[:3]).all():
        raise FormatError(path, f"'Pose_Para' must hold finite pitch, yaw, roll first (or all NaN for no pose), "
                                f"found {pp[:3]}")
    pitch, yaw, roll = np.degrees(pp[:3])
    return points, np.array([yaw, pitch, roll], dtype=np.float32)


def read(root: Path) -> Dataset:
    """Read every ``*.mat`` under ``root`` (recursively) that has an image beside it."""
    root = Path(root)
    ds = Dataset(root=root, format=NAME, schema="ibug68")
    if not root.is_dir():
        raise FormatError(root, "dataset folder does not exist")
    for mat in sorted(root.rglob("*.mat")):
        img = _find_image(mat)
        if img is None:
            ds.problems.append(Problem(str(mat), f"{mat}: no image beside it ({'/'.join(IMAGE_SUFFIXES)})"))
            continue
        why = image_name_problem(root, img.relative_to(root).as_posix())
        if why:
            ds.problems.append(Problem(str(mat), f"{mat}: {why}"))
            continue
        try:
            points, pose = read_mat(mat)
        except FormatError as exc:
            ds.problems.append(problem(exc))
            continue
        s = Sample(image=img.relative_to(root).as_posix(), points=points, schema="ibug68", pose=pose,
                   source_file=str(mat))
        flag_points(s, img)
        ds.samples.append(s)
    return ds


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write ``<stem>.mat`` (pt3d_68 with z = 0, Pose_Para radians) beside a copy of each image.

    Images keep their relative path (``out_dir / sample.image``); the ``.mat`` is written atomically.
    Raises FormatError for samples without exactly 68 finite points or with several faces per image.
    """
    out_dir = Path(out_dir)
    check_writable(dataset, NAME, num_points=68)
    for s in dataset.samples:
        if s.face != 0:
            raise FormatError(s.source_file or s.image, "AFLW2000-3D holds one face per image; found face "
                                                        f"{s.face} of {s.image}")
    for s in dataset.samples:
        dst = copy_image(dataset, s, out_dir)
        pt3d = np.zeros((3, 68), dtype=np.float32)
        pt3d[:2] = s.points.T
        pose_para = np.zeros((1, 7), dtype=np.float32)
        # no pose is written as NaN angles (read back as "no pose"), never as an invented frontal (0, 0, 0)
        pose_para[0, :3] = np.nan if s.pose is None else np.radians([s.pose[1], s.pose[0], s.pose[2]])
        atomic_write_bytes(dst.with_suffix(".mat"),
                           lambda fh: scipy.io.savemat(fh, {"pt3d_68": pt3d, "Pose_Para": pose_para}))
    return out_dir
