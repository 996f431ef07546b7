"""The workspace's vocabulary: the choices its columns take (sources, statuses, box sources), its
records (images, annotations, models, predictions, import reports) and its not-found error.
Plain data: nothing here touches SQLite."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from asmnet_studio.datasets.errors import StoreError
from asmnet_studio.datasets.sample import Problem

#: Where an annotation came from.
SOURCES: tuple[str, ...] = ("ground_truth", "prediction", "correction")
#: Workflow state of an annotation (an image's status is its latest annotation's; "todo" when none).
STATUSES: tuple[str, ...] = ("todo", "in_progress", "done", "reviewed")
#: Sources an export may use: the latest correction of an image if any, else its latest ground truth.
ACCEPTED_SOURCES: tuple[str, ...] = ("correction", "ground_truth")
#: Where an annotation's pose came from: a dataset's ground truth, a model's estimate, or no pose at all.
POSE_SOURCES: tuple[str, ...] = ("ground_truth", "model", "none")
#: Where a face's box came from: the dataset, the face detector, a person, or "not_found" (the detector
#: ran and found no face: the box is empty and the face waits for a person to draw one).
BOX_SOURCES: tuple[str, ...] = ("dataset", "detector", "hand", "not_found")

#: ``progress(done, total)`` of a long import.
ProgressCallback = Callable[[int, int], None]


class NotFoundError(StoreError, KeyError):
    """An image, model or annotation id that is not in the workspace."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclass
class ImageRecord:
    """One image of the workspace.

    Attributes:
        id: workspace id.
        path: absolute path of the image file (the workspace references images, it does not copy them).
        sha256: hex digest of the file content (images are deduplicated by it).
        width, height: size in pixels.
        dataset, split, subset: where it came from (e.g. "aflw2000", "test", "challenging"), or None.
        tags: free labels.
        box: (4,) float32 x0, y0, x1, y1 face box in pixels, or None.
        name: path relative to ``root`` with forward slashes (the name an export writes it under).
        root: the folder ``name`` is relative to (the dataset root it was imported from).
        face: index of this face within its picture (0, 1, ...); the faces of one picture share path,
            sha256 and size (``Workspace.faces_of``).
        box_source: one of ``BOX_SOURCES`` or None (unknown: written before schema version 3).
    """

    id: int
    path: Path
    sha256: str
    width: int
    height: int
    dataset: str | None = None
    split: str | None = None
    subset: str | None = None
    tags: list[str] = field(default_factory=list)
    box: np.ndarray | None = None
    name: str = ""
    root: Path | None = None
    face: int = 0
    box_source: str | None = None


@dataclass
class Annotation:
    """One saved version of an image's landmarks (never updated; a new save is a new version).

    Attributes:
        id: row id.
        image_id: the image.
        version: 1, 2, ... per image, contiguous.
        author: who saved it.
        created_at: ISO-8601 UTC time of the save, e.g. "2026-11-24T14:15:26.123456+00:00".
        source: one of ``SOURCES``.
        status: one of ``STATUSES``.
        points: (K, 2) float32 x, y, 0-based pixels.
        visibility: (K,) int8 (2 visible / 1 occluded / 0 outside) or None (all visible).
        pose: (3,) float32 yaw, pitch, roll degrees, or None.
        schema: landmark schema name, e.g. "ibug68".
        note: free text or None.
        base_version: the version this save was based on (None for a first annotation).
        placed: (K,) bool, True for each point a person placed by hand (all False: none; also for ground
            truth and for annotations saved before schema version 5 whose note did not list any).
        pose_source: where ``pose`` came from, one of ``POSE_SOURCES`` ("none" exactly when pose is None).
    """

    id: int
    image_id: int
    version: int
    author: str
    created_at: str
    source: str
    status: str
    points: np.ndarray
    visibility: np.ndarray | None = None
    pose: np.ndarray | None = None
    schema: str = "ibug68"
    note: str | None = None
    base_version: int | None = None
    placed: np.ndarray | None = None
    pose_source: str = "none"


@dataclass
class ModelRecord:
    """A registered model version: name, checkpoint path, its sha256, model card (dict), created_at (UTC)."""

    id: int
    name: str
    checkpoint: str
    sha256: str
    card: dict
    created_at: str


@dataclass
class PredictionRow:
    """A model's output for one image.

    Attributes:
        image_id, model_id: workspace ids.
        points: (K, 2) float32 x, y pixels.
        pose: (3,) float32 yaw, pitch, roll degrees, or None.
        confidence: (K,) float32 per-point confidence.
        box: (4,) float32 x0, y0, x1, y1 face box used, or None.
        uncertainty: face-level uncertainty (NaN when unknown).
        id, created_at: set by the store when read back.
    """

    image_id: int
    model_id: int
    points: np.ndarray
    pose: np.ndarray | None
    confidence: np.ndarray
    box: np.ndarray | None = None
    uncertainty: float = float("nan")
    id: int | None = None
    created_at: str | None = None


@dataclass
class ImportReport:
    """What ``Workspace.import_dataset`` did.

    Attributes:
        added: samples whose image and ground truth were added now.
        present: samples whose image (same content) was already in the workspace; nothing added.
        skipped: samples not imported (missing / empty / corrupt image ...), each naming the file and the
            reason.
        problems: what the dataset reader itself skipped (copied from ``Dataset.problems``).
        image_ids: the workspace (face) id of every added or present sample, in sample order.
        flags: what was noticed and kept as it is, naming the file (``import_images``: an image's EXIF
            orientation, never applied); a dataset's own flags are its samples' ``Sample.flags``.
    """

    added: int = 0
    present: int = 0
    skipped: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)
    flags: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        """One line: added / already present / skipped / reader problems."""
        return (f"added {self.added}, already present {self.present}, skipped {len(self.skipped)}"
                f", reader problems {len(self.problems)}")
