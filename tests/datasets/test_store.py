"""asmnet_studio.datasets.store.Workspace: images, annotation history, conflicts, exact arrays, predictions, queue,
migrations and refusal of foreign / newer files."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from asmnet_studio.datasets.errors import ConflictError, ImageError, StoreError
from asmnet_studio.datasets.store import (
    APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, SOURCES, STATUSES, NotFoundError, PredictionRow, Workspace,
)
from tests.datasets.store_helpers import make_image

K = 68


def pts(value: float = 10.0, k: int = K) -> np.ndarray:
    return np.full((k, 2), value, dtype=np.float32) + np.arange(k, dtype=np.float32)[:, None]


@pytest.fixture
def ws():
    with Workspace(None) as w:
        yield w


@pytest.fixture
def img(tmp_path):
    return make_image(tmp_path / "faces" / "a.png", seed=1)


@pytest.fixture
def image_id(ws, img):
    return ws.add_image(img, dataset="demo", split="test", tags=["x"], box=[1, 2, 30, 20])


# --------------------------------------------------------------------------------------------- images


def test_add_image_records_file_facts_and_dedups_by_content(ws, img, tmp_path):
    a = ws.add_image(img, dataset="demo", split="test", subset="common", tags=["x", "y"], box=[1, 2, 30, 20])
    copy = tmp_path / "elsewhere" / "copy.png"
    copy.parent.mkdir()
    copy.write_bytes(img.read_bytes())
    assert ws.add_image(copy) == a  # same content, same image
    other = ws.add_image(make_image(tmp_path / "b.png", seed=2))
    assert other != a
    rec = ws.image(a)
    assert (rec.width, rec.height) == (40, 30)
    assert rec.path == img.resolve() and ws.image_path(a) == img.resolve()
    assert len(rec.sha256) == 64 and rec.name == "a.png"
    assert (rec.dataset, rec.split, rec.subset, rec.tags) == ("demo", "test", "common", ["x", "y"])
    assert rec.box.dtype == np.float32 and rec.box.tolist() == [1, 2, 30, 20]
    assert [r.id for r in ws.images()] == [a, other]
    assert [r.id for r in ws.images(split="test")] == [a]
    assert [r.id for r in ws.images(dataset="demo")] == [a]


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_add_image_refuses_bad_files(ws, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(ImageError, match="bad.png"):
        ws.add_image(bad)
    with pytest.raises(ImageError, match="missing.png"):
        ws.add_image(tmp_path / "missing.png")
    assert ws.images() == []


def test_unknown_image_is_a_not_found_error(ws):
    with pytest.raises(NotFoundError, match="no image with id 42"):
        ws.image(42)
    with pytest.raises(KeyError):
        ws.save_annotation(42, pts(), author="a", base_version=None)


# ---------------------------------------------------------------------------------- history, conflicts


def test_every_save_is_a_new_version_with_history(ws, image_id):
    assert ws.latest(image_id) is None and ws.history(image_id) == []
    v1 = ws.save_annotation(image_id, pts(1), author="import", base_version=None, source="ground_truth",
                            status="todo", pose=[10, -5, 2])
    v2 = ws.save_annotation(image_id, pts(2), author="ann", base_version=1, status="in_progress", note="eyes")
    v3 = ws.save_annotation(image_id, pts(3), author="rev", base_version=2, status="reviewed",
                            visibility=np.r_[np.full(K - 1, 2), 1])
    hist = ws.history(image_id)
    assert [a.version for a in hist] == [1, 2, 3]
    assert [a.author for a in hist] == ["import", "ann", "rev"]
    assert [a.source for a in hist] == ["ground_truth", "correction", "correction"]
    assert [a.base_version for a in hist] == [None, 1, 2]
    assert hist[1].note == "eyes" and hist[0].pose.tolist() == [10, -5, 2]
    assert hist[2].visibility.dtype == np.int8 and hist[2].visibility[-1] == 1
    np.testing.assert_array_equal(hist[0].points, pts(1))
    for a, b in zip(hist, (v1, v2, v3)):
        assert a.id == b.id and a.created_at == b.created_at
        t = datetime.fromisoformat(a.created_at)
        assert t.utcoffset() == timezone.utc.utcoffset(None)
    assert ws.latest(image_id).version == 3
    assert ws.latest(image_id, source="ground_truth").version == 1
    assert ws.latest(image_id, source="prediction") is None
    assert ws.check() == []


@pytest.mark.parametrize("stale", [None, 1, 3, 99])
def test_stale_base_version_is_refused_and_nothing_is_written(ws, image_id, stale):
    ws.save_annotation(image_id, pts(1), author="alice", base_version=None)
    ws.save_annotation(image_id, pts(2), author="bob", base_version=1)
    with pytest.raises(ConflictError) as info:
        ws.save_annotation(image_id, pts(9), author="carol", base_version=stale)
    err = info.value
    assert (err.image_id, err.expected, err.actual, err.author) == (image_id, stale, 2, "bob")
    assert "nothing was overwritten" in str(err)
    assert [a.author for a in ws.history(image_id)] == ["alice", "bob"]
    np.testing.assert_array_equal(ws.latest(image_id).points, pts(2))


def test_first_save_must_say_it_saw_nothing(ws, image_id):
    with pytest.raises(ConflictError):
        ws.save_annotation(image_id, pts(), author="a", base_version=1)
    assert ws.history(image_id) == []


# --------------------------------------------------------------------------------------- validation


def test_non_finite_point_is_refused_naming_the_index(ws, image_id):
    p = pts()
    p[7, 1] = np.nan
    with pytest.raises(ValueError, match="point 7"):
        ws.save_annotation(image_id, p, author="a", base_version=None)
    p64 = pts().astype(np.float64)
    p64[7, 1] = 1e300  # finite as float64, infinite as float32
    with pytest.raises(ValueError, match="point 7"):
        ws.save_annotation(image_id, p64, author="a", base_version=None)
    assert ws.history(image_id) == []


@pytest.mark.parametrize("bad", [np.zeros((68, 3)), np.zeros(68), np.zeros((0, 2)), [["a", "b"]]])
def test_points_must_be_k_by_2_numbers(ws, image_id, bad):
    with pytest.raises(ValueError, match="points"):
        ws.save_annotation(image_id, bad, author="a", base_version=None, schema="custom")


def test_unknown_status_and_source_list_the_choices(ws, image_id):
    with pytest.raises(ValueError, match="status 'finished'.*" + str(list(STATUSES)).replace("[", r"\[")):
        ws.save_annotation(image_id, pts(), author="a", base_version=None, status="finished")
    with pytest.raises(ValueError, match="source 'manual'.*correction"):
        ws.save_annotation(image_id, pts(), author="a", base_version=None, source="manual")
    assert set(SOURCES) == {"ground_truth", "prediction", "correction"}


def test_other_arguments_are_checked(ws, image_id):
    with pytest.raises(ValueError, match="visibility of point 3"):
        ws.save_annotation(image_id, pts(), author="a", base_version=None, visibility=[2, 2, 2, 7] + [2] * 64)
    with pytest.raises(ValueError, match="pose"):
        ws.save_annotation(image_id, pts(), author="a", base_version=None, pose=[1, 2])
    with pytest.raises(ValueError, match="ibug68.*68 points"):
        ws.save_annotation(image_id, pts(k=5), author="a", base_version=None)
    with pytest.raises(ValueError, match="author"):
        ws.save_annotation(image_id, pts(), author="", base_version=None)
    assert ws.save_annotation(image_id, pts(k=5), author="a", base_version=None, schema="my5").points.shape == (5, 2)


# ------------------------------------------------------------------------------- exact array storage

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=hnp.arrays(np.float32, st.tuples(st.integers(1, 120), st.just(2)), elements=finite32),
       pose=hnp.arrays(np.float32, 3, elements=finite32), vis_seed=st.integers(0, 2**32 - 1))
def test_arrays_round_trip_bit_exactly(ws, image_id, points, pose, vis_seed):
    vis = np.random.default_rng(vis_seed).integers(0, 3, len(points)).astype(np.int8)
    base = ws.latest(image_id)
    ws.save_annotation(image_id, points, author="h", base_version=base and base.version, pose=pose,
                       visibility=vis, schema="any")
    got = ws.latest(image_id)
    assert got.points.dtype == np.float32 and got.points.shape == points.shape
    assert got.points.tobytes() == points.tobytes()  # bit-exact, -0.0 and subnormals included
    assert got.pose.tobytes() == pose.tobytes()
    assert got.visibility.tobytes() == vis.tobytes()


def test_file_workspace_persists_exactly(tmp_path, img):
    p = np.random.default_rng(0).normal(200, 80, (K, 2)).astype(np.float32)
    with Workspace(tmp_path / "w.db") as w:
        i = w.add_image(img)
        w.save_annotation(i, p, author="a", base_version=None)
    with Workspace(tmp_path / "w.db") as w:
        assert w.latest(i).points.tobytes() == p.tobytes()
        assert w.schema_version == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "w.db") as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ---------------------------------------------------------------------------- models and predictions


def test_models_and_predictions(ws, image_id):
    m1 = ws.register_model("asmnet", "w/a.pt", "ab" * 32, {"nme": 3.1, "data": ["300w"]})
    assert ws.register_model("asmnet", "w/a.pt", "ab" * 32, {}) == m1  # same version, same id
    m2 = ws.register_model("asmnet", "w/b.pt", "cd" * 32, {"nme": 2.9})
    models = ws.models()
    assert [m.id for m in models] == [m1, m2] and models[0].card == {"data": ["300w"], "nme": 3.1}
    assert models[0].checkpoint == "w/a.pt" and datetime.fromisoformat(models[0].created_at)
    conf = np.linspace(0, 1, K, dtype=np.float32)
    row = PredictionRow(image_id, m1, pts(5), np.array([1, 2, 3], np.float32), conf, np.array([0, 0, 9, 9]), 0.25)
    ws.save_predictions([row])
    ws.save_predictions([PredictionRow(image_id, m2, pts(6), None, conf, None, float("nan"))])
    got = ws.latest_prediction(image_id)
    assert got.model_id == m2 and got.pose is None and np.isnan(got.uncertainty)
    got1 = ws.latest_prediction(image_id, model_id=m1)
    assert got1.points.tobytes() == pts(5).tobytes() and got1.confidence.tobytes() == conf.tobytes()
    assert got1.box.tolist() == [0, 0, 9, 9] and got1.uncertainty == 0.25 and got1.pose.tolist() == [1, 2, 3]
    assert ws.latest_prediction(image_id, model_id=999) is None


def test_save_predictions_is_all_or_nothing(ws, image_id):
    m = ws.register_model("m", "m.pt", "00", {})
    good = PredictionRow(image_id, m, pts(), None, np.ones(K, np.float32))
    with pytest.raises(NotFoundError, match="row 1: no model with id 77"):
        ws.save_predictions([good, PredictionRow(image_id, 77, pts(), None, np.ones(K, np.float32))])
    with pytest.raises(ValueError, match="row 1: confidence"):
        ws.save_predictions([good, PredictionRow(image_id, m, pts(), None, np.ones(3, np.float32))])
    assert ws.latest_prediction(image_id) is None
    with pytest.raises(ValueError, match="not JSON"):
        ws.register_model("m", "m.pt", "01", {"x": object()})


# ------------------------------------------------------------------------------------------- queue


def test_queue_one_row_per_image(ws, image_id, tmp_path):
    other = ws.add_image(make_image(tmp_path / "b.png", seed=5), split="train")
    m = ws.register_model("m", "m.pt", "00", {})
    pred = pts(10)
    ws.save_predictions([PredictionRow(image_id, m, pred, None, np.full(K, 0.5, np.float32), None, 0.1)])
    ws.save_annotation(image_id, pred, author="import", base_version=None, source="ground_truth", status="todo")
    ws.save_annotation(image_id, pred + np.array([3, 4], np.float32), author="ann", base_version=1, status="done")
    q = ws.queue()
    assert list(q.columns)[:10] == ["image_id", "path", "status", "author", "updated_at", "confidence",
                                    "uncertainty", "correction_px", "split", "dataset"]
    assert q["image_id"].tolist() == [image_id, other]
    first, second = q.iloc[0], q.iloc[1]
    assert (first.status, first.author, first.version, first.split) == ("done", "ann", 2, "test")
    assert first.confidence == pytest.approx(0.5) and first.uncertainty == pytest.approx(0.1)
    assert first.correction_px == pytest.approx(5.0)
    assert first.updated_at == ws.latest(image_id).created_at
    assert second.status == "todo" and pd.isna(second.author) and np.isnan(second.correction_px)
    assert [r.id for r in ws.images(status="todo")] == [other]
    assert [r.id for r in ws.images(status=["done", "reviewed"])] == [image_id]
    with pytest.raises(ValueError, match="status"):
        ws.images(status="nope")


def test_threads_may_share_one_workspace(tmp_path, img):
    with Workspace(tmp_path / "t.db") as w:
        i = w.add_image(img)
        errors = []

        def save(n):
            for _ in range(n):
                try:
                    latest = w.latest(i)
                    w.save_annotation(i, pts(), author=threading.current_thread().name,
                                      base_version=latest and latest.version)
                except ConflictError:
                    pass
                except Exception as exc:  # pragma: no cover - the failure being tested for
                    errors.append(exc)

        threads = [threading.Thread(target=save, args=(50,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and w.check() == []
        assert len(w.history(i)) >= 50


# ------------------------------------------------------------------------ migrations, foreign files


def _version_1_file(path, img):
    """A workspace as the first schema version wrote it, with one image and two versions."""
    db = sqlite_utils.Database(path)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db["images"].insert({"id": 1, "path": str(img), "name": img.name, "root": str(img.parent), "sha256": "f" * 64,
                         "width": 40, "height": 30, "tags": "[]", "added_at": "2025-01-01T00:00:00+00:00"})
    for v in (1, 2):
        db["annotations"].insert({"image_id": 1, "version": v, "author": f"a{v}",
                                  "created_at": "2025-01-01T00:00:00+00:00",
                                  "source": "ground_truth" if v == 1 else "correction", "status": "todo",
                                  "num_points": K, "points": pts(v).astype("<f4").tobytes(), "schema": "ibug68"})
    db.conn.close()


def test_an_old_version_file_is_migrated(tmp_path, img):
    path = tmp_path / "old.db"
    _version_1_file(path, img)
    with Workspace(path) as w:
        assert w.schema_version == SCHEMA_VERSION
        hist = w.history(1)
        assert [a.base_version for a in hist] == [None, 1]
        np.testing.assert_array_equal(hist[1].points, pts(2))
        w.save_annotation(1, pts(3), author="new", base_version=2)
        assert w.check() == []
    with Workspace(path) as w:  # re-opening a current file changes nothing
        assert [a.version for a in w.history(1)] == [1, 2, 3]


def test_a_newer_version_file_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Workspace(path).close()
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"new.db.*version {SCHEMA_VERSION + 1} is newer"):
        Workspace(path)


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="other.sqlite.*another application"):
        Workspace(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "other.sqlite-wal").exists()


def test_a_non_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a database " * 200)
    with pytest.raises(StoreError, match="photo.jpg.*not a SQLite"):
        Workspace(path)


def test_opening_errors_name_the_file(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Workspace(tmp_path)
    with pytest.raises(StoreError, match="nope.db.*not found"):
        Workspace(tmp_path / "nope.db", create=False)
    with pytest.raises(StoreError, match="does not exist"):
        Workspace(tmp_path / "no" / "such" / "w.db")


def test_a_damaged_workspace_gives_store_errors_naming_it(tmp_path, img):
    path = tmp_path / "damaged.db"
    with Workspace(path) as w:
        w.add_image(img)
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\x01" * (len(data) - 4096))  # header fine, every other page garbage
    try:
        w = Workspace(path)
    except StoreError as exc:
        assert "damaged.db" in str(exc)
        return
    with w:
        assert w.check() and "damaged.db" in w.check()[0]
        with pytest.raises(StoreError, match="damaged.db"):
            w.images()
