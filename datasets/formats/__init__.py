"""Dataset formats: one module per format, reader and writer side by side.

Each format module defines::

    NAME: str                       # registry key, e.g. "pts"
    def read(root: Path) -> Dataset          # never changes ground truth; problems collected, not raised
    def write(dataset: Dataset, out_dir: Path) -> Path   # images copied beside the labels; returns a path
                                                         # that ``read`` accepts (out_dir or the label file)

``read_dataset`` applies a ``split.csv`` (columns image, split) found in the dataset root.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from datasets.sample import Dataset

#: format name -> module path. Modules are imported on first use.
FORMAT_MODULES: dict[str, str] = {
    "pts": "datasets.formats.pts",
    "300w": "datasets.formats.w300",
    "aflw2000": "datasets.formats.aflw2000",
    "wflw": "datasets.formats.wflw",
    "coco": "datasets.formats.coco",
    "csv": "datasets.formats.flat_csv",
}


def format_names() -> list[str]:
    """All registered format names, sorted."""
    return sorted(FORMAT_MODULES)


def get_format(name: str):
    """The module implementing format ``name``; ValueError listing the valid names otherwise."""
    try:
        return importlib.import_module(FORMAT_MODULES[name])
    except KeyError:
        raise ValueError(f"unknown dataset format {name!r}; choose one of {format_names()}") from None


def read_dataset(root: str | Path, format: str, *, split: str | None = None, schema: str | None = None) -> Dataset:
    """Read the dataset folder ``root`` in ``format``; keep only ``split`` when given.

    A ``split.csv`` in ``root`` (image, split) sets each sample's split; images are matched by their
    path relative to ``root``, with or without extension. ``schema`` names the landmark schema for the
    formats that infer it from the point count (pts, coco, csv); for the others it must match theirs
    (ValueError otherwise).
    """
    from datasets.formats.split_csv import apply_split_csv

    root = Path(root)
    module = get_format(format)
    if schema is not None and "schema" in inspect.signature(module.read).parameters:
        ds = module.read(root, schema=schema)
    else:
        ds = module.read(root)
        if schema is not None and ds.schema != schema:
            raise ValueError(f"format {format!r} always reads schema {ds.schema!r}, not {schema!r}")
    apply_split_csv(ds)
    return ds.split(split)


def write_dataset(dataset: Dataset, out_dir: str | Path, format: str) -> Path:
    """Write ``dataset`` into ``out_dir`` in ``format`` (plus ``split.csv`` when samples carry splits)."""
    from datasets.formats.split_csv import write_split_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = get_format(format).write(dataset, out_dir)
    write_split_csv(dataset, out_dir)
    return path
