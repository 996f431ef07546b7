"""The workspace under several writer processes, and after a SIGKILL in the middle of an import."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from asmnet_studio.datasets.formats import read_dataset
from asmnet_studio.datasets.store import Workspace
from tests.datasets.store_helpers import make_aflw_subset, make_image, writer

REPO = Path(__file__).resolve().parents[2]
WORKERS, SAVES, IMAGES = 4, 500, 6


def test_four_writer_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    with Workspace(path) as ws:
        ids = [ws.add_image(make_image(tmp_path / f"{i}.png", seed=i)) for i in range(IMAGES)]
    ctx = multiprocessing.get_context("spawn")
    t0 = time.monotonic()
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(writer, [(str(path), w, SAVES, ids) for w in range(WORKERS)])
    elapsed = time.monotonic() - t0

    accepted = [a for r in results for a in r[0]]
    conflicts = sum(r[1] for r in results)
    stale_refused = sum(r[2] for r in results)
    errors = [e for r in results for e in r[3]]
    assert errors == []  # only ConflictError, and every stale base was refused
    assert len(accepted) + conflicts == WORKERS * SAVES
    assert stale_refused > 0

    with Workspace(path) as ws:
        assert ws.check() == []  # integrity_check ok, foreign keys ok, versions 1..n, base = version - 1
        stored = {}
        for i in ids:
            hist = ws.history(i)
            assert [a.version for a in hist] == list(range(1, len(hist) + 1))
            for a in hist:
                stored[a.note] = (i, a.version, a.author, a.points)
    assert len(stored) == len(accepted)  # every accepted save present, nothing else
    for image_id, version, note in accepted:
        i, v, author, points = stored[note]
        worker, n = (int(x) for x in note[1:].split(":"))
        assert (i, v, author) == (image_id, version, f"w{worker}")
        assert np.all(points == worker * 10_000 + n)
    print(f"{len(accepted)} saves, {conflicts} conflicts, {elapsed:.1f} s")


# ------------------------------------------------------------------------------------------- SIGKILL

CHILD = textwrap.dedent("""
    import os, signal, sys
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.store import Workspace

    ws_path, root, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ds = read_dataset(root, "aflw2000")
    ws = Workspace(ws_path)
    if kill_at > 0:
        # die inside the transaction of sample kill_at: its image row is written, its annotation not yet
        original, calls = Workspace._insert_annotation, [0]
        def insert_then_die(self, conn, image_id, row, base):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, conn, image_id, row, base)
        Workspace._insert_annotation = insert_then_die
    def progress(done, total):
        print(done, flush=True)
    ws.import_dataset(ds, progress=progress)
    print("finished", flush=True)
""")

N = 40


@pytest.fixture
def subset(tmp_path, aflw_dir):
    return make_aflw_subset(aflw_dir, tmp_path / "aflw", N)


def _start(ws_path: Path, root: Path, kill_at: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(ws_path), str(root), str(kill_at)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _assert_consistent(ws: Workspace) -> None:
    assert ws.check() == []
    for rec in ws.images():
        hist = ws.history(rec.id)
        assert [a.version for a in hist] == [1], f"image {rec.id} has versions {[a.version for a in hist]}"
        assert hist[0].points.shape == (68, 2) and hist[0].source == "ground_truth"


def _complete_and_check(ws_path: Path, subset: Path, already: int) -> None:
    with Workspace(ws_path) as ws:
        _assert_consistent(ws)
        assert len(ws.images()) == already
        report = ws.import_dataset(read_dataset(subset, "aflw2000"))
        assert (report.added, report.present, report.skipped) == (N - already, already, [])
        _assert_consistent(ws)
        images = ws.images()
        assert len(images) == N
        assert Counter(r.sha256 for r in images).most_common(1)[0][1] == 1  # no duplicates
        assert sorted(r.name for r in images) == sorted(s.image for s in read_dataset(subset, "aflw2000").samples)


def test_sigkill_inside_an_import_transaction_leaves_a_consistent_workspace(tmp_path, subset):
    ws_path = tmp_path / "crash.db"
    kill_at = 17
    proc = _start(ws_path, subset, kill_at)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    assert "finished" not in out
    _complete_and_check(ws_path, subset, already=kill_at - 1)


def test_sigkill_at_an_arbitrary_moment_of_an_import(tmp_path, subset):
    ws_path = tmp_path / "crash.db"
    proc = _start(ws_path, subset, 0)
    lines = 0
    for line in proc.stdout:  # wait until the import is under way, then kill it without warning
        lines += 1
        if lines >= N // 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with Workspace(ws_path) as ws:
        already = len(ws.images())
    assert N // 3 <= already <= N  # (under heavy load the import may finish before the kill lands)
    _complete_and_check(ws_path, subset, already=already)
