"""Validation of what is written into a workspace: landmark arrays, vectors, choices, texts, ids, and
image files (content hash and size). Every error names the point, element or file at fault."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from asmnet_studio.datasets.store.records import STATUSES


def _as_float32(value, what: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(value).astype(np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric, found {type(value).__name__}") from None


def check_points(points, what: str = "points") -> np.ndarray:
    """``points`` as a (K, 2) float32 array; ValueError naming the first non-finite point index."""
    arr = _as_float32(points, what)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must have shape (K, 2) with K >= 1, found {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}: point {i} is not finite as float32: ({arr[i, 0]}, {arr[i, 1]})")
    return arr


def check_vector(value, n: int, what: str) -> np.ndarray | None:
    """``value`` as a finite float32 (n,) array, or None."""
    if value is None:
        return None
    arr = _as_float32(value, what)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), found {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{what}: element {int(bad[0])} is not finite ({arr[bad[0]]})")
    return arr


def check_visibility(visibility, k: int) -> np.ndarray | None:
    """(K,) int8 with values 0 / 1 / 2, or None; ValueError naming the first bad point index."""
    if visibility is None:
        return None
    arr = np.asarray(visibility)
    if arr.shape != (k,):
        raise ValueError(f"visibility must have shape ({k},) to match the points, found {arr.shape}")
    bad = np.flatnonzero(~np.isin(arr, (0, 1, 2)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"visibility of point {i} is {arr[i]!r}; "
                         "valid values are 0 (outside), 1 (occluded), 2 (visible)")
    return arr.astype(np.int8)


def check_placed(placed, k: int) -> np.ndarray | None:
    """Which of K points a person placed by hand, given as a (K,) bool mask or as point indices, as a (K,)
    bool mask; None when none is (or ``placed`` is None). ValueError naming a bad index or shape."""
    if placed is None:
        return None
    arr = np.asarray(placed)
    if arr.dtype == bool:
        if arr.shape != (k,):
            raise ValueError(f"placed must be a ({k},) bool mask or point indices, found a mask of shape {arr.shape}")
        mask = arr.copy()
    else:
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"placed must be a ({k},) bool mask or point indices, found {arr.dtype} {arr.shape}")
        bad = arr[(arr < 0) | (arr >= k)]
        if bad.size:
            raise ValueError(f"placed: point index {int(bad[0])} is outside 0..{k - 1}")
        mask = np.zeros(k, bool)
        mask[arr.astype(np.int64)] = True
    return mask if mask.any() else None


def check_choice(value, choices: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``choices``; ValueError listing them otherwise."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {list(choices)}")
    return value


def parse_statuses(statuses: str | Iterable[str] | None,
                   default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """Workflow statuses given as ``"done,reviewed"`` (a comma-separated string, blanks ignored) or as an
    iterable, each checked against ``STATUSES``; ``default`` when None. ValueError naming an unknown status
    or when none is given."""
    if statuses is None:
        return default
    if isinstance(statuses, str):
        statuses = [s.strip() for s in statuses.split(",") if s.strip()]
    out = tuple(check_choice(s, STATUSES, "status") for s in statuses)
    if not out:
        raise ValueError(f"no status given; choose from {list(STATUSES)}")
    return out


def check_text(value, what: str, *, optional: bool = False) -> str | None:
    """A non-empty string (or None when ``optional``); ValueError otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise ValueError(f"{what} must be a non-empty string, found {value!r}")
    return value


def check_schema(schema: str, k: int) -> str:
    """A schema name; when it is a registered schema, K must match its point count."""
    check_text(schema, "schema")
    from asmnet_studio.datasets.schemas import SCHEMAS

    known = SCHEMAS.get(schema)
    if known is not None and known.num_points != k:
        raise ValueError(f"schema {schema!r} has {known.num_points} points, but {k} were given")
    return schema


def check_int_id(value, what: str) -> int:
    """An integer id (not a bool); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer id, found {value!r}")
    return int(value)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def inspect_image(path: str | Path, pixels: np.ndarray | None = None) -> tuple[str, int, int]:
    """(sha256, width, height) of an image file; ImageError naming the file when it is missing, empty,
    corrupt, truncated, not an image or too large (the whole image is decoded once to find out).

    ``pixels``: the caller's ``load_image(path)`` (H, W, 3) when it decoded the file already; then only the
    header is read, and it must match the pixels' size."""
    from asmnet_studio.datasets.errors import ImageError
    from asmnet_studio.datasets.images import image_size, load_image

    if pixels is None:
        load_image(path)
    width, height = image_size(path)
    if pixels is not None and tuple(np.shape(pixels)[:2]) != (height, width):
        raise ImageError(path, f"the decoded pixels {np.shape(pixels)} are not the file's {width}x{height}")
    return sha256_file(path), int(width), int(height)
