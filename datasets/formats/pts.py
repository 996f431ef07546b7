"""iBUG ``.pts`` files: one ``<image stem>.pts`` beside each image (300-W, 300-VW, menpo, LFPW ...).

On disk::

    version: 1
    n_points:  68
    {
    611.284152 272.773913
    ...
    }

Coordinates on disk are **1-based** (the top-left pixel centre is (1, 1)); in memory they are 0-based:
``read_pts`` subtracts 1 (exactly, in decimal, then rounds to float32), ``write_pts`` adds it back and writes the
shortest decimal that reads back to the same float32 bits. The header is everything before the line that
starts with ``{``; ``n_points`` is checked when present.

Layouts found: the image beside the ``.pts``; the 300-VW layout ``<video>/annot/<frame>.pts`` with the
image in ``<video>/imgs/``; and several faces of one image as ``<stem>_<n>.pts`` (n = 1, 2, ...) beside
``<stem>.<ext>`` when no ``<stem>_<n>.<ext>`` exists (face n-1). The writer writes the first face as
``<stem>.pts`` and face k > 0 as ``<stem>_<k+1>.pts``.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats._common import (image_name_problem, short, atomic_write_text, check_writable,
                                                    copy_image, find_image, flag_points, format_float, is_image_file,
                                                    parse_float, problem)
from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.sample import Dataset, Problem, Sample
from asmnet_studio.datasets.schemas import get_schema, schema_for_points

NAME = "pts"
_FACE_SUFFIX = re.compile(r"^(?P<base>.+)_(?P<n>\d+)$")


def read_pts(path: str | Path) -> np.ndarray:
    """The (K, 2) float32 points of one ``.pts`` file, x, y, **0-based** pixels (file value - 1).

    Raises FormatError naming the file, the 1-based line and the 0-based point index where known:
    not a text file, no ``{``, no ``}``, a line that is not two numbers, NaN / inf, or a point count
    that differs from the header's ``n_points``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read file ({exc.strerror or exc})") from None
    if b"\x00" in raw:
        raise FormatError(path, "not a .pts file (binary content)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(path, "not a .pts file (not UTF-8 / ASCII text)") from None
    lines = text.splitlines()
    n_points: int | None = None
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("{"):
            start = i
            break
        m = re.match(r"n_points\s*:\s*(\S+)", s, flags=re.IGNORECASE)
        if m:
            try:
                n_points = int(m.group(1))
            except ValueError:
                raise FormatError(path, f"n_points must be an integer, found {short(m.group(1))}", line=i + 1) from None
    if start is None:
        raise FormatError(path, "not a .pts file: no line starting with '{' opens the point list")
    coords: list[tuple[float, float]] = []
    closed = False
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if i == start:
            s = s[1:].strip()
        if "}" in s:
            s, closed = s.split("}", 1)[0].strip(), True
        if s:
            toks = s.replace(",", " ").split()
            if len(toks) != 2:
                raise FormatError(path, f"expected two numbers 'x y', found {short(s)}", line=i + 1, point=len(coords))
            try:
                x, y = parse_float(toks[0], 1.0), parse_float(toks[1], 1.0)
            except ValueError:
                raise FormatError(path, f"not a number in {short(s)}", line=i + 1, point=len(coords)) from None
            if not (np.isfinite(x) and np.isfinite(y)):
                raise FormatError(path, f"non-finite coordinate ({x}, {y})", line=i + 1, point=len(coords))
            coords.append((x, y))
        if closed:
            break
    if not closed:
        raise FormatError(path, "no closing '}' after the point list", line=len(lines))
    if not coords:
        raise FormatError(path, "the point list is empty", line=start + 1)
    if n_points is not None and n_points != len(coords):
        raise FormatError(path, f"header says n_points: {n_points} but {len(coords)} points follow")
    return np.asarray(coords, dtype=np.float64).astype(np.float32)


def write_pts(path: str | Path, points: np.ndarray) -> Path:
    """Write (K, 2) 0-based points to ``path`` as a 1-based ``.pts`` (atomically); returns the path.

    Each value is the shortest decimal that ``read_pts`` turns back into the same float32.
    Raises ValueError for a wrong shape or non-finite values.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ValueError(f"points must be (K, 2) with K > 0, found {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(f"points must be finite; point {int(np.where(~np.isfinite(pts).all(1))[0][0])} is not")
    body = "\n".join(f"{format_float(x, 1.0)} {format_float(y, 1.0)}" for x, y in pts)
    return atomic_write_text(Path(path), f"version: 1\nn_points:  {len(pts)}\n{{\n{body}\n}}\n")


def _image_for(pts_path: Path) -> tuple[Path | None, int]:
    """(image file, face index) for one ``.pts`` (see the module docstring for the layouts)."""
    stem = pts_path.with_suffix("")
    img = find_image(stem)
    if img is not None:
        return img, 0
    if pts_path.parent.name.lower() == "annot":  # 300-VW: <video>/annot/<frame>.pts, <video>/imgs/<frame>.jpg
        img = find_image(pts_path.parent.parent / "imgs" / stem.name)
        if img is not None:
            return img, 0
    m = _FACE_SUFFIX.match(stem.name)
    if m and int(m.group("n")) >= 1:
        img = find_image(stem.with_name(m.group("base")))
        if img is not None:
            return img, int(m.group("n")) - 1
    return None, 0


def read_files(root: Path, fmt: str = NAME, *, schema: str | None = None) -> Dataset:
    """Read every ``*.pts`` under ``root`` (recursively, sorted) into a Dataset named ``fmt``.

    The schema is ``schema`` when given, else the one implied by the most common point count; files with
    another count become problems. Images without a ``.pts`` are reported as problems too.
    """
    root = Path(root)
    if not root.is_dir():
        raise FormatError(root, "dataset folder does not exist" if not root.exists() else "not a folder")
    read: list[tuple[Path, Path, int, np.ndarray]] = []
    problems: list[Problem] = []
    attempted: set[Path] = set()  # images whose .pts exists (even a broken one): not "without annotation"
    for pts_path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".pts" and p.is_file()):
        img, face = _image_for(pts_path)
        if img is not None:
            attempted.add(img.resolve())
            why = image_name_problem(root, img.relative_to(root).as_posix()) or \
                image_name_problem(root, pts_path.relative_to(root).with_suffix(img.suffix).as_posix())
            if why:
                problems.append(Problem(str(pts_path), f"{pts_path}: {why}"))
                continue
        if img is None:
            problems.append(Problem(str(pts_path), f"{pts_path}: no image beside it (looked for "
                                                   f"{pts_path.stem}.jpg/.png/...)"))
            continue
        try:
            read.append((pts_path, img, face, read_pts(pts_path)))
        except FormatError as exc:
            problems.append(problem(exc))
    if schema is None:
        counts = Counter(p.shape[0] for *_, p in read)
        k = counts.most_common(1)[0][0] if counts else 68
        try:
            schema = schema_for_points(k)
        except ValueError as exc:
            raise FormatError(root, str(exc)) from None
    k = get_schema(schema).num_points
    ds = Dataset(root=root, format=fmt, schema=schema, problems=problems)
    used: set[Path] = set()
    taken: dict[tuple[str, int], Path] = {}
    for pts_path, img, face, points in read:
        if points.shape[0] != k:
            ds.problems.append(problem(FormatError(pts_path,
                                                   f"expected {k} points ({schema}), found {points.shape[0]}")))
            continue
        key = (img.relative_to(root).as_posix(), face)
        if key in taken:
            ds.problems.append(problem(FormatError(pts_path, f"face {face} of {key[0]} is already annotated by "
                                                             f"{taken[key]}")))
            continue
        taken[key] = pts_path
        s = Sample(image=img.relative_to(root).as_posix(), points=points, schema=schema,
                   source_file=str(pts_path), face=face)
        flag_points(s, img)
        ds.samples.append(s)
        used.add(img.resolve())
    for img in sorted(p for p in root.rglob("*") if is_image_file(p)):
        if img.resolve() not in used and img.resolve() not in attempted:
            ds.problems.append(Problem(str(img), f"{img}: image has no .pts annotation"))
    ds.samples.sort(key=lambda s: (s.image, s.face))
    return ds


def read(root: Path, *, schema: str | None = None) -> Dataset:
    """Read a folder of images with ``.pts`` beside them (see ``read_files``)."""
    return read_files(root, NAME, schema=schema)


def pts_name(sample_image: str, face: int) -> PurePosixPath:
    """Relative path of the ``.pts`` written for face ``face`` of ``sample_image``."""
    rel = relative_name(sample_image)
    stem = rel.stem if face == 0 else f"{rel.stem}_{face + 1}"
    return rel.with_name(stem + ".pts")


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write ``<stem>.pts`` beside a copy of each image under ``out_dir`` (relative paths kept); returns out_dir.

    Raises FormatError for samples that cannot be written (bad shape, non-finite points) or for two
    samples that would write the same ``.pts``; ImageError when a source image is missing.
    """
    out_dir = Path(out_dir)
    check_writable(dataset, NAME)
    seen: dict[PurePosixPath, str] = {}
    for s in dataset.samples:
        name = pts_name(s.image, s.face)
        if name in seen:
            raise FormatError(out_dir / name, f"two samples would write this file ({seen[name]} and {s.image} "
                                              f"face {s.face})")
        seen[name] = f"{s.image} face {s.face}"
    for s in dataset.samples:
        copy_image(dataset, s, out_dir)
        write_pts(out_dir / pts_name(s.image, s.face), s.points)
    return out_dir
