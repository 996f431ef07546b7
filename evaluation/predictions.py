"""Predictions written by any tool, read and matched to the ground-truth samples of a dataset.

Two layouts are accepted (see :func:`read_predictions`):

* a flat CSV with a header ``image,x0,y0,x1,y1,...,x{K-1},y{K-1}`` and optionally ``yaw,pitch,roll``
  (degrees) at the end and a ``face`` column (0-based face index, for images with several faces) after
  ``image``. Coordinates are x, y **0-based** pixels. ``image`` is the path relative to the dataset root
  (with or without extension) or just the file name / stem.
* a folder of iBUG ``.pts`` files (searched recursively; coordinates **1-based** on disk, 1 is subtracted
  on read), named like the images (``<stem>.pts``), optionally mirroring the dataset's sub-folders.

Matching (:func:`match_predictions`) tries, in order: the relative path, the relative path without
extension, and the file stem when the stem is unambiguous on both sides.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.sample import Sample

_POSE_COLS = ("yaw", "pitch", "roll")


@dataclass
class PredictionRecord:
    """One face's prediction as read from a file.

    Attributes:
        image: image path / name as written by the tool (forward slashes).
        points: (K, 2) float64 x, y 0-based pixels.
        pose: (3,) yaw, pitch, roll degrees, or None.
        face: face index within the image (0 unless the file says otherwise).
        where: the file (and line) it came from, for messages.
    """

    image: str
    points: np.ndarray
    pose: np.ndarray | None
    face: int
    where: str


@dataclass
class Matched:
    """Predictions aligned with the ground-truth samples.

    Attributes:
        indices: (M,) indices into the samples that have a prediction (all N unless ``intersection``).
        points: (M, K, 2) predicted x, y pixels, in the order of ``indices``.
        pose: (M, 3) predicted yaw, pitch, roll degrees, or None when the file gave no pose.
        missing: the sample images without a prediction (empty unless ``intersection``).
        unused: the prediction sources that match no sample (e.g. images of another split).
    """

    indices: np.ndarray
    points: np.ndarray
    pose: np.ndarray | None
    missing: list[str]
    unused: list[str]


def _norm(name: str) -> str:
    s = name.strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s


def read_predictions_csv(path: str | Path) -> list[PredictionRecord]:
    """Read a flat predictions CSV (see the module docstring). FormatError names the file and line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise FormatError(path, "empty file; expected a header 'image,x0,y0,...'", line=1)
    header = [h.strip().lower() for h in rows[0]]
    if not header or header[0] != "image":
        raise FormatError(path, f"the first column must be 'image', found header {rows[0][:4]!r}...", line=1)
    col = 1
    has_face = len(header) > 1 and header[1] == "face"
    col += int(has_face)
    has_pose = header[-3:] == list(_POSE_COLS)
    coord_cols = header[col:len(header) - 3 if has_pose else len(header)]
    if len(coord_cols) == 0 or len(coord_cols) % 2:
        raise FormatError(path, f"expected pairs of columns x0,y0,x1,y1,... after 'image', "
                                f"found {len(coord_cols)} columns", line=1)
    k = len(coord_cols) // 2
    expected = [f"{c}{i}" for i in range(k) for c in ("x", "y")]
    if coord_cols != expected:
        bad = next(i for i, (a, b) in enumerate(zip(coord_cols, expected)) if a != b)
        raise FormatError(path, f"column {col + bad + 1} is {coord_cols[bad]!r}, expected {expected[bad]!r} "
                          "(header: image[,face],x0,y0,...,x{K-1},y{K-1}[,yaw,pitch,roll])", line=1)
    out: list[PredictionRecord] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise FormatError(path, f"expected {len(header)} columns as in the header, found {len(row)}", line=line_no)
        try:
            vals = np.array([float(c) for c in row[col:]], dtype=np.float64)
        except ValueError:
            bad = next(c for c in row[col:] if not _is_float(c))
            raise FormatError(path, f"not a number: {bad!r}", line=line_no) from None
        pts = vals[:2 * k].reshape(k, 2)
        nonfinite = np.where(~np.isfinite(pts).all(axis=1))[0]
        if nonfinite.size:
            raise FormatError(path, "non-finite coordinate", line=line_no, point=int(nonfinite[0]))
        pose = vals[2 * k:] if has_pose else None
        if pose is not None and not np.isfinite(pose).all():
            raise FormatError(path, f"non-finite pose {pose.tolist()}", line=line_no)
        face = 0
        if has_face:
            try:
                face = int(row[1])
            except ValueError:
                raise FormatError(path, f"face must be an integer, found {row[1]!r}", line=line_no) from None
        out.append(PredictionRecord(_norm(row[0]), pts, pose, face, f"{path}, line {line_no}"))
    return out


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_pts_file(path: str | Path) -> np.ndarray:
    """(K, 2) float64 0-based x, y from an iBUG ``.pts`` file (1-based on disk;
    ``asmnet_studio.datasets.formats.pts``)."""
    from asmnet_studio.datasets.formats.pts import read_pts

    return np.asarray(read_pts(path), dtype=np.float64)


def read_pts_folder(folder: str | Path) -> list[PredictionRecord]:
    """Every ``*.pts`` under ``folder`` (recursively); ``image`` is its path relative to ``folder``."""
    folder = Path(folder)
    files = sorted(folder.rglob("*.pts"))
    if not files:
        raise FormatError(folder, "no .pts files in this folder")
    return [PredictionRecord(f.relative_to(folder).as_posix(), read_pts_file(f), None, 0, str(f)) for f in files]


def read_predictions(path: str | Path) -> list[PredictionRecord]:
    """A predictions CSV file or a folder of ``.pts`` files (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return read_pts_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions not found: {path}")
    if path.suffix.lower() == ".pts":
        return [PredictionRecord(path.name, read_pts_file(path), None, 0, str(path))]
    return read_predictions_csv(path)


def _no_ext(name: str) -> str:
    p = PurePosixPath(name)
    return str(p.with_suffix("")) if p.suffix else name


def match_predictions(records: Sequence[PredictionRecord], samples: Sequence[Sample], *,
                      intersection: bool = False) -> Matched:
    """Align prediction records with ground-truth samples.

    A record matches a sample by (image path relative to the dataset root, face), else by that path
    without extension, else by file stem when the stem names one sample and one record only.

    Args:
        records: from :func:`read_predictions`.
        samples: the ground truth (e.g. ``dataset.samples``).
        intersection: evaluate only the samples that have a prediction instead of raising.

    Raises:
        ValueError: some samples have no prediction (the message names a few and the count) unless
            ``intersection``; two records match the same sample; nothing matches at all.
        FormatError: a record has a different number of points than its sample.
    """
    full: dict[tuple[str, int], int] = {}
    noext: dict[tuple[str, int], list[int]] = {}
    stem: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(samples):
        name = _norm(s.image)
        full[(name, s.face)] = i
        noext.setdefault((_no_ext(name), s.face), []).append(i)
        stem.setdefault((PurePosixPath(name).stem, s.face), []).append(i)
    rec_stems: dict[tuple[str, int], int] = {}
    for r in records:
        key = (PurePosixPath(r.image).stem, r.face)
        rec_stems[key] = rec_stems.get(key, 0) + 1

    owner: dict[int, PredictionRecord] = {}
    unused: list[str] = []
    for r in records:
        i = full.get((r.image, r.face))
        if i is None:
            cand = noext.get((_no_ext(r.image), r.face), [])
            if len(cand) == 1:
                i = cand[0]
        if i is None:
            key = (PurePosixPath(r.image).stem, r.face)
            cand = stem.get(key, [])
            if len(cand) == 1 and rec_stems[key] == 1:
                i = cand[0]
        if i is None:
            unused.append(r.where)
            continue
        if i in owner:
            many = sum(1 for t in samples if t.image == samples[i].image) > 1
            hint = (f"; {samples[i].image} has several faces: add a 'face' column (0-based face index) after 'image'"
                    if many else "")
            raise ValueError(f"two predictions for {samples[i].image} (face {samples[i].face}): "
                             f"{owner[i].where} and {r.where}{hint}")
        if r.points.shape != samples[i].points.shape:
            raise FormatError(r.where, f"{r.points.shape[0]} points, but the ground truth of {samples[i].image} "
                              f"has {samples[i].points.shape[0]}")
        owner[i] = r
    if not owner:
        raise ValueError(f"no prediction matches any of the {len(samples)} ground-truth images "
                         f"(e.g. prediction {records[0].image!r} vs image {samples[0].image!r})"
                         if records and samples else "no predictions or no ground-truth images to match")
    missing = [samples[i].image for i in range(len(samples)) if i not in owner]
    if missing and not intersection:
        few = ", ".join(missing[:5])
        raise ValueError(f"{len(missing)} of {len(samples)} ground-truth images have no prediction, e.g. {few}; "
                         "add them, or evaluate only the images that have one (--intersection)")
    idx = np.array(sorted(owner), dtype=np.int64)
    pts = np.stack([owner[i].points for i in idx])
    has_pose = [owner[i].pose is not None for i in idx]
    pose = np.stack([owner[i].pose for i in idx]) if all(has_pose) else None
    return Matched(indices=idx, points=pts, pose=pose, missing=missing, unused=unused)


def write_predictions_csv(path: str | Path, images: Sequence[str], points, pose=None,
                          faces: Sequence[int] | None = None) -> Path:
    """Write the flat predictions CSV that :func:`read_predictions_csv` reads.

    Args:
        images: (N,) image paths relative to the dataset root.
        points: (N, K, 2) x, y 0-based pixels.
        pose: optional (N, 3) yaw, pitch, roll degrees.
        faces: optional (N,) face index within each image (written as a ``face`` column).
    """
    path = Path(path)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[0] != len(images):
        raise ValueError(f"points must be (N, K, 2) with N = {len(images)} images, found {pts.shape}")
    k = pts.shape[1]
    if faces is not None and len(faces) != len(images):
        raise ValueError(f"faces must have one entry per image ({len(images)}), found {len(faces)}")
    header = ["image"] + (["face"] if faces is not None else []) + [f"{c}{i}" for i in range(k) for c in ("x", "y")]
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (len(images), 3):
            raise ValueError(f"pose must be (N, 3) = ({len(images)}, 3), found {pose.shape}")
        header += list(_POSE_COLS)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for n, name in enumerate(images):
            row = [name] + ([int(faces[n])] if faces is not None else []) + [repr(float(v)) for v in pts[n].ravel()]
            if pose is not None:
                row += [repr(float(v)) for v in pose[n]]
            w.writerow(row)
    tmp.replace(path)
    return path
