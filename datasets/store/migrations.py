"""The workspace schema as a chain of migrations: ``MIGRATIONS[i]`` takes a file from schema version i to
i + 1 (version 0: an empty file). The connection applies the missing ones, each in one transaction, and
records the version in ``PRAGMA user_version``. A migration never loses a row: it adds columns and
indexes and fills them from what the older schema knew.
"""
from __future__ import annotations

from typing import Callable

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


#: MIGRATIONS[i] takes a workspace from schema version i to i + 1, inside one transaction.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_migration_1, _migration_2, _migration_3)
SCHEMA_VERSION = len(MIGRATIONS)
