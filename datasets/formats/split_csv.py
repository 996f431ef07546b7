"""``split.csv`` beside a dataset: two columns, ``image`` and ``split`` (e.g. train / test).

The image column may name the image with or without extension, relative to the dataset root.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path, PurePosixPath

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats._common import atomic_write_text, short
from asmnet_studio.datasets.sample import Dataset

FILE_NAME = "split.csv"


def _key(name: str) -> str:
    return str(PurePosixPath(name.replace("\\", "/")).with_suffix(""))


def read_split_csv(path: Path) -> dict[str, str]:
    """Map of image key (relative path without extension) -> split name. FormatError names file and line."""
    out: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is accepted, as for landmarks.csv
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "split"]:
            raise FormatError(path, f"the header must be 'image,split', found {short(header)}", line=1)
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise FormatError(path, f"expected 'image,split', found {short(row)}", line=line_no)
            out[_key(row[0].strip())] = row[1].strip()
    except csv.Error as exc:
        raise FormatError(path, f"unreadable CSV ({exc})", line=reader.line_num) from None
    return out


def apply_split_csv(dataset: Dataset) -> None:
    """Set ``sample.split`` from ``dataset.root / split.csv`` when that file exists (in place)."""
    path = Path(dataset.root) / FILE_NAME
    if not path.is_file():
        return
    table = read_split_csv(path)
    for s in dataset.samples:
        key = _key(s.image)
        split = table.get(key) or table.get(PurePosixPath(key).name)
        if split is not None:
            s.split = split


def write_split_csv(dataset: Dataset, out_dir: Path) -> Path | None:
    """Write ``out_dir / split.csv`` for the samples that carry a split; None when none do."""
    rows = sorted({(s.image, s.split) for s in dataset.samples if s.split})
    if not rows:
        return None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "split"])
    w.writerows(rows)
    return atomic_write_text(Path(out_dir) / FILE_NAME, buf.getvalue())
