"""Training samples from a workspace: the faces people accepted, as a ``Dataset`` the training loop reads.

    ws = Workspace("project.db")
    ds = workspace_dataset(ws, statuses=("done", "reviewed"))      # -> asmnet_studio.datasets.sample.Dataset
    ds = merge_datasets(ds, read_dataset(base_dir, "aflw2000", split="train"))   # optional base data

What counts as accepted is the store's rule (``Workspace.accepted``, the same rule ``export_dataset``
uses): for each image, its latest *correction* if it has one, else its latest *ground truth*; kept only
when that annotation's status is one of ``statuses`` (default done / reviewed). So an imported ground
truth trains the model once a person marks it done (or imports it as done), a correction replaces the
ground truth of its image, and an image whose latest correction is still ``in_progress`` is left out
(its earlier, finished version too: the person is changing it).

Images are referenced where they are (absolute paths); the ``Dataset`` root is their common folder and
every sample names its image relative to it. ``Sample.source_file`` is ``"<workspace>#image=ID,version=V"``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from asmnet_studio.datasets.sample import Dataset, Sample
from asmnet_studio.datasets.store import Workspace, parse_statuses

#: statuses whose annotations count as accepted by default
ACCEPTED_STATUSES: tuple[str, ...] = ("done", "reviewed")


@dataclass
class WorkspaceData:
    """What ``workspace_samples`` found.

    Attributes:
        dataset: the accepted faces as a ``Dataset`` (format ``"workspace"``).
        image_ids: workspace image id of each sample, in sample order.
        versions: annotation version of each sample.
        sources: annotation source of each sample (``correction`` / ``ground_truth``).
        left_out: (image_id, reason) of accepted annotations that cannot be trained on (missing file,
            another landmark schema).
    """

    dataset: Dataset
    image_ids: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    left_out: list[tuple[int, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """{"faces", "corrections", "ground_truth", "left_out"}."""
        return {"faces": len(self.image_ids), "corrections": self.sources.count("correction"),
                "ground_truth": self.sources.count("ground_truth"), "left_out": len(self.left_out)}


def _common_root(paths: Sequence[Path]) -> Path:
    if not paths:
        return Path(".")
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def _label_pose(ws: Workspace, image_id: int, ann) -> np.ndarray | None:
    """(3,) float32 pose label of an accepted annotation, or None: only a ground-truth pose is a label. A
    correction takes its image's latest ground-truth pose (dragging points does not change the head's pose);
    a pose stored with a correction by older versions of the annotator was the model's own estimate and is
    never trained on."""
    src = ann if ann.source == "ground_truth" else ws.latest(image_id, source="ground_truth")
    return None if src is None or src.pose is None else np.asarray(src.pose, np.float32)


def workspace_samples(ws: Workspace, statuses: str | Iterable[str] | None = ACCEPTED_STATUSES, *,
                      schema: str = "ibug68", image_ids: Iterable[int] | None = None) -> WorkspaceData:
    """The accepted faces of ``ws`` as training samples (see the module docstring for the rule).

    Args:
        statuses: statuses that count as accepted (a comma-separated string or a sequence; default
            done, reviewed); ValueError listing the valid ones for an unknown status.
        schema: landmark schema to keep (the network's); annotations of other schemas are left out.
        image_ids: only these images (default: every image).
    Returns:
        ``WorkspaceData`` with the ``Dataset`` (one sample per image, in image-id order).
    """
    wanted = None if image_ids is None else {int(i) for i in image_ids}
    pairs = ws.accepted(statuses=parse_statuses(statuses, ACCEPTED_STATUSES))
    kept, left_out = [], []
    for img, ann in pairs:
        if wanted is not None and img.id not in wanted:
            continue
        if ann.schema != schema:
            left_out.append((img.id, f"schema {ann.schema!r}, not {schema!r}"))
        elif not Path(img.path).is_file():
            left_out.append((img.id, f"image file missing: {img.path}"))
        else:
            kept.append((img, ann))
    files = [Path(os.path.abspath(img.path)) for img, _ in kept]
    root = _common_root(files)
    where = str(ws.path) if ws.path is not None else "in-memory workspace"
    samples = [Sample(image=f.relative_to(root).as_posix(), points=np.asarray(ann.points, np.float32),
                      schema=ann.schema, visibility=ann.visibility, pose=_label_pose(ws, img.id, ann), box=img.box,
                      split=img.split, subset=img.subset,
                      source_file=f"{where}#image={img.id},version={ann.version}")
               for f, (img, ann) in zip(files, kept)]
    ds = Dataset(root=root, format="workspace", schema=schema, samples=samples)
    return WorkspaceData(ds, [img.id for img, _ in kept], [ann.version for _, ann in kept],
                         [ann.source for _, ann in kept], left_out)


def workspace_dataset(ws: Workspace, statuses: str | Iterable[str] | None = ACCEPTED_STATUSES, *,
                      schema: str = "ibug68") -> Dataset:
    """Just the ``Dataset`` of ``workspace_samples``."""
    return workspace_samples(ws, statuses, schema=schema).dataset


def merge_datasets(first: Dataset, *others: Dataset) -> tuple[Dataset, dict[str, int]]:
    """One ``Dataset`` of several (same schema), images named relative to their common folder.

    An image that appears in an earlier dataset is dropped from the later ones (same resolved file),
    so workspace corrections given first win over the base dataset's labels of the same image.
    Returns (dataset, counts) with counts ``{"<i>": samples taken from dataset i, "duplicates": n}``.
    """
    datasets = (first, *others)
    schema = first.schema
    for d in others:
        if d.schema != schema:
            raise ValueError(f"cannot mix landmark schemas {schema!r} and {d.schema!r}")
    seen: set[str] = set()
    items: list[tuple[Path, Sample]] = []
    counts: dict[str, int] = {"duplicates": 0}
    for i, d in enumerate(datasets):
        n = 0
        for s in d.samples:
            f = Path(os.path.abspath(Path(d.root) / s.image))
            key = str(f.resolve())
            if key in seen:
                counts["duplicates"] += 1
                continue
            seen.add(key)
            items.append((f, s))
            n += 1
        counts[str(i)] = n
    root = _common_root([f for f, _ in items])
    samples = []
    for f, s in items:
        samples.append(dataclasses.replace(s, image=f.relative_to(root).as_posix()))
    return Dataset(root=root, format="+".join(d.format for d in datasets), schema=schema, samples=samples), counts
