"""The workspace schema as a chain of migrations: ``MIGRATIONS[i]`` takes a file from schema version i to
i + 1 (version 0: an empty file). The connection applies the missing ones, each in one transaction, and
records the version in ``PRAGMA user_version``. A migration never loses a row: it adds columns and
indexes and fills them from what the older schema knew.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import sqlite_utils


def _migration_1(db: sqlite_utils.Database) -> None:
    """The first schema: images, annotations (no base_version yet), models, predictions."""
    db["images"].create(
        {"id": int, "path": str, "name": str, "root": str, "sha256": str, "width": int, "height": int,
         "dataset": str, "split": str, "subset": str, "tags": str, "box": bytes, "added_at": str},
        pk="id", not_null={"path", "name", "sha256", "width", "height", "tags", "added_at"})
    db["images"].create_index(["sha256"], unique=True)
    db["annotations"].create(
        {"id": int, "image_id": int, "version": int, "author": str, "created_at": str, "source": str,
         "status": str, "num_points": int, "points": bytes, "visibility": bytes, "pose": bytes,
         "schema": str, "note": str},
        pk="id", foreign_keys=[("image_id", "images", "id")],
        not_null={"image_id", "version", "author", "created_at", "source", "status", "num_points",
                  "points", "schema"})
    db["annotations"].create_index(["image_id", "version"], unique=True)
    db["models"].create(
        {"id": int, "name": str, "checkpoint": str, "sha256": str, "card": str, "created_at": str},
        pk="id", not_null={"name", "checkpoint", "sha256", "card", "created_at"})
    db["predictions"].create(
        {"id": int, "image_id": int, "model_id": int, "num_points": int, "points": bytes, "pose": bytes,
         "confidence": bytes, "box": bytes, "uncertainty": float, "created_at": str},
        pk="id", foreign_keys=[("image_id", "images", "id"), ("model_id", "models", "id")],
        not_null={"image_id", "model_id", "num_points", "points", "confidence", "created_at"})


def _migration_2(db: sqlite_utils.Database) -> None:
    """Version 2: annotations remember the version they were based on; faster latest-prediction look-up."""
    db["annotations"].add_column("base_version", int)
    db.execute("UPDATE annotations SET base_version = CASE WHEN version > 1 THEN version - 1 END")
    db["predictions"].create_index(["image_id", "model_id", "id"])
    db["models"].create_index(["sha256"])


def _migration_3(db: sqlite_utils.Database) -> None:
    """Version 3: several faces per picture. Each images row is one face (``face`` index, unique with the
    picture's sha256) with the source of its box; existing rows become face 0, box source unknown."""
    db["images"].add_column("face", int, not_null_default=0)
    db["images"].add_column("box_source", str)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images' "
                              "AND sql LIKE '%sha256%'").fetchall():
        db.execute(f'DROP INDEX "{name}"')  # our own index name, read from sqlite_master
    db["images"].create_index(["sha256", "face"], unique=True)


def _migration_4(db: sqlite_utils.Database) -> None:
    """Version 4: ``removed_images``, the archive of pictures taken out of the workspace (``Workspace.remove_images``):
    when, which content and name, and every row removed (JSON)."""
    db["removed_images"].create({"id": int, "removed_at": str, "sha256": str, "name": str, "path": str, "record": str},
                                pk="id", not_null={"removed_at", "sha256", "name", "path", "record"})


#: The pose source of an annotations row, in SQL (the row is ``annotations``): none without a pose; ground
#: truth's own; "model" for a prediction; for a correction "ground_truth" when its pose is bit-identical to
#: the latest ground truth's before it (what the annotator saves), else "model" (older annotators saved the
#: model's estimate with a correction).
INFERRED_POSE_SOURCE_SQL = """
    CASE WHEN annotations.pose IS NULL THEN 'none'
         WHEN annotations.source = 'ground_truth' THEN 'ground_truth'
         WHEN annotations.source = 'prediction' THEN 'model'
         WHEN annotations.pose = (SELECT g.pose FROM annotations g WHERE g.image_id = annotations.image_id
                                  AND g.source = 'ground_truth' AND g.version < annotations.version
                                  ORDER BY g.version DESC LIMIT 1) THEN 'ground_truth'
         ELSE 'model' END"""

#: How annotators before schema version 5 wrote the points placed by hand into the note ("placed by hand: 3,17").
_PLACED_NOTE = re.compile(r"\s*placed by hand: ([0-9, ]*)")


def _placed_from_note(note: str, k: int) -> tuple[bytes | None, str | None]:
    """(the (K,) int8 0/1 ``placed`` blob listed by ``note``, the note without that list). The list stays in
    the note when it names an index outside 0..K-1 (nothing is lost); the rest of the note is kept as it was."""
    m = _PLACED_NOTE.search(note)
    if m is None:
        return None, note
    idx = [int(t) for t in m.group(1).replace(" ", "").split(",") if t]
    mask = np.zeros(k, np.int8)
    mask[[i for i in idx if 0 <= i < k]] = 1
    if any(not 0 <= i < k for i in idx):
        return (mask.tobytes() if mask.any() else None), note
    rest = (note[:m.start()] + note[m.end():]).strip()
    return (mask.tobytes() if mask.any() else None), (rest or None)


def _migration_5(db: sqlite_utils.Database) -> None:
    """Version 5: label provenance as data. ``annotations.placed``: (K,) int8 0/1 blob of the points a person
    placed by hand (NULL: none), converted from the notes that listed them; ``annotations.pose_source``:
    where the pose came from (``INFERRED_POSE_SOURCE_SQL``). No row is added or removed."""
    db["annotations"].add_column("placed", bytes)
    db["annotations"].add_column("pose_source", str)
    rows = db.execute("SELECT id, num_points, note FROM annotations WHERE note LIKE '%placed by hand:%'").fetchall()
    for ann_id, k, note in rows:
        placed, rest = _placed_from_note(note, int(k))
        db.execute("UPDATE annotations SET placed = ?, note = ? WHERE id = ?", (placed, rest, ann_id))
    db.execute(f"UPDATE annotations SET pose_source = {INFERRED_POSE_SOURCE_SQL}")


#: MIGRATIONS[i] takes a workspace from schema version i to i + 1, inside one transaction.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_migration_1, _migration_2, _migration_3,
                                                                    _migration_4, _migration_5)
SCHEMA_VERSION = len(MIGRATIONS)
