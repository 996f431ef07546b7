"""Taking pictures out of a workspace (``Workspace.remove_images``), e.g. one whose image file is gone.

A picture is removed whole: every face row sharing its content (sha256), with their annotation versions
and predictions, in one transaction. Nothing is lost: before the rows are deleted, each picture's rows are
written as one JSON record (blobs base64-encoded, exact) into the ``removed_images`` table (schema version 4)
with the time of removal, so a removal can be inspected or undone by hand. Image files are never touched.

``Removal`` is mixed into ``Workspace`` (it uses its transactions).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from asmnet_studio.datasets.store import codec
from asmnet_studio.datasets.store.checks import check_int_id
from asmnet_studio.datasets.store.records import NotFoundError


@dataclass
class RemovedImage:
    """One picture taken out by ``Workspace.remove_images``.

    Attributes:
        archive_id: its row in ``removed_images``.
        name: the image's name in the workspace.
        path: the image file's path (not deleted).
        faces, versions, predictions: how many face rows, annotation versions and predictions went.
        file_present: whether the image file existed at removal.
    """

    archive_id: int
    name: str
    path: Path
    faces: int
    versions: int
    predictions: int
    file_present: bool


def _plain(row: dict) -> dict:
    """A row with its blobs base64-encoded (``{"base64": ...}``), for JSON."""
    return {k: {"base64": base64.b64encode(v).decode("ascii")} if isinstance(v, bytes) else v
            for k, v in row.items()}


class Removal:
    """``remove_images`` (mixed into ``Workspace``)."""

    def remove_images(self, image_ids: Iterable[int]) -> list[RemovedImage]:
        """Remove the pictures of the faces ``image_ids`` (each picture once, all its faces) with their
        annotation versions and predictions, archiving them first in ``removed_images`` (see the module
        docstring). One transaction for all: an unknown id (NotFoundError) removes nothing. Returns one
        ``RemovedImage`` per picture, in the order given."""
        ids = [check_int_id(i, "image_id") for i in image_ids]
        with self._write() as conn:
            pictures: list[str] = []
            for image_id in ids:
                got = conn.execute("SELECT sha256 FROM images WHERE id = ?", (image_id,)).fetchone()
                if got is None:
                    raise NotFoundError(f"{self._where}: no image with id {image_id}; nothing removed")
                pictures.append(got[0])
            out = [self._remove_picture(conn, sha) for sha in dict.fromkeys(pictures)]
        return out

    def _remove_picture(self, conn, sha256: str) -> RemovedImage:
        faces = self._rows(conn, "SELECT * FROM images WHERE sha256 = ? ORDER BY face", (sha256,))
        face_ids = [int(f["id"]) for f in faces]
        marks = ", ".join("?" * len(face_ids))
        anns = self._rows(conn, f"SELECT * FROM annotations WHERE image_id IN ({marks}) ORDER BY id", face_ids)
        preds = self._rows(conn, f"SELECT * FROM predictions WHERE image_id IN ({marks}) ORDER BY id", face_ids)
        record = {"images": [_plain(r) for r in faces], "annotations": [_plain(r) for r in anns],
                  "predictions": [_plain(r) for r in preds]}
        first = faces[0]
        cur = conn.execute("INSERT INTO removed_images (removed_at, sha256, name, path, record) VALUES (?, ?, ?, ?, ?)",
                           (codec.now(), sha256, first["name"], first["path"], json.dumps(record)))
        for table in ("annotations", "predictions"):
            conn.execute(f"DELETE FROM {table} WHERE image_id IN ({marks})", face_ids)
        conn.execute("DELETE FROM images WHERE sha256 = ?", (sha256,))
        path = Path(first["path"])
        return RemovedImage(archive_id=int(cur.lastrowid), name=first["name"], path=path, faces=len(faces),
                            versions=len(anns), predictions=len(preds), file_present=path.is_file())

    def removed_images(self) -> list[dict]:
        """The archive of removed pictures, oldest first: id, removed_at, sha256, name, path and the rows
        (``record``: images, annotations, predictions as they were, blobs base64-encoded)."""
        with self._lock:
            rows = self._rows(self.db.conn, "SELECT * FROM removed_images ORDER BY id")
        return [dict(r, record=json.loads(r["record"])) for r in rows]
