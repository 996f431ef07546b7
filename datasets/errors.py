"""The few named exceptions of the data layer.

Every message names *what* and *where*: the file, and the line or point index where that is known.
"""
from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Base class of the data layer's errors."""


class FormatError(DataError, ValueError):
    """A dataset file does not follow its format.

    Attributes:
        path: the offending file.
        line: 1-based line number in that file, when the format is line-based.
        point: 0-based landmark index, when one point is at fault.
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, point: int | None = None):
        self.path = str(path)
        self.line = line
        self.point = point
        where = self.path
        if line is not None:
            where += f", line {line}"
        if point is not None:
            where += f", point {point}"
        self.reason = message
        super().__init__(f"{where}: {message}")


class ImageError(DataError, ValueError):
    """An image file cannot be used (missing, corrupt, truncated, not an image, too large)."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


class ConflictError(DataError):
    """A save was based on an annotation version that is no longer the latest.

    Attributes:
        image_id: the image concerned.
        expected: the version the caller based its edit on.
        actual: the latest version in the store.
    """

    def __init__(self, image_id: int, expected: int | None, actual: int | None, author: str | None = None):
        self.image_id = image_id
        self.expected = expected
        self.actual = actual
        self.author = author
        by = f" by {author}" if author else ""
        super().__init__(
            f"image {image_id}: this edit was based on version {expected}, but version {actual}{by} "
            "was saved since; reload the image to see it (nothing was overwritten)"
        )


class StoreError(DataError):
    """The workspace file cannot be opened or used (not a workspace, newer schema, path escape ...)."""


class UnsafePathError(StoreError, ValueError):
    """A path would escape the folder it must stay in (``..``, absolute path, symlink)."""
