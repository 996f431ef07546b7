"""In-memory records shared by every format reader/writer and by the store.

Conventions (the whole project's):
    points      float32 (K, 2), x then y, 0-based image pixels (pixel centres at integers).
    visibility  int8 (K,), COCO convention: 2 visible, 1 labelled but occluded, 0 outside / not labelled.
    pose        float32 (3,), yaw, pitch, roll in degrees.
    box         float32 (4,), x0, y0, x1, y1 in pixels (a face box; optional).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VISIBLE, OCCLUDED, OUTSIDE = 2, 1, 0


@dataclass
class Sample:
    """One annotated face.

    Attributes:
        image: the image path relative to the dataset root, with forward slashes.
        points: (K, 2) float32 landmarks, x, y, 0-based pixels. Never clipped or rounded by a reader.
        schema: name of the landmark schema (see ``asmnet_studio.datasets.schemas.SCHEMAS``), e.g. ``"ibug68"``.
        visibility: (K,) int8 or None (None means all visible).
        pose: (3,) float32 yaw, pitch, roll degrees, or None.
        box: (4,) float32 x0, y0, x1, y1 face box, or None.
        split: e.g. "train" / "test" (from ``split.csv`` or the format), or None.
        subset: e.g. 300-W "common" / "challenging" / "private", or None.
        attributes: format-specific flags, e.g. WFLW's pose/expression/illumination/make-up/occlusion/blur.
        flags: problems noticed but kept as data, e.g. "point 3 outside the image" (readers never clip).
        source_file: the annotation file this came from (for messages).
        face: index of this face within its image (0 unless one image has several faces).
    """

    image: str
    points: np.ndarray
    schema: str = "ibug68"
    visibility: np.ndarray | None = None
    pose: np.ndarray | None = None
    box: np.ndarray | None = None
    split: str | None = None
    subset: str | None = None
    attributes: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    source_file: str | None = None
    face: int = 0

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])


@dataclass
class Problem:
    """Something a reader or an import skipped, with a message naming the file and place.

    ``line`` (1-based) and ``point`` (0-based landmark index) are set when the reader knows them.
    """

    path: str
    message: str
    line: int | None = None
    point: int | None = None

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message if self.message.startswith(self.path) else f"{self.path}: {self.message}"


#: columns of a problem report (CSV, UTF-8): ``asmnet import --report``, the app's start-up import and upload reports
REPORT_COLUMNS = ("kind", "file", "line", "point", "message")


def write_report_csv(path: str | Path, rows) -> int:
    """Write ``rows`` (sequences in ``REPORT_COLUMNS`` order) as a problem report at ``path``, through a temporary
    file moved into place (``asmnet_studio.datasets.formats._common.atomic_write_text``: a reader never sees half a
    report); returns the number of rows."""
    import csv
    import io

    from asmnet_studio.datasets.formats._common import atomic_write_text

    rows = list(rows)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(REPORT_COLUMNS)
    w.writerows(rows)
    atomic_write_text(Path(path), buf.getvalue())
    return len(rows)


@dataclass
class Dataset:
    """The result of reading a dataset folder.

    Attributes:
        root: the dataset folder; ``root / sample.image`` is each image file.
        format: the format name it was read with (``"pts"``, ``"aflw2000"`` ...).
        schema: landmark schema name shared by all samples.
        samples: the faces that were read.
        problems: what was skipped, each naming the file and place; the rest of the read goes on.
    """

    root: Path
    format: str
    schema: str
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def split(self, name: str | None) -> "Dataset":
        """The samples of one split (``None`` returns self)."""
        if name is None:
            return self
        return Dataset(self.root, self.format, self.schema, [s for s in self.samples if s.split == name],
                       list(self.problems))

    def __len__(self) -> int:
        return len(self.samples)
