"""Workspace save latency (ms) with 1 and with 4 concurrent writer processes.

A temporary file workspace (WAL, ``synchronous=NORMAL``) with one small image per writer. Each writer
process (``multiprocessing``, spawned) opens its own ``Workspace`` and saves ``n`` successive versions of
its image's annotation (``save_annotation`` with the right ``base_version``: the annotator's save, one
``BEGIN IMMEDIATE`` transaction with the version check and the history row), all writers released
together by a barrier. Latency = wall time of each call.

Peer, same run: the bare minimum with the same file settings: ``sqlite3`` ``BEGIN IMMEDIATE; INSERT``
of the same float32 blob ``; COMMIT`` into a one-table WAL database, same process layout.
"""
from __future__ import annotations

import math
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

NAME = "store"
TITLE = "Workspace save latency (ms), 1 and 4 concurrent writer processes"
COLUMNS = [("method", "method"), ("writers", "writer processes"), ("saves", "saves"), ("p50_ms", "p50 ms"),
           ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("saves_per_s", "total saves/s"),
           ("p50_x_raw", "p50 × raw sqlite3")]


def _writer_workspace(db: str, image_id: int, n: int, barrier, queue) -> None:
    from asmnet_studio.datasets.store import Workspace

    rng = np.random.default_rng(image_id)
    ws = Workspace(db)
    pts = rng.uniform(0, 100, size=(68, 2)).astype(np.float32)
    latest = ws.latest(image_id)
    version = None if latest is None else latest.version
    barrier.wait()
    t_start = time.perf_counter()
    lat = []
    for i in range(n):
        pts[i % 68] += 0.5
        t0 = time.perf_counter()
        ann = ws.save_annotation(image_id, pts, author=f"writer{image_id}", base_version=version)
        lat.append(time.perf_counter() - t0)
        version = ann.version
    queue.put((lat, time.perf_counter() - t_start))
    ws.close()


def _writer_raw(db: str, image_id: int, n: int, barrier, queue) -> None:
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    pts = np.random.default_rng(image_id).uniform(0, 100, size=(68, 2)).astype(np.float32)
    barrier.wait()
    t_start = time.perf_counter()
    lat = []
    for i in range(n):
        pts[i % 68] += 0.5
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO annotations (image_id, version, points, created_at) VALUES (?, ?, ?, ?)",
                     (image_id, i + 1, pts.tobytes(), time.time()))
        conn.execute("COMMIT")
        lat.append(time.perf_counter() - t0)
    queue.put((lat, time.perf_counter() - t_start))
    conn.close()


def _run_writers(target, db: str, image_ids: list[int], n: int) -> tuple[list[float], float]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(image_ids))
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(db, i, n, barrier, queue)) for i in image_ids]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"writer processes failed with exit codes {bad}")
    lat = [t for r in results for t in r[0]]
    wall = max(r[1] for r in results)
    return lat, wall


def _images(folder: Path, count: int) -> list[Path]:
    import cv2

    out = []
    for i in range(count):
        img = np.full((32, 32, 3), 40 + 50 * i, np.uint8)
        img[i, i] = 255
        p = folder / f"img{i}.png"
        cv2.imwrite(str(p), img)
        out.append(p)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from asmnet_studio.datasets.store import Workspace

    n = 20 if quick else 300
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        tmp = Path(tmp)
        paths = _images(tmp, 4)
        raw_p50: dict[int, float] = {}
        for writers in (1, 4):
            # raw sqlite3 peer
            raw_db = tmp / f"raw{writers}.db"
            conn = sqlite3.connect(raw_db, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE annotations (id INTEGER PRIMARY KEY, image_id INTEGER, version INTEGER, "
                         "points BLOB, created_at REAL)")
            conn.close()
            lat, wall = _run_writers(_writer_raw, str(raw_db), list(range(1, writers + 1)), n)
            st = common.stats(lat)
            raw_p50[writers] = st["median"]
            rows.append({"method": "raw sqlite3 INSERT (peer)", "writers": writers, "saves": len(lat),
                         "p50_ms": st["median"], "p99_ms": st["p99"], "max_ms": float(np.max(lat) * 1e3),
                         "saves_per_s": len(lat) / wall, "p50_x_raw": 1.0})
            # the workspace
            db = tmp / f"ws{writers}.db"
            ws = Workspace(db)
            ids = [ws.add_image(p) for p in paths[:writers]]
            ws.close()
            lat, wall = _run_writers(_writer_workspace, str(db), ids, n)
            st = common.stats(lat)
            rows.append({"method": "Workspace.save_annotation", "writers": writers, "saves": len(lat),
                         "p50_ms": st["median"], "p99_ms": st["p99"], "max_ms": float(np.max(lat) * 1e3),
                         "saves_per_s": len(lat) / wall,
                         "p50_x_raw": st["median"] / raw_p50[writers] if raw_p50[writers] > 0 else math.nan})
            with Workspace(db) as ws:  # every save landed, with consecutive versions
                for i in ids:
                    if len(ws.history(i)) != n:
                        raise RuntimeError(f"image {i}: {len(ws.history(i))} versions stored, expected {n}")
    notes = [f"{n} saves per writer; each writer its own image (no version conflicts); file workspace in a temp "
             f"folder (WAL, synchronous=NORMAL); all versions checked present afterwards.",
             "Concurrent writers serialise on SQLite's write lock: p50/p99 at 4 writers include waiting for it."]
    return {"rows": rows, "columns": COLUMNS, "notes": notes}
