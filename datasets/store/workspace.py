"""The workspace: one SQLite file (via sqlite-utils) holding images, annotations with full history,
predictions and model versions. The ``asmnet_studio.datasets.store`` package is the only code of the project that
touches SQLite; this module holds ``Workspace`` and its writes and reads of single faces, annotations, models and
predictions. The package's other rooms: ``records`` (the dataclasses and choices), ``checks`` (validation),
``codec`` (rows <-> records, exact blobs), ``migrations`` (the schema), ``connection`` (opening,
transactions, consistency), ``queries`` (queue and evaluation joins in SQL), ``transfer`` (import / export),
``removal`` (taking pictures out, archived).

Tables (schema version ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``; ``PRAGMA application_id``
marks the file as ours):

    images       one row per *face* of a picture: id (the face's id, which annotations and predictions
                 refer to), path (absolute), name (relative to root, forward slashes), root, sha256,
                 face (0, 1, ... within the picture; (sha256, face) unique), width, height (pixels), dataset,
                 split, subset, tags (JSON list), box (the face box), box_source (see BOX_SOURCES), added_at
    annotations  id, image_id, version (1, 2, ... per image, unique), author, created_at, source, status,
                 num_points, points, visibility, pose, schema, note, base_version, placed (the points
                 placed by hand), pose_source (see POSE_SOURCES)
    models       id, name, checkpoint, sha256, card (JSON), created_at
    predictions  id, image_id, model_id, num_points, points, pose, confidence, box, uncertainty, created_at
    removed_images  id, removed_at, sha256, name, path, record (JSON: the rows of a removed picture; ``removal``)

A picture with several faces has several rows sharing path and sha256 (``faces_of``); each face has its
own box and its own annotation history. Schema version 3 introduced this; a version 2 file (one face per
picture) is migrated with every row becoming face 0 of its picture, nothing else changed.

Every write is one ``BEGIN IMMEDIATE`` transaction: ``save_annotation`` checks the latest version and
inserts the next one atomically across processes, and refuses with ``ConflictError`` when the caller's
``base_version`` is stale. One ``Workspace`` may be shared by threads.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

from asmnet_studio.datasets.errors import ConflictError
from asmnet_studio.datasets.store import codec
from asmnet_studio.datasets.store.checks import (check_choice, check_int_id, check_text, check_vector, inspect_image,
                                                 parse_statuses)
from asmnet_studio.datasets.store.codec import ANN_COLS, IMG_COLS, PRED_COLS
from asmnet_studio.datasets.store.connection import WorkspaceConnection, insert_row
from asmnet_studio.datasets.store.migrations import INFERRED_POSE_SOURCE_SQL
from asmnet_studio.datasets.store.queries import Queries
from asmnet_studio.datasets.store.records import (BOX_SOURCES, SOURCES, Annotation, ImageRecord, ModelRecord,
                                                  NotFoundError, PredictionRow)
from asmnet_studio.datasets.store.removal import Removal
from asmnet_studio.datasets.store.transfer import Transfer


class Workspace(Queries, Transfer, Removal, WorkspaceConnection):
    """A workspace file (or an in-memory one for ``path=None``).

    Args:
        path: the ``.db`` file; created (with its schema) when missing, migrated when older.
        create: when False, a missing file is a StoreError instead of a new workspace.
        timeout: seconds a write waits for another process's write before a StoreError.

    Raises:
        StoreError naming the file when it is not SQLite, is another application's SQLite file, or was
        written by a newer version of this program.
    """

    # -- images ---------------------------------------------------------------------------------

    def add_image(self, file: str | Path, *, dataset: str | None = None, split: str | None = None,
                  subset: str | None = None, tags: Iterable[str] = (), box=None,
                  name: str | None = None, root: str | Path | None = None, box_source: str | None = None,
                  pixels=None) -> int:
        """Add one image file (deduplicated by the sha256 of its content) and return the id of its face 0.

        An image whose content is already present returns the existing id (of its face 0) unchanged.
        ``box`` is face 0's box and ``box_source`` (one of ``BOX_SOURCES``) where it came from.
        ``root`` / ``name``: the folder and relative name it is known by (default: its folder and file name).
        ``pixels``: the file already decoded by the caller (``load_image``), so it is not decoded again.
        Raises ImageError when the file is missing, empty or not a readable image.
        """
        file = Path(os.path.abspath(file))
        sha, width, height = inspect_image(file, pixels)
        row = codec.image_row(file, sha, width, height, dataset=dataset, split=split, subset=subset,
                              tags=tags, box=box, name=name, root=root, box_source=box_source)
        with self._write() as conn:
            existing = conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1", (sha,)).fetchone()
            if existing:
                return int(existing[0])
            return insert_row(conn, "images", row)

    _STATUS_SQL = ("COALESCE((SELECT a.status FROM annotations a WHERE a.image_id = images.id "
                   "ORDER BY a.version DESC LIMIT 1), 'todo')")

    def images(self, *, status: str | Iterable[str] | None = None, split: str | None = None,
               dataset: str | None = None) -> list[ImageRecord]:
        """Images in id order, filtered by status (of the latest annotation; "todo" when none; one
        status or several), split and dataset."""
        statuses = parse_statuses(status)
        where, params = [], []
        if statuses:
            where.append(f"{self._STATUS_SQL} IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        for col, value in (("split", split), ("dataset", dataset)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        sql = f"SELECT {', '.join(IMG_COLS)} FROM images"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._rows(self.db.conn, sql + " ORDER BY id", params)
        return [codec.image_record(r) for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        """One image; NotFoundError when there is no such id."""
        image_id = check_int_id(image_id, "image_id")
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(IMG_COLS)} FROM images WHERE id = ?",
                              (image_id,))
        if not rows:
            raise NotFoundError(f"{self._where}: no image with id {image_id}")
        return codec.image_record(rows[0])

    def image_path(self, image_id: int) -> Path:
        """The image file's absolute path."""
        return self.image(image_id).path

    def find_image(self, sha256: str) -> int | None:
        """The id of face 0 of the image with this content hash, or None."""
        with self._lock:
            row = self.db.conn.execute("SELECT id FROM images WHERE sha256 = ? ORDER BY face LIMIT 1",
                                       (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def faces_of(self, image_id: int) -> list[ImageRecord]:
        """Every face of the picture that face ``image_id`` belongs to (itself included), by face index."""
        rec = self.image(image_id)
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(IMG_COLS)} FROM images WHERE sha256 = ? "
                              "ORDER BY face", (rec.sha256,))
        return [codec.image_record(r) for r in rows]

    def add_face(self, image_id: int, box, *, box_source: str = "hand") -> int:
        """Add another face to the picture of face ``image_id``, with its face box (4,) x0, y0, x1, y1
        pixels; returns the new face's id (its index is the picture's highest + 1). The new face copies the
        picture's file, name, dataset, split, subset and tags."""
        rec = self.image(image_id)
        box = check_vector(box, 4, "box")
        if box is None:
            raise ValueError("a new face needs its face box (4,) x0, y0, x1, y1")
        with self._write() as conn:
            face = conn.execute("SELECT MAX(face) FROM images WHERE sha256 = ?", (rec.sha256,)).fetchone()[0]
            row = codec.image_row(rec.path, rec.sha256, rec.width, rec.height, dataset=rec.dataset, split=rec.split,
                                  subset=rec.subset, tags=rec.tags, box=box, name=rec.name, root=rec.root,
                                  face=int(face) + 1, box_source=box_source)
            return insert_row(conn, "images", row)

    def set_box(self, image_id: int, box, *, box_source: str) -> None:
        """Set a face's box (4,) x0, y0, x1, y1 pixels (None: no box) and where it came from (``BOX_SOURCES``)."""
        image_id = check_int_id(image_id, "image_id")
        box = check_vector(box, 4, "box")
        check_choice(box_source, BOX_SOURCES, "box source")
        with self._write() as conn:
            self._require_image(conn, image_id)
            conn.execute("UPDATE images SET box = ?, box_source = ? WHERE id = ?",
                         (codec.f32_blob(box), box_source, image_id))

    def _require_image(self, conn: sqlite3.Connection, image_id: int) -> None:
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: no image with id {image_id}")

    # -- annotations ----------------------------------------------------------------------------

    def save_annotation(self, image_id: int, points, *, author: str, base_version: int | None,
                        source: str = "correction", status: str = "in_progress", visibility=None,
                        pose=None, schema: str = "ibug68", note: str | None = None, placed=None,
                        pose_source: str | None = None) -> Annotation:
        """Save a new version of an image's landmarks and return it.

        Args:
            points: (K, 2) x, y pixels (stored as float32, bit-exact).
            base_version: the latest version the caller saw (None: it saw no annotation).
            visibility: (K,) 0/1/2 or None. pose: (3,) yaw, pitch, roll degrees or None.
            placed: the points a person placed by hand: (K,) bool mask or point indices (None: none).
            pose_source: where ``pose`` came from (``POSE_SOURCES``); None: "none" without a pose, else
                inferred from ``source`` (a correction's: "ground_truth" when it is the image's latest ground
                truth pose, bit for bit, else "model").
        Raises:
            ConflictError when ``base_version`` is not the latest version (nothing is written).
            ValueError for bad points (naming the point index), status or source (listing the choices).
            NotFoundError for an unknown image.
        """
        image_id = check_int_id(image_id, "image_id")
        row = codec.annotation_row(points, author=author, source=source, status=status,
                                   visibility=visibility, pose=pose, schema=schema, note=note, placed=placed,
                                   pose_source=pose_source)
        if base_version is not None:
            base_version = check_int_id(base_version, "base_version")
        with self._write() as conn:
            self._require_image(conn, image_id)
            return self._insert_annotation(conn, image_id, row, base_version)

    def _insert_annotation(self, conn: sqlite3.Connection, image_id: int, row: dict,
                           base_version: int | None) -> Annotation:
        """Inside a write transaction: check ``base_version`` is the latest, insert the next version (its
        pose source inferred by ``INFERRED_POSE_SOURCE_SQL`` when the row leaves it None)."""
        latest = conn.execute("SELECT version, author FROM annotations WHERE image_id = ? "
                              "ORDER BY version DESC LIMIT 1", (image_id,)).fetchone()
        actual = None if latest is None else int(latest[0])
        if base_version != actual:
            raise ConflictError(image_id, base_version, actual, None if latest is None else latest[1])
        full = dict(row, image_id=image_id, version=(actual or 0) + 1, base_version=actual)
        full["id"] = insert_row(conn, "annotations", full)
        if full["pose_source"] is None:
            conn.execute(f"UPDATE annotations SET pose_source = {INFERRED_POSE_SOURCE_SQL} WHERE id = ?", (full["id"],))
            full["pose_source"] = conn.execute("SELECT pose_source FROM annotations WHERE id = ?",
                                               (full["id"],)).fetchone()[0]
        return codec.annotation(full)

    def latest(self, image_id: int, source: str | None = None) -> Annotation | None:
        """The latest version of an image's annotation (of one ``source`` when given), or None."""
        image_id = check_int_id(image_id, "image_id")
        sql = f"SELECT {', '.join(ANN_COLS)} FROM annotations WHERE image_id = ?"
        params: list = [image_id]
        if source is not None:
            sql += " AND source = ?"
            params.append(check_choice(source, SOURCES, "source"))
        with self._lock:
            rows = self._rows(self.db.conn, sql + " ORDER BY version DESC LIMIT 1", params)
        return codec.annotation(rows[0]) if rows else None

    def history(self, image_id: int) -> list[Annotation]:
        """Every version of an image's annotation, oldest first."""
        image_id = check_int_id(image_id, "image_id")
        with self._lock:
            rows = self._rows(self.db.conn, f"SELECT {', '.join(ANN_COLS)} FROM annotations "
                              "WHERE image_id = ? ORDER BY version", (image_id,))
        return [codec.annotation(r) for r in rows]

    # -- models and predictions -----------------------------------------------------------------

    def register_model(self, name: str, checkpoint: str | Path, sha256: str, card: dict) -> int:
        """Register a model version and return its id (the existing id when the same name and
        sha256 are already registered). ``card`` must be JSON-serialisable."""
        check_text(name, "name")
        check_text(sha256, "sha256")
        if not isinstance(card, dict):
            raise ValueError(f"card must be a dict, found {type(card).__name__}")
        try:
            card_json = json.dumps(card, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"model card of {name!r} is not JSON-serialisable ({exc})") from None
        with self._write() as conn:
            row = conn.execute("SELECT id FROM models WHERE name = ? AND sha256 = ?", (name, sha256)).fetchone()
            if row:
                return int(row[0])
            cur = conn.execute("INSERT INTO models (name, checkpoint, sha256, card, created_at) "
                               "VALUES (?, ?, ?, ?, ?)", (name, str(checkpoint), sha256, card_json, codec.now()))
            return int(cur.lastrowid)

    def models(self) -> list[ModelRecord]:
        """Registered model versions, oldest first."""
        with self._lock:
            rows = self._rows(self.db.conn, "SELECT id, name, checkpoint, sha256, card, created_at "
                              "FROM models ORDER BY id")
        return [ModelRecord(id=r["id"], name=r["name"], checkpoint=r["checkpoint"], sha256=r["sha256"],
                            card=json.loads(r["card"]), created_at=r["created_at"]) for r in rows]

    def save_predictions(self, rows: Sequence[PredictionRow]) -> None:
        """Store predictions, all in one transaction (all or nothing). ValueError / NotFoundError name
        the row index at fault."""
        encoded = [codec.prediction_columns(i, r) for i, r in enumerate(rows)]
        with self._write() as conn:
            for i, r in enumerate(encoded):
                self._require_ids(conn, i, r["image_id"], r["model_id"])
                insert_row(conn, "predictions", r)

    def _require_ids(self, conn: sqlite3.Connection, i: int, image_id: int, model_id: int) -> None:
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: prediction row {i}: no image with id {image_id}")
        if conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: prediction row {i}: no model with id {model_id}")

    def latest_prediction(self, image_id: int, model_id: int | None = None) -> PredictionRow | None:
        """The most recently saved prediction for an image (of one model when given), or None."""
        rows = self._prediction_rows(image_id, model_id, "ORDER BY id DESC LIMIT 1")
        return rows[0] if rows else None

    def predictions(self, image_id: int, model_id: int | None = None) -> list[PredictionRow]:
        """Every prediction saved for an image (of one model when given), oldest first; each row's
        ``created_at`` says when (used to find the prediction a correction was based on)."""
        return self._prediction_rows(image_id, model_id, "ORDER BY id")

    def _prediction_rows(self, image_id: int, model_id: int | None, order: str) -> list[PredictionRow]:
        """Predictions of an image (of one model when given); ``order`` is a fixed ORDER BY [LIMIT] clause."""
        sql = f"SELECT {', '.join(PRED_COLS)} FROM predictions WHERE image_id = ?"
        params: list = [check_int_id(image_id, "image_id")]
        if model_id is not None:
            sql += " AND model_id = ?"
            params.append(check_int_id(model_id, "model_id"))
        with self._lock:
            rows = self._rows(self.db.conn, f"{sql} {order}", params)
        return [codec.prediction(r) for r in rows]
