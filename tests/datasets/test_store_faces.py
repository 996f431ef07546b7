"""Several faces per picture in the workspace: import keeps every face (300-W ``_1`` / ``_2``, COCO images
with several people), export writes each face the way its format does, and a workspace written by the
previous schema (one face per picture) is migrated with nothing lost."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from asmnet_studio.datasets.formats import read_dataset, write_dataset
from asmnet_studio.datasets.store import SCHEMA_VERSION, Workspace
from tests.conftest import data_path

FIXTURE_V2 = Path(__file__).resolve().parent / "fixtures" / "workspace_v2.db"
AFW = ("300w-samples", "binrey_fast_face_landmarks_2D3D", "train", "afw")


@pytest.fixture
def two_faces(tmp_path) -> Path:
    """300-W's 261068_1 / 261068_2 (one picture stored twice, a .pts for each of its two faces)."""
    src = data_path(*AFW)
    dst = tmp_path / "afw"
    dst.mkdir()
    for stem in ("261068_1", "261068_2"):
        for ext in (".jpg", ".pts"):
            shutil.copy2(src / f"{stem}{ext}", dst / f"{stem}{ext}")
    return dst


@pytest.mark.data
def test_300w_two_faces_of_one_picture_are_imported_and_exported(two_faces, tmp_path):
    ds = read_dataset(two_faces, "pts")
    assert len(ds) == 2
    with Workspace(tmp_path / "ws.db") as ws:
        report = ws.import_dataset(ds)
        assert (report.added, report.present, report.skipped) == (2, 0, [])
        faces = ws.faces_of(report.image_ids[0])
        assert [f.face for f in faces] == [0, 1] and len({f.sha256 for f in faces}) == 1
        for s, fid in zip(ds.samples, report.image_ids):
            assert ws.latest(fid).points.tobytes() == s.points.tobytes()
        assert ws.import_dataset(ds).present == 2  # nothing twice
        out = ws.export_dataset(tmp_path / "out", "pts")
    assert sorted(p.name for p in out.iterdir()) == ["261068_1.jpg", "261068_1.pts", "261068_2.jpg", "261068_2.pts"]
    back = read_dataset(out, "pts")
    assert [(s.image, s.face) for s in back.samples] == [(s.image, s.face) for s in ds.samples]
    for a, b in zip(back.samples, ds.samples):
        assert a.points.tobytes() == b.points.tobytes()


@pytest.mark.data
def test_coco_picture_with_two_people_round_trips(two_faces, tmp_path):
    """One image file, two annotations (faces 0 and 1): both imported, exported as one image entry with
    one annotation per face."""
    ds = read_dataset(two_faces, "pts")
    for s in ds.samples:
        s.image, s.face = ds.samples[0].image, ds.samples.index(s)
    coco_in = write_dataset(ds, tmp_path / "coco_in", "coco")
    src = read_dataset(coco_in, "coco")
    assert [s.face for s in src.samples] == [0, 1]
    with Workspace(None) as ws:
        report = ws.import_dataset(src)
        assert report.added == 2
        assert [f.face for f in ws.faces_of(report.image_ids[0])] == [0, 1]
        out = ws.export_dataset(tmp_path / "coco_out", "coco")
    doc = json.loads(Path(out).read_text())
    assert len(doc["images"]) == 1 and len(doc["annotations"]) == 2
    assert [a["face"] for a in doc["annotations"]] == [0, 1]
    back = read_dataset(Path(out).parent, "coco")
    for a, b in zip(back.samples, src.samples):
        assert a.points.tobytes() == b.points.tobytes() and (a.image, a.face) == (b.image, b.face)


def test_add_face_and_set_box(tmp_path):
    from tests.datasets.store_helpers import make_image

    img = make_image(tmp_path / "a.png", seed=1, size=(80, 60))
    with Workspace(None) as ws:
        first = ws.add_image(img, box=(1, 2, 30, 40), box_source="detector")
        second = ws.add_face(first, (40, 5, 70, 50), box_source="detector")
        assert ws.add_image(img) == first  # the picture is known: its face 0
        assert [(f.id, f.face, f.box_source) for f in ws.faces_of(second)] == [(first, 0, "detector"),
                                                                                (second, 1, "detector")]
        ws.set_box(first, None, box_source="not_found")
        rec = ws.image(first)
        assert rec.box is None and rec.box_source == "not_found"
        with pytest.raises(ValueError, match="box source"):
            ws.set_box(first, (1, 2, 3, 4), box_source="guess")
        q = ws.queue().set_index("image_id")
        assert q.loc[second, "faces"] == 2 and q.loc[second, "face"] == 1
        assert q.loc[first, "box_source"] == "not_found" and not q.loc[first, "predicted"]


def test_workspace_written_by_schema_2_is_migrated(tmp_path):
    """``fixtures/workspace_v2.db`` was written by the schema-2 store (see make_workspace_v2.py)."""
    path = tmp_path / "old.db"
    shutil.copy2(FIXTURE_V2, path)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
        before = {t: c.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
                  for t in ("images", "annotations", "models", "predictions")}
    with Workspace(path) as ws:
        assert ws.schema_version == SCHEMA_VERSION >= 3
        assert ws.check() == []
        recs = ws.images()
        assert [(r.id, r.face, r.box_source) for r in recs] == [(1, 0, None), (2, 0, None), (3, 0, None)]
        assert [r.name for r in recs] == ["astronaut.png", "camera.png", "coffee.png"]
        np.testing.assert_array_equal(recs[0].box, np.float32([100, 90, 300, 310]))
        hist = ws.history(1)
        assert [(a.version, a.source, a.status, a.author) for a in hist] == [
            (1, "ground_truth", "todo", "import"), (2, "correction", "in_progress", "ann"),
            (3, "correction", "done", "rev")]
        assert hist[2].visibility.tolist() == [2] * 68
        # schema 5: the note's list of hand-placed points became the placed mask
        # (tests/datasets/test_store_provenance.py)
        assert hist[1].note is None and np.flatnonzero(hist[1].placed).tolist() == [3, 17]
        assert [len(ws.predictions(i)) for i in (1, 2, 3)] == [0, 1, 1]
        # the migrated file works as a current one: a second face, a save on it
        new = ws.add_face(1, (10, 10, 90, 90))
        assert ws.image(new).face == 1 and ws.image(new).sha256 == recs[0].sha256
        ws.save_annotation(new, hist[0].points, author="x", base_version=None)
        assert ws.check() == []
    with sqlite3.connect(path) as c:  # nothing was lost or changed: old columns of old rows identical
        note = [d[1] for d in c.execute("PRAGMA table_info(annotations)")].index("note")
        before["annotations"] = [r[:note] + (None if r[0] == 2 else r[note],) + r[note + 1:]  # the converted note
                                 for r in before["annotations"]]
        for t, rows in before.items():
            cols = len(rows[0]) if rows else 0
            after = [r[:cols] for r in c.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()][:len(rows)]
            assert after == rows, t
