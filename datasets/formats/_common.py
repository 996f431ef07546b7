"""Small helpers shared by the format modules: number formatting, atomic writes, image copies
(names checked by ``asmnet_studio.datasets.paths``), finding the image beside an annotation, and flagging points
outside the image."""
from __future__ import annotations

import decimal
import os
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath

import numpy as np

from asmnet_studio.datasets.errors import FormatError, ImageError
from asmnet_studio.datasets.images import IMAGE_SUFFIXES, image_header
from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.sample import Dataset, Problem, Sample


_DEC = decimal.Context(prec=120)

#: A plain decimal number in ASCII (optionally signed, with exponent), or nan / inf / infinity. Python's
#: float() also takes "1_000" and non-ASCII digits (Arabic-Indic ...): a dataset file must not.
_NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)\s*\Z",
                     re.IGNORECASE)


def short(text, limit: int = 120) -> str:
    """``repr(text)`` cut to ``limit`` characters (a bad 800 KB line is not quoted whole in a report)."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit]}... ({len(str(text))} characters)"


def parse_float(text: str, offset: float = 0.0) -> float:
    """``float(text) - offset`` computed exactly in decimal before rounding to float64.

    For ``offset`` 0 this is plain ``float`` on a strict number syntax (ASCII digits, no ``_``). With an
    offset (1.0 for the 1-based ``.pts``) the exact decimal subtraction keeps tiny values exact
    (``1.00000000012 - 1`` would lose bits in float64). Raises ValueError when ``text`` is not a number.
    """
    if not isinstance(text, str) or len(text) > 400 or not _NUMBER.match(text):
        raise ValueError(f"not a number: {short(text, 60)}")
    if not offset:
        return float(text)
    try:
        d = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not d.is_finite():
        return float(d)
    return float(_DEC.subtract(d, _DEC.create_decimal(offset)))


def format_float(value: float, offset: float = 0.0) -> str:
    """The shortest decimal text ``s`` with ``float32(parse_float(s, offset)) == float32(value)``.

    ``offset`` is what the matching reader subtracts (1.0 for the 1-based ``.pts`` files), so that a
    write followed by a read gives back the same float32 bits.
    """
    target = np.float32(value)
    if not np.isfinite(target):
        raise ValueError(f"cannot write the non-finite coordinate {value!r}")
    if not offset:
        disk = float(target)
        for digits in range(6, 18):
            s = f"{disk:.{digits}g}"
            if np.float32(float(s)) == target:
                return s if ("e" in s or "." in s or "n" in s) else s + ".0"
        return repr(disk)
    exact = _DEC.add(decimal.Decimal(float(target)), _DEC.create_decimal(offset))  # exact: prec 120
    for digits in range(6, 40):
        s = f"{exact:.{digits}g}"
        if np.float32(parse_float(s, offset)) == target:
            return s if ("e" in s.lower() or "." in s) else s + ".0"
    return str(exact)


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (same folder, so os.replace is atomic).

    Files created there with ``open(..., "x")`` get the usual permissions (umask), unlike mkstemp's 0600.
    """
    # a fixed-length name: a 240-character file name must not make its temporary name too long
    return Path(path).with_name(f".asmnet-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def atomic_write_bytes(path: Path, write) -> Path:
    """Create ``path`` atomically: ``write(binary file)`` fills a temporary file that then replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and os.replace."""
    data = text.encode("utf-8")
    return atomic_write_bytes(path, lambda fh: fh.write(data))


def copy_image(dataset: Dataset, sample: Sample, out_dir: Path, rel: PurePosixPath | None = None) -> Path:
    """Copy the sample's image to ``out_dir / rel`` (default: ``sample.image``) atomically; returns the target.

    Nothing is copied when source and target are the same file. ImageError when the source is missing.
    """
    rel = relative_name(sample.image) if rel is None else rel
    src = Path(dataset.root) / relative_name(sample.image, folder=dataset.root)
    dst = Path(out_dir) / rel
    if not src.is_file():
        raise ImageError(src, "image file not found (needed to write the dataset)")
    if dst.exists() and dst.resolve() == src.resolve():
        return dst
    def copy(fh):
        with open(src, "rb") as fin:
            shutil.copyfileobj(fin, fh, 1 << 20)

    return atomic_write_bytes(dst, copy)


def find_image(stem_path: Path) -> Path | None:
    """The image file ``stem_path.<suffix>`` for a known image suffix (any letter case), or None."""
    parent = stem_path.parent
    for suf in IMAGE_SUFFIXES:
        for cand in (stem_path.with_name(stem_path.name + suf), stem_path.with_name(stem_path.name + suf.upper())):
            if cand.is_file():
                return cand
    if parent.is_dir():  # mixed-case suffixes such as .Jpg
        for cand in parent.glob(stem_path.name + ".*"):
            if cand.suffix.lower() in IMAGE_SUFFIXES and cand.is_file():
                return cand
    return None


def image_name_problem(root: Path, rel: str) -> str | None:
    """Why the image ``rel`` (relative to the dataset folder ``root``) is not imported, or None when it is
    fine: a name without an image extension (``IMAGE_SUFFIXES``; a file named ``x.html`` would otherwise be
    kept and could be served as a page). Paths leading out of the folder are the store's check (skipped
    there one by one, see ``Workspace.import_dataset``)."""
    suffix = PurePosixPath(str(rel).replace("\\", "/")).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return (f"image {short(str(rel), 200)} has no image file extension ({'/'.join(IMAGE_SUFFIXES)}); "
                "not imported")
    return None


def locate_listed_image(root: Path, folders, rel, name: str, listing: Path, line_no: int,
                        ) -> tuple[str | None, Problem | None]:
    """The image an annotation line names, as ``(posix path relative to root, None)``, or ``(None, problem)``.

    Args:
        root: the dataset folder.
        folders: sub-folders of ``root`` to look in, in order (``""`` is ``root`` itself).
        rel: the image's relative path as listed (already checked by ``datasets.paths.relative_name``).
        name: the name as written in the file (quoted short in the problem).
        listing: the annotation file, and ``line_no`` its 1-based line, named in the problem.
    """
    for folder in folders:
        cand = PurePosixPath(folder) / PurePosixPath(rel) if folder else PurePosixPath(rel)
        if (root / cand).is_file():
            image = cand.as_posix()
            break
    else:
        where = " or ".join(str(root / folder) if folder else str(root) for folder in folders)
        return None, Problem(str(listing), f"{listing}, line {line_no}: image {short(name)} not found in {where}",
                             line=line_no)
    why = image_name_problem(root, image)
    if why:
        return None, Problem(str(listing), f"{listing}, line {line_no}: {why}", line=line_no)
    return image, None


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def check_points(path: str | Path, points: np.ndarray, *, line: int | None = None) -> None:
    """FormatError naming ``path``, ``line`` and the first point with a NaN or infinite coordinate."""
    bad = np.where(~np.isfinite(points).all(axis=1))[0]
    if bad.size:
        i = int(bad[0])
        raise FormatError(path, f"non-finite coordinate ({points[i, 0]}, {points[i, 1]})", line=line, point=i)


def flag_points(sample: Sample, image_path: Path | None) -> None:
    """Append to ``sample.flags`` the points outside the image (kept as they are, never clipped).

    A point is outside when x < 0 or y < 0, or x > w - 1 or y > h - 1 (beyond the outermost pixel
    centres). Points whose visibility is 0 (not labelled) are not checked. When the image size cannot
    be read, only negative coordinates are flagged and a flag says why. An image with a non-trivial
    EXIF orientation is flagged too (nothing is rotated).
    """
    pts = sample.points
    check = np.ones(len(pts), dtype=bool) if sample.visibility is None else np.asarray(sample.visibility) != 0
    size = None
    if image_path is not None:
        try:
            w, h, orientation = image_header(image_path)
            size = (w, h)
            if orientation != 1:
                sample.flags.append(f"image has EXIF orientation {orientation}: not applied, the points refer "
                                    "to the stored pixels")
        except ImageError as exc:
            sample.flags.append(f"image unreadable: {exc.reason}")
    neg = check & ((pts[:, 0] < 0) | (pts[:, 1] < 0))
    if size is None:
        if neg.any():
            sample.flags.append("negative coordinates at points: " + ", ".join(map(str, np.where(neg)[0])))
        return
    w, h = size
    out = neg | (check & ((pts[:, 0] > w - 1) | (pts[:, 1] > h - 1)))
    if out.any():
        sample.flags.append(f"points outside the {w}x{h} image: " + ", ".join(map(str, np.where(out)[0])))


def problem(exc: FormatError | ImageError) -> Problem:
    """A Problem record from a FormatError / ImageError (message names file, line and point)."""
    return Problem(exc.path, str(exc), line=getattr(exc, "line", None), point=getattr(exc, "point", None))


def check_writable(dataset: Dataset, fmt: str, *, num_points: int | None = None) -> None:
    """FormatError when a sample cannot be written: wrong shape, non-finite coordinates."""
    for s in dataset.samples:
        pts = np.asarray(s.points)
        where = s.source_file or s.image
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise FormatError(where, f"{fmt}: points must be (K, 2), found {pts.shape}")
        if num_points is not None and pts.shape[0] != num_points:
            raise FormatError(where, f"{fmt} needs {num_points} points, found {pts.shape[0]}")
        check_points(where, pts.astype(np.float64))


def find_single_file(root: Path, file_name: str, pattern: str, what: str,
                     ignored: frozenset[str] = frozenset()) -> tuple[Path, Path]:
    """(annotation file, dataset root) for a dataset given as a folder or as the file itself.

    In a folder, ``file_name`` wins; otherwise exactly one file matching ``pattern`` (names in ``ignored``,
    lower-case, left out) must exist. FormatError naming the folder otherwise; ``what`` describes the file
    in that message (e.g. "landmark *.csv").
    """
    if root.is_file():
        return root, root.parent
    if not root.is_dir():
        raise FormatError(root, "dataset folder does not exist")
    if (root / file_name).is_file():
        return root / file_name, root
    found = sorted(p for p in root.glob(pattern) if p.is_file() and p.name.lower() not in ignored)
    if len(found) != 1:
        raise FormatError(root, f"expected one {what}, found {len(found)} {[p.name for p in found]}; "
                                f"name it {file_name} or pass the file")
    return found[0], root
