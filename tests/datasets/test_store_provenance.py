"""Label provenance as data (schema version 5): the per-point ``placed`` mask and ``pose_source`` of each
annotation, written by the store's writers and filled by a migration that loses nothing."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import sqlite_utils

from asmnet_studio.datasets.sample import Dataset, Sample
from asmnet_studio.datasets.store import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Workspace
from tests.datasets.store_helpers import make_image

K = 68
GT_POSE = np.float32([10, -5, 2])
MODEL_POSE = np.float32([11, -4, 3])


def _pts(v: float) -> np.ndarray:
    return (np.arange(2 * K, dtype=np.float32).reshape(K, 2) + v).astype(np.float32)


def _blob(a) -> bytes:
    return np.asarray(a, "<f4").tobytes()


def _version_before_provenance() -> int:
    """The schema version of files written before ``placed`` existed (``MIGRATIONS[v]`` adds it)."""
    db = sqlite_utils.Database(memory=True)
    for v, migration in enumerate(MIGRATIONS):
        migration(db)
        if "placed" in {c.name for c in db["annotations"].columns}:
            return v
    raise AssertionError("no migration adds annotations.placed")


def _old_file(path, img_a, img_b) -> int:
    """A workspace at the schema version just before ``placed`` existed, written with that version's own
    migrations and plain SQL (as the annotator of that time saved: the placed points listed in the note).
    Returns that version."""
    version = _version_before_provenance()
    db = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:version]:
        migration(db)
    db.execute(f"PRAGMA user_version = {version}")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for i, img in enumerate((img_a, img_b), start=1):
        db["images"].insert({"id": i, "path": str(img), "name": img.name, "root": str(img.parent),
                             "sha256": f"{i}" * 64, "width": 40, "height": 30, "tags": "[]",
                             "added_at": "2025-01-01T00:00:00+00:00", "face": 0})
    rows = [  # image, version, source, pose, note
        (1, 1, "ground_truth", GT_POSE, None),
        (1, 2, "correction", GT_POSE, "placed by hand: 3,17,40"),
        (1, 3, "correction", MODEL_POSE, "eyes closed; placed by hand: 2"),
        (1, 4, "correction", None, "placed by hand: 1,99"),  # 99 is out of range: the note stays as it was
        (2, 1, "ground_truth", None, None),
        (2, 2, "correction", MODEL_POSE, "just a note"),
    ]
    for image_id, v, source, pose, note in rows:
        db["annotations"].insert({"image_id": image_id, "version": v, "author": f"a{v}",
                                  "created_at": f"2025-01-0{v}T00:00:00+00:00", "source": source, "status": "todo",
                                  "num_points": K, "points": _blob(_pts(v)), "schema": "ibug68", "note": note,
                                  "pose": None if pose is None else _blob(pose),
                                  "base_version": None if v == 1 else v - 1})
    db.conn.close()
    return version


def test_migration_converts_notes_to_masks_and_infers_pose_sources_losing_nothing(tmp_path):
    path = tmp_path / "old.db"
    old = _old_file(path, make_image(tmp_path / "a.png", 1), make_image(tmp_path / "b.png", 2))
    assert old < SCHEMA_VERSION
    with sqlite3.connect(path) as c:
        before = c.execute("SELECT id, image_id, version, author, created_at, source, status, points, pose, "
                           "base_version, note FROM annotations ORDER BY id").fetchall()
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION
        assert ws.check() == []
        h1, h2 = ws.history(1), ws.history(2)
        assert [np.flatnonzero(a.placed).tolist() for a in h1] == [[], [3, 17, 40], [2], [1]]
        assert [a.note for a in h1] == [None, None, "eyes closed;", "placed by hand: 1,99"]
        assert [a.pose_source for a in h1] == ["ground_truth", "ground_truth", "model", "none"]
        assert [a.pose_source for a in h2] == ["none", "model"] and h2[1].note == "just a note"
        assert all(a.placed.dtype == bool and a.placed.shape == (K,) for a in h1 + h2)
    with sqlite3.connect(path) as c:  # same rows, same history; only the notes that listed points changed
        after = c.execute("SELECT id, image_id, version, author, created_at, source, status, points, pose, "
                          "base_version, note FROM annotations ORDER BY id").fetchall()
    assert len(after) == len(before) == 6
    assert [r[:-1] for r in after] == [r[:-1] for r in before]
    assert [r[-1] for r in after] == [None, None, "eyes closed;", "placed by hand: 1,99", None, "just a note"]


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws.db") as w:
        yield w, w.add_image(make_image(tmp_path / "a.png", 1))


def test_placed_is_written_as_indices_or_mask_and_read_as_a_mask(ws):
    w, i = ws
    a = w.save_annotation(i, _pts(1), author="p", base_version=None, placed=[40, 3, 3])
    assert np.flatnonzero(a.placed).tolist() == [3, 40] and a.note is None
    np.testing.assert_array_equal(w.latest(i).placed, a.placed)
    mask = np.zeros(K, bool)
    mask[[0, 67]] = True
    saved = w.save_annotation(i, _pts(2), author="p", base_version=1, placed=mask)
    assert np.flatnonzero(saved.placed).tolist() == [0, 67]
    assert not w.save_annotation(i, _pts(3), author="p", base_version=2).placed.any()
    with pytest.raises(ValueError, match="point index 68 is outside 0..67"):
        w.save_annotation(i, _pts(4), author="p", base_version=3, placed=[1, 68])
    with pytest.raises(ValueError, match="mask of shape"):
        w.save_annotation(i, _pts(4), author="p", base_version=3, placed=np.ones(3, bool))
    with pytest.raises(ValueError, match="bool mask or point indices"):
        w.save_annotation(i, _pts(4), author="p", base_version=3, placed=[0.5])
    assert len(w.history(i)) == 3


def test_pose_source_is_written_or_inferred_and_checked(ws):
    w, i = ws
    gt = w.save_annotation(i, _pts(1), author="imp", base_version=None, source="ground_truth", pose=GT_POSE)
    assert gt.pose_source == "ground_truth"
    same = w.save_annotation(i, _pts(2), author="p", base_version=1, pose=GT_POSE)  # the annotator's save
    other = w.save_annotation(i, _pts(3), author="p", base_version=2, pose=MODEL_POSE)
    told = w.save_annotation(i, _pts(4), author="p", base_version=3, pose=MODEL_POSE, pose_source="ground_truth")
    none = w.save_annotation(i, _pts(5), author="p", base_version=4)
    assert [a.pose_source for a in (same, other, told, none)] == ["ground_truth", "model", "ground_truth", "none"]
    assert [a.pose_source for a in w.history(i)] == ["ground_truth", "ground_truth", "model", "ground_truth", "none"]
    with pytest.raises(ValueError, match="pose source 'model' does not fit no pose"):
        w.save_annotation(i, _pts(6), author="p", base_version=5, pose_source="model")
    with pytest.raises(ValueError, match="pose source 'none' does not fit a pose"):
        w.save_annotation(i, _pts(6), author="p", base_version=5, pose=GT_POSE, pose_source="none")
    with pytest.raises(ValueError, match="unknown pose source 'guess'"):
        w.save_annotation(i, _pts(6), author="p", base_version=5, pose=GT_POSE, pose_source="guess")
    assert w.check() == []
    w.db.conn.execute("UPDATE annotations SET pose_source = 'model' WHERE version = 5")
    assert w.check() == [f"annotation {none.id}: pose_source 'model' does not fit its pose"]


def test_import_writes_ground_truth_pose_sources(tmp_path):
    make_image(tmp_path / "ds" / "a.png", 1)
    make_image(tmp_path / "ds" / "b.png", 2)
    ds = Dataset(root=tmp_path / "ds", format="pts", schema="ibug68",
                 samples=[Sample("a.png", _pts(1), pose=GT_POSE), Sample("b.png", _pts(2))])
    with Workspace(tmp_path / "ws.db") as w:
        ids = w.import_dataset(ds).image_ids
        assert [(w.latest(i).source, w.latest(i).pose_source) for i in ids] == [
            ("ground_truth", "ground_truth"), ("ground_truth", "none")]


def test_the_evaluate_view_takes_only_ground_truth_poses_as_reference(ws):
    from asmnet_studio.annotator import evaluation_view as ev
    from asmnet_studio.datasets.store import PredictionRow

    w, i = ws
    m = w.register_model("m", "m.pt", "a" * 64, {})
    w.save_predictions([PredictionRow(i, m, _pts(0), MODEL_POSE, np.full(K, 0.5, np.float32))])
    w.save_annotation(i, _pts(1), author="p", base_version=None, pose=MODEL_POSE, pose_source="model")
    assert ev.gather(w, "correction").ref_pose is None  # a model's pose is no reference
    w.save_annotation(i, _pts(2), author="p", base_version=1, pose=GT_POSE, pose_source="ground_truth")
    np.testing.assert_array_equal(ev.gather(w, "correction").ref_pose, [GT_POSE])
