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
import os
from pathlib import Path

from asmnet_studio.datasets.sample import Dataset

#: format name -> module path. Modules are imported on first use.
FORMAT_MODULES: dict[str, str] = {
    "pts": "asmnet_studio.datasets.formats.pts",
    "300w": "asmnet_studio.datasets.formats.w300",
    "aflw2000": "asmnet_studio.datasets.formats.aflw2000",
    "wflw": "asmnet_studio.datasets.formats.wflw",
    "coco": "asmnet_studio.datasets.formats.coco",
    "csv": "asmnet_studio.datasets.formats.flat_csv",
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
    from asmnet_studio.datasets.formats.split_csv import apply_split_csv

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
    """Write ``dataset`` into ``out_dir`` in ``format`` (plus ``split.csv`` when samples carry splits).

    Everything is written into a fresh temporary folder beside ``out_dir`` first and moved into place only
    when the whole dataset was written: a failed export leaves ``out_dir`` as it was, and no symlink that
    was already in ``out_dir`` is followed while writing. An empty (or missing) ``out_dir`` is replaced by
    the new folder in one rename; into a non-empty one each file is moved with ``os.replace`` (a folder in
    the way that is a symlink is refused with UnsafePathError, before anything is moved).
    """
    import shutil
    import uuid

    from asmnet_studio.datasets.formats.split_csv import write_split_csv

    out_dir = Path(os.path.abspath(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name[:40]}.export-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        path = Path(get_format(format).write(dataset, tmp))
        write_split_csv(dataset, tmp)
        _move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / path.relative_to(tmp)


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    from asmnet_studio.datasets.errors import UnsafePathError

    if out_dir.is_symlink():
        raise UnsafePathError(f"{out_dir}: the export folder is a symlink; choose a real folder")
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(tmp, out_dir)
        return
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    for f in files:  # check every target first: nothing is moved when one is unsafe
        target = out_dir / f.relative_to(tmp)
        for parent in list(target.relative_to(out_dir).parents)[:-1]:
            d = out_dir / parent
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                raise UnsafePathError(f"{out_dir}: {parent} is a symlink or not a folder; the export would "
                                      "write through it (nothing was written)")
        if target.is_dir():
            raise UnsafePathError(f"{out_dir}: {target.relative_to(out_dir)} is a folder; cannot write a file there")
    for f in files:
        target = out_dir / f.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, target)  # replaces a symlink itself, never what it points to
