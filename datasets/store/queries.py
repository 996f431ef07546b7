"""Read models computed in SQL: the work queue, the accepted annotation of each face, and the joins the
Evaluate view needs (latest reference vs latest prediction, each correction vs the prediction it was
based on), each one query for the whole workspace instead of queries per image.

``Queries`` is mixed into ``Workspace`` (it reads through the connection's ``_read`` / ``_rows``).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from asmnet_studio.datasets.store import codec
from asmnet_studio.datasets.store.checks import check_choice, check_int_id, parse_statuses
from asmnet_studio.datasets.store.codec import ANN_COLS, IMG_COLS, PRED_COLS, f32
from asmnet_studio.datasets.store.records import ACCEPTED_SOURCES, SOURCES, Annotation, ImageRecord, PredictionRow


def _select(alias: str, cols: tuple[str, ...], prefix: str) -> str:
    """``alias.c AS prefixc, ...`` for a SELECT list."""
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in cols)


def _take(r: dict, cols: tuple[str, ...], prefix: str) -> dict:
    return {c: r[prefix + c] for c in cols}


class Queries:
    """The workspace's read models (mixed into ``Workspace``)."""

    _QUEUE_SQL = """
        WITH la AS (SELECT image_id, status, author, created_at, version, source FROM (
                 SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC) AS rn
                 FROM annotations a) WHERE rn = 1),
             lc AS (SELECT image_id, num_points, points FROM (
                 SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC) AS rn
                 FROM annotations a WHERE source = ?) WHERE rn = 1),
             lp AS (SELECT image_id, num_points, points, confidence, uncertainty FROM (
                 SELECT p.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY id DESC) AS rn
                 FROM predictions p) WHERE rn = 1)
        SELECT i.id AS image_id, i.path, COALESCE(la.status, 'todo') AS status, la.author,
               la.created_at AS updated_at, la.version, la.source, lp.num_points AS pred_k,
               lp.points AS pred_points, lp.confidence AS pred_conf, lp.uncertainty,
               lc.num_points AS corr_k, lc.points AS corr_points, i.split, i.dataset, i.face, i.box_source,
               (SELECT COUNT(*) FROM images j WHERE j.sha256 = i.sha256) AS faces
        FROM images i LEFT JOIN la ON la.image_id = i.id LEFT JOIN lp ON lp.image_id = i.id
             LEFT JOIN lc ON lc.image_id = i.id
        ORDER BY i.id"""

    QUEUE_COLUMNS = ("image_id", "path", "status", "author", "updated_at", "confidence", "uncertainty",
                     "correction_px", "split", "dataset", "version", "source", "face", "faces", "box_source",
                     "predicted")

    def queue(self):
        """The work queue: a pandas DataFrame, one row per image (id order), columns ``QUEUE_COLUMNS``:

        image_id, path, status (latest annotation's; "todo" when none), author and updated_at (of the
        latest annotation; None when none), confidence (mean per-point confidence of the latest
        prediction; NaN when none), uncertainty (of that prediction), correction_px (mean distance in
        pixels of the latest correction from that prediction; NaN when either is missing), split,
        dataset, version (latest annotation version; None when none), source (of that version), face
        (index of the face in its picture), faces (how many faces its picture has), box_source (see
        ``BOX_SOURCES``; "not_found": no face was found, a person must draw the box), predicted (whether
        the face has a prediction).
        """
        import pandas as pd

        with self._read() as conn:
            rows = self._rows(conn, self._QUEUE_SQL, ("correction",))
        for r in rows:
            pred_k, corr_k = r.pop("pred_k"), r.pop("corr_k")
            pred = f32(r.pop("pred_points"), (pred_k or 0, 2))
            conf = f32(r.pop("pred_conf"), (pred_k or 0,))
            corr = f32(r.pop("corr_points"), (corr_k or 0, 2))
            r["predicted"] = pred is not None
            r["confidence"] = float(conf.mean()) if conf is not None and conf.size else float("nan")
            r["uncertainty"] = float("nan") if r["uncertainty"] is None else float(r["uncertainty"])
            r["correction_px"] = (float(np.linalg.norm(corr - pred, axis=1).mean())
                                  if pred is not None and corr is not None and pred.shape == corr.shape
                                  else float("nan"))
        return pd.DataFrame(rows, columns=list(self.QUEUE_COLUMNS))

    def accepted(self, *, statuses: str | Iterable[str] | None = None) -> list[tuple[ImageRecord, Annotation]]:
        """(image, accepted annotation) pairs in image id order: the latest correction of each image if
        it has one, else its latest ground truth; optionally only those whose status is in ``statuses``.
        Images with neither are left out."""
        statuses = parse_statuses(statuses)
        sql = f"""
            SELECT {', '.join('a.' + c for c in ANN_COLS)}, {', '.join('i.' + c + ' AS img_' + c for c in IMG_COLS)}
            FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY
                         CASE source WHEN 'correction' THEN 0 ELSE 1 END, version DESC) AS rn
                  FROM annotations WHERE source IN (?, ?)) a
            JOIN images i ON i.id = a.image_id
            WHERE a.rn = 1"""
        params: list = list(ACCEPTED_SOURCES)
        if statuses:
            sql += f" AND a.status IN ({', '.join('?' * len(statuses))})"
            params.extend(statuses)
        with self._read() as conn:
            rows = self._rows(conn, sql + " ORDER BY i.id", params)
        out = []
        for r in rows:
            img = codec.image_record({c: r["img_" + c] for c in IMG_COLS})
            out.append((img, codec.annotation({c: r[c] for c in ANN_COLS})))
        return out

    def latest_annotations(self, source: str) -> list[tuple[ImageRecord, Annotation]]:
        """(image, its latest ``source`` annotation) of every image that has one, in image id order."""
        check_choice(source, SOURCES, "source")
        sql = f"""
            WITH la AS (SELECT * FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC)
                                              AS rn FROM annotations a WHERE source = ?) WHERE rn = 1)
            SELECT {_select('i', IMG_COLS, 'img_')}, {_select('la', ANN_COLS, 'ann_')}
            FROM images i JOIN la ON la.image_id = i.id ORDER BY i.id"""
        with self._read() as conn:
            rows = self._rows(conn, sql, (source,))
        return [(codec.image_record(_take(r, IMG_COLS, "img_")), codec.annotation(_take(r, ANN_COLS, "ann_")))
                for r in rows]

    def evaluation_pairs(self, source: str, model_id: int | None = None
                         ) -> list[tuple[ImageRecord, Annotation, PredictionRow]]:
        """(image, latest ``source`` annotation, latest prediction (of ``model_id`` when given)) of every
        image that has both with the same number of points, in image id order: one query."""
        check_choice(source, SOURCES, "source")
        params: list = [source]
        where = ""
        if model_id is not None:
            where = "WHERE model_id = ?"
            params.append(check_int_id(model_id, "model_id"))
        sql = f"""
            WITH la AS (SELECT * FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY version DESC)
                                              AS rn FROM annotations a WHERE source = ?) WHERE rn = 1),
                 lp AS (SELECT * FROM (SELECT p.*, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY id DESC)
                                              AS rn FROM predictions p {where}) WHERE rn = 1)
            SELECT {_select('i', IMG_COLS, 'img_')}, {_select('la', ANN_COLS, 'ann_')},
                   {_select('lp', PRED_COLS, 'pred_')}
            FROM images i JOIN la ON la.image_id = i.id JOIN lp ON lp.image_id = i.id
            WHERE la.num_points = lp.num_points ORDER BY i.id"""
        with self._read() as conn:
            rows = self._rows(conn, sql, params)
        return [(codec.image_record(_take(r, IMG_COLS, "img_")), codec.annotation(_take(r, ANN_COLS, "ann_")),
                 codec.prediction(_take(r, PRED_COLS, "pred_"))) for r in rows]

    def correction_bases(self) -> list[tuple[Annotation, PredictionRow | None]]:
        """Every correction in the history, by image id and version, with the prediction it was based on:
        the latest prediction of its image saved at or before the correction (None when there is none):
        one query."""
        sql = f"""
            SELECT {_select('a', ANN_COLS, 'ann_')}, {_select('p', PRED_COLS, 'pred_')}
            FROM annotations a LEFT JOIN predictions p ON p.id = (
                SELECT q.id FROM predictions q WHERE q.image_id = a.image_id AND q.created_at <= a.created_at
                ORDER BY q.id DESC LIMIT 1)
            WHERE a.source = 'correction' ORDER BY a.image_id, a.version"""
        with self._read() as conn:
            rows = self._rows(conn, sql)
        return [(codec.annotation(_take(r, ANN_COLS, "ann_")),
                 None if r["pred_id"] is None else codec.prediction(_take(r, PRED_COLS, "pred_"))) for r in rows]

    def _face_ranks(self) -> dict[int, int]:
        """face id -> its index among the faces stored under the same content *and name* (what a format
        writes as the face number of that image file: 300-W's ``x_1.jpg`` and ``x_2.jpg``, one picture, are
        two files with one face each)."""
        with self._read() as conn:
            rows = conn.execute("SELECT id, ROW_NUMBER() OVER (PARTITION BY sha256, name ORDER BY face) - 1 "
                                "FROM images").fetchall()
        return {int(i): int(r) for i, r in rows}
