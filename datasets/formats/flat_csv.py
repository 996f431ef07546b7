"""Flat CSV: one face per row, ``image, x0, y0, ..., x(K-1), y(K-1) [, yaw, pitch, roll]``.

Example: YouTube-Faces ``training_frames_keypoints.csv`` (udacity P1_Facial_Keypoints) with the images in
``training/``. Columns named ``x<i>`` / ``y<i>`` are matched by index; otherwise the coordinate columns
are taken as (x, y) pairs in order. Optional columns: ``yaw``, ``pitch``, ``roll`` (degrees, all three),
``v<i>`` (visibility 0/1/2 per point), ``split``, ``subset``. K comes from the header; the schema from K
where only one schema has K points (68 -> ibug68), else the read fails unless ``schema=`` is given.

The reader takes the dataset folder (holding ``landmarks.csv``, or exactly one other ``*.csv`` besides
``split.csv`` / ``subsets.csv``) or the CSV file itself; each image is looked up relative to that folder,
then in its ``training/`` subfolder, and ``sample.image`` is the path that exists (e.g.
``training/Luis_Fonsi_21.jpg``). Several rows for one image are several faces. Values are kept as read
(float32, never rounded); bad rows become problems naming the file, line and point.
The writer writes ``landmarks.csv`` (image paths relative to ``out_dir``) and copies the images.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats._common import (image_name_problem, parse_float, short, find_single_file,
                                                    locate_listed_image,
                                                    atomic_write_text, check_writable, copy_image, flag_points,
                                                    format_float, problem)
from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.sample import Dataset, Sample
from asmnet_studio.datasets.schemas import get_schema, schema_for_points

NAME = "csv"
FILE_NAME = "landmarks.csv"
IMAGE_SUBDIRS = ("", "training")
_IGNORED = {"split.csv", "subsets.csv"}
_POSE = ("yaw", "pitch", "roll")
_XY = re.compile(r"^([xy])_?(\d+)$", re.IGNORECASE)
_VIS = re.compile(r"^v_?(\d+)$", re.IGNORECASE)


def _csv_path(root: Path) -> tuple[Path, Path]:
    """(csv file, dataset root) for a folder or a file; FormatError when not exactly one candidate."""
    return find_single_file(root, FILE_NAME, "*.csv", "landmark *.csv", frozenset(_IGNORED))


class _Columns:
    """Where each value sits in a row, worked out from the header."""

    def __init__(self, header: list[str], path: Path):
        names = [h.strip() for h in header]
        low = [n.lower() for n in names]
        self.pose = [low.index(p) for p in _POSE] if all(p in low for p in _POSE) else None
        if any(p in low for p in _POSE) and self.pose is None:
            raise FormatError(path, f"pose needs all of {_POSE}, found {[p for p in _POSE if p in low]}", line=1)
        self.split = low.index("split") if "split" in low else None
        self.subset = low.index("subset") if "subset" in low else None
        extra = set(self.pose or ()) | {c for c in (self.split, self.subset) if c is not None}
        vis = {int(m.group(1)): i for i, n in enumerate(names) if (m := _VIS.match(n))}
        extra |= set(vis.values())
        coord = [i for i in range(1, len(names)) if i not in extra]
        if len(coord) % 2 or not coord:
            raise FormatError(path, f"expected an even number of coordinate columns (x, y pairs) after the image "
                                    f"column, found {len(coord)}", line=1)
        xy = {(m.group(1).lower(), int(m.group(2))): i for i in coord if (m := _XY.match(names[i]))}
        if xy and len(xy) == len(coord):
            k = len(coord) // 2
            missing = [f"{a}{j}" for j in range(k) for a in "xy" if (a, j) not in xy]
            if missing:
                raise FormatError(path, f"coordinate columns must be x0, y0 ... x{k - 1}, y{k - 1}; "
                                        f"missing {missing[:5]}", line=1)
            self.x = [xy[("x", j)] for j in range(k)]
            self.y = [xy[("y", j)] for j in range(k)]
        else:
            self.x, self.y = coord[0::2], coord[1::2]
        self.k = len(self.x)
        self.vis = None
        if vis:
            if sorted(vis) != list(range(self.k)):
                raise FormatError(path, f"visibility columns must be v0 ... v{self.k - 1}", line=1)
            self.vis = [vis[j] for j in range(self.k)]
        self.width = len(names)


def _parse_row(row: list[str], cols: _Columns, path: Path, line: int):
    if len(row) != cols.width:
        raise FormatError(path, f"expected {cols.width} fields, found {len(row)}", line=line)
    pts = np.empty((cols.k, 2), dtype=np.float64)
    for j, (cx, cy) in enumerate(zip(cols.x, cols.y)):
        for a, c in ((0, cx), (1, cy)):
            t = row[c].strip()
            if not t:
                raise FormatError(path, f"missing {'xy'[a]} value", line=line, point=j)
            try:
                v = parse_float(t)
            except ValueError:
                raise FormatError(path, f"{'xy'[a]} value {short(t)} is not a number", line=line, point=j) from None
            if not math.isfinite(v):
                raise FormatError(path, f"non-finite {'xy'[a]} value {t!r}", line=line, point=j)
            pts[j, a] = v
    pose = None
    if cols.pose is not None:
        try:
            pose = np.array([parse_float(row[c]) for c in cols.pose], dtype=np.float64)
        except ValueError:
            raise FormatError(path, f"pose values {short([row[c] for c in cols.pose])} are not numbers",
                              line=line) from None
        if not np.isfinite(pose).all():
            raise FormatError(path, f"non-finite pose {pose.tolist()}", line=line)
        pose = pose.astype(np.float32)
    vis = None
    if cols.vis is not None:
        vals = [row[c].strip() for c in cols.vis]
        for j, t in enumerate(vals):
            if t not in ("0", "1", "2"):
                raise FormatError(path, f"visibility must be 0, 1 or 2, found {short(t)}", line=line, point=j)
        vis = np.array([int(t) for t in vals], dtype=np.int8)
    return pts.astype(np.float32), pose, vis


def _rows(rows, path: Path, ds: Dataset):
    """The CSV rows; a row the csv module cannot parse (a field over its size limit ...) becomes a problem
    naming the file and row, and reading goes on with the next row (an empty row keeps the numbering)."""
    n = 1
    while True:
        n += 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            ds.problems.append(problem(FormatError(path, f"unreadable CSV row ({exc})", line=n)))
            yield []
            continue
        yield row


def read(root: Path, *, schema: str | None = None) -> Dataset:
    """Read a flat landmark CSV (see the module docstring)."""
    csv_path, base = _csv_path(Path(root))
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(csv_path, "not a CSV text file (not UTF-8)") from None
    if "\x00" in text:
        raise FormatError(csv_path, "not a CSV text file (binary content)")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header:
        raise FormatError(csv_path, "empty file: expected a header 'image,x0,y0,...'", line=1)
    cols = _Columns(header, csv_path)
    if schema is None:
        try:
            schema = schema_for_points(cols.k)
        except ValueError as exc:
            raise FormatError(csv_path, f"{exc} (from the {cols.k} x/y column pairs of the header)", line=1) from None
    elif get_schema(schema).num_points != cols.k:
        raise FormatError(csv_path, f"schema {schema} has {get_schema(schema).num_points} points, the header "
                                    f"has {cols.k}", line=1)
    ds = Dataset(root=base, format=NAME, schema=schema)
    faces: Counter = Counter()
    for line_no, row in enumerate(_rows(rows, csv_path, ds), start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            name = row[0]  # kept as written: " a.jpg" and "a.jpg" are different files
            if not name.strip():
                raise FormatError(csv_path, "missing image name", line=line_no)
            try:
                rel = relative_name(name, folder=base)
            except ValueError as exc:
                raise FormatError(csv_path, str(exc), line=line_no) from None
            why = image_name_problem(base, rel.as_posix())
            if why and "no image file extension" in why:
                raise FormatError(csv_path, why, line=line_no)
            points, pose, vis = _parse_row(row, cols, csv_path, line_no)
        except FormatError as exc:
            ds.problems.append(problem(exc))
            continue
        image, missing = locate_listed_image(base, IMAGE_SUBDIRS, rel, name, csv_path, line_no)
        if missing:
            ds.problems.append(missing)
            continue
        s = Sample(image=image, points=points, schema=schema, visibility=vis, pose=pose,
                   split=row[cols.split].strip() or None if cols.split is not None else None,
                   subset=row[cols.subset].strip() or None if cols.subset is not None else None,
                   source_file=f"{csv_path}:{line_no}", face=faces[image])
        faces[image] += 1
        flag_points(s, base / image)
        ds.samples.append(s)
    return ds


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write ``out_dir / landmarks.csv`` and copies of the images; returns the CSV path.

    Pose columns are written when any sample has a pose (samples without one get empty cells, which the
    reader refuses, so all samples must then have one), visibility columns when any sample has visibility.
    """
    out_dir = Path(out_dir)
    k = get_schema(dataset.schema).num_points
    check_writable(dataset, NAME, num_points=k)
    with_pose = any(s.pose is not None for s in dataset.samples)
    if with_pose and not all(s.pose is not None for s in dataset.samples):
        missing = next(s for s in dataset.samples if s.pose is None)
        raise FormatError(missing.source_file or missing.image, "some samples have a pose and this one has none; "
                                                                "the CSV needs a pose for all or none")
    with_vis = any(s.visibility is not None for s in dataset.samples)
    with_split = any(s.split for s in dataset.samples)
    with_subset = any(s.subset for s in dataset.samples)
    header = ["image"] + [f"{a}{j}" for j in range(k) for a in "xy"]
    header += list(_POSE) if with_pose else []
    header += [f"v{j}" for j in range(k)] if with_vis else []
    header += ["split"] if with_split else []
    header += ["subset"] if with_subset else []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for s in sorted(dataset.samples, key=lambda s: (s.image, s.face)):
        copy_image(dataset, s, out_dir)
        row = [relative_name(s.image).as_posix()] + [format_float(v) for v in np.asarray(s.points).ravel()]
        if with_pose:
            row += [format_float(v) for v in s.pose]
        if with_vis:
            vis = s.visibility if s.visibility is not None else np.full(k, 2)
            row += [str(int(v)) for v in vis]
        if with_split:
            row.append(s.split or "")
        if with_subset:
            row.append(s.subset or "")
        w.writerow(row)
    return atomic_write_text(out_dir / FILE_NAME, buf.getvalue())
