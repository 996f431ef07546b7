"""The work queue as the page shows it: filtering, ordering and the table's columns (pure pandas).

``Workspace.queue()`` gives one row per face (a picture with several faces has several rows); :func:`view`
filters and sorts it for display, and the order of its ``image_id`` (face id) column is what *next* /
*previous* follow.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

#: label shown in the page -> the store's status values it keeps (None = every image)
FILTERS: dict[str, tuple[str, ...] | None] = {
    "all images": None,
    "not finished (to do + in progress)": ("todo", "in_progress"),
    "to do": ("todo",),
    "in progress": ("in_progress",),
    "done": ("done",),
    "reviewed": ("reviewed",),
    "done + reviewed": ("done", "reviewed"),
}

#: label shown in the page -> (column, ascending); rows with no value go last
SORTS: dict[str, tuple[str, bool]] = {
    "least certain first (model uncertainty)": ("uncertainty", False),
    "lowest model confidence first": ("confidence", True),
    "largest correction first": ("correction_px", False),
    "recently edited first": ("updated_at", False),
    "image order": ("image_id", True),
}

DEFAULT_FILTER = "all images"
DEFAULT_SORT = "least certain first (model uncertainty)"

STATUS_LABELS = {"todo": "to do", "in_progress": "in progress", "done": "done", "reviewed": "reviewed"}
#: the status column of a face where the detector found no face and nothing was saved yet
NO_FACE_LABEL = "no face found: draw a box"
#: the status column of a face whose image file is gone (remove it below the table, or `asmnet remove`)
MISSING_LABEL = "image file missing: remove it"

#: columns of the table in the page (the first is the image id the row opens)
COLUMNS = ["id", "image", "status", "by", "saved (UTC)", "model confidence", "uncertainty",
           "correction (px)", "split"]


def check_choice(value: str, choices: dict, what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {list(choices)}")
    return value


def view(queue: pd.DataFrame, filter_label: str = DEFAULT_FILTER, sort_label: str = DEFAULT_SORT) -> pd.DataFrame:
    """The rows of ``queue`` (columns of ``Workspace.QUEUE_COLUMNS``) kept by the filter, in sort order.

    Ties and missing values keep image-id order, missing values last, so the order is stable.
    """
    statuses = FILTERS[check_choice(filter_label, FILTERS, "queue filter")]
    column, ascending = SORTS[check_choice(sort_label, SORTS, "queue order")]
    df = queue if statuses is None else queue[queue["status"].isin(statuses)]
    df = df.sort_values("image_id", kind="stable")
    if column != "image_id":
        df = df.sort_values(column, ascending=ascending, kind="stable", na_position="last")
    return df.reset_index(drop=True)


def order(df: pd.DataFrame) -> list[int]:
    """The image ids of a :func:`view` in display order."""
    return [int(i) for i in df["image_id"].tolist()]


def _num(v, digits: int, kind: str = "f") -> str:
    """``v`` with ``digits`` decimals (kind "f") or significant digits (kind "g"); "–" when missing."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"{f:.{digits}{kind}}"


def _text(v) -> str:
    """A cell as text; '' for None / NaN (pandas fills missing strings with NaN)."""
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def face_name(path, face, faces) -> str:
    """The file name, with "face i of n" when its picture has several faces."""
    name = Path(str(path)).name
    try:
        n, i = int(faces), int(face)
    except (TypeError, ValueError):
        return name
    return f"{name} · face {i + 1} of {n}" if n > 1 else name


def with_file_presence(queue: pd.DataFrame) -> pd.DataFrame:
    """``queue`` with a boolean ``file_missing`` column: whether each row's image file is gone (one file check per
    picture, however many faces it has). ``status_label`` and ``counts`` read that column."""
    paths = queue["path"].astype(str)
    missing = {p: not Path(p).is_file() for p in paths.unique()}
    return queue.assign(file_missing=paths.map(missing).astype(bool))


def status_label(r) -> str:
    """The status column: the workflow status, ``MISSING_LABEL`` when the image file is gone (``file_missing``,
    see ``with_file_presence``), or ``NO_FACE_LABEL`` for a face waiting for a box."""
    if r.file_missing:
        return MISSING_LABEL
    if getattr(r, "box_source", None) == "not_found" and not getattr(r, "predicted", True) and pd.isna(r.version):
        return NO_FACE_LABEL
    return STATUS_LABELS.get(r.status, r.status)


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The display table (``COLUMNS``) of a :func:`view` of a ``with_file_presence`` queue: readable status, short
    times, rounded numbers."""
    rows = []
    for r in df.itertuples(index=False):
        when = _text(r.updated_at)
        rows.append([
            int(r.image_id), face_name(r.path, getattr(r, "face", 0), getattr(r, "faces", 1)), status_label(r),
            _text(r.author) or "–",
            when[:16].replace("T", " ") if when else "–", _num(r.confidence, 2), _num(r.uncertainty, 3, "g"),
            _num(r.correction_px, 1), _text(r.split) or "–",
        ])
    return pd.DataFrame(rows, columns=COLUMNS)


def step(order_ids: list[int], current: int | None, delta: int) -> int | None:
    """The id ``delta`` places after ``current`` in ``order_ids`` (wrapping); the first when ``current``
    is not in the order; None for an empty order."""
    if not order_ids:
        return None
    if current not in order_ids:
        return order_ids[0] if delta >= 0 else order_ids[-1]
    i = order_ids.index(current)
    return order_ids[(i + delta) % len(order_ids)]


def counts(queue: pd.DataFrame) -> str:
    """One line: how many faces per status (and how many wait for a box, how many have lost their file);
    ``queue`` as returned by ``with_file_presence``."""
    c = queue["status"].value_counts()
    parts = [f"{int(c.get(s, 0))} {label}" for s, label in STATUS_LABELS.items()]
    if "box_source" in queue:
        waiting = int(((queue["box_source"] == "not_found") & ~queue["predicted"].astype(bool)
                       & queue["version"].isna()).sum())
        if waiting:
            parts.append(f"{waiting} with no face found")
    missing = int(queue["file_missing"].sum())
    if missing:
        parts.append(f"**{missing} with the image file missing** (remove them below the table)")
    several = "faces" in queue and bool((queue["faces"].fillna(1) > 1).any())
    return f"{len(queue)} {'faces' if several else 'images'}: " + " · ".join(parts)

