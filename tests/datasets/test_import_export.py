"""Workspace.import_dataset / export_dataset: lossless round trip on real AFLW2000-3D data, deduplication,
bad images skipped and reported, paths that would escape their folder refused."""
from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest

from asmnet_studio.datasets.errors import UnsafePathError
from asmnet_studio.datasets.formats import format_names, read_dataset
from asmnet_studio.datasets.sample import Dataset, Sample
from asmnet_studio.datasets.store import Workspace
from tests.datasets.store_helpers import make_aflw_subset, make_image

N = 50


@pytest.fixture
def subset(tmp_path, aflw_dir):
    """50 AFLW2000-3D images with their .mat files and split.csv, same layout as the release."""
    return make_aflw_subset(aflw_dir, tmp_path / "aflw", N)


@pytest.fixture
def ws():
    with Workspace(None) as w:
        yield w


def _by_sha(ws: Workspace) -> dict:
    return {img.sha256: (img, ann) for img, ann in ws.accepted()}


# --------------------------------------------------------------------------------- real data round trip


@pytest.mark.data
def test_import_export_import_is_lossless(subset, tmp_path):
    original = read_dataset(subset, "aflw2000")
    assert len(original) == N and {s.split for s in original.samples} <= {"train", "test"}
    with Workspace(tmp_path / "a.db") as a:
        report = a.import_dataset(original)
        assert (report.added, report.present, report.skipped, report.problems) == (N, 0, [], [])
        out = a.export_dataset(tmp_path / "out", "aflw2000")
        first = _by_sha(a)
    exported = read_dataset(out, "aflw2000")
    assert len(exported) == N
    with Workspace(tmp_path / "b.db") as b:
        assert b.import_dataset(exported).added == N
        second = _by_sha(b)
    assert first.keys() == second.keys()  # the same image files (byte for byte)
    by_name = {s.image: s for s in original.samples}
    for sha, (img1, ann1) in first.items():
        img2, ann2 = second[sha]
        src = by_name[img1.name]
        assert ann1.points.tobytes() == src.points.tobytes() == ann2.points.tobytes()  # bit-exact
        assert ann1.pose.tobytes() == src.pose.tobytes()  # exact in the store
        np.testing.assert_allclose(ann2.pose, src.pose, rtol=0, atol=1e-4)  # .mat keeps float32 radians
        assert img1.split == img2.split == src.split
        assert img2.name == img1.name == src.image  # the exported folder keeps the layout
        assert (img1.width, img1.height) == (img2.width, img2.height) == (450, 450)
        assert ann1.source == ann2.source == "ground_truth" and ann1.version == 1


@pytest.mark.data
def test_reimporting_adds_nothing_twice(subset, tmp_path):
    ds = read_dataset(subset, "aflw2000")
    with Workspace(tmp_path / "w.db") as ws:
        first = ws.import_dataset(ds)
        again = ws.import_dataset(read_dataset(subset, "aflw2000"))
        assert (again.added, again.present) == (0, N)
        assert again.image_ids == first.image_ids
        assert len(ws.images()) == N
        assert all(len(ws.history(i)) == 1 for i in first.image_ids)
        # an exported copy is the same content: nothing new either
        out = ws.export_dataset(tmp_path / "copy", "aflw2000")
        assert ws.import_dataset(read_dataset(out, "aflw2000")).added == 0
        assert ws.check() == []


@pytest.mark.data
def test_export_takes_the_latest_correction_and_filters_by_status(subset, tmp_path, ws):
    ds = read_dataset(subset, "aflw2000")
    ds.samples = ds.samples[:5]
    ids = ws.import_dataset(ds, author="gt").image_ids
    gt = ws.latest(ids[0])
    moved = gt.points + np.float32(1.5)
    ws.save_annotation(ids[0], moved, author="ann", base_version=1, status="in_progress")
    ws.save_annotation(ids[0], moved + 1, author="ann", base_version=2, status="done", pose=gt.pose)
    ws.save_annotation(ids[1], gt.points, author="model", base_version=1, source="prediction", status="done")

    out = ws.export_dataset(tmp_path / "done", "aflw2000", statuses=["done"])
    done = read_dataset(out, "aflw2000")
    assert [s.image for s in done.samples] == [ws.image(ids[0]).name]  # the prediction is not accepted
    assert done.samples[0].points.tobytes() == (moved + 1).tobytes()

    everything = read_dataset(ws.export_dataset(tmp_path / "all", "aflw2000"), "aflw2000")
    assert len(everything) == 5
    assert ws.export_dataset(tmp_path / "none", "aflw2000", statuses="reviewed") == tmp_path / "none"
    with pytest.raises(ValueError, match="status 'finished'"):
        ws.export_dataset(tmp_path / "x", "aflw2000", statuses="finished")
    with pytest.raises(ValueError, match="unknown dataset format 'nope'"):
        ws.export_dataset(tmp_path / "x", "nope")


FORMATS = [f for f in ("pts", "300w", "csv", "coco") if f in format_names()]


@pytest.mark.data
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_other_formats(subset, tmp_path, ws, fmt):
    ds = read_dataset(subset, "aflw2000")
    ds.samples = ds.samples[:8]
    ws.import_dataset(ds)
    out = ws.export_dataset(tmp_path / fmt, fmt)
    back = read_dataset(out, fmt)
    assert back.problems == [] and len(back) == 8
    with Workspace(None) as w2:
        assert w2.import_dataset(back).added == 8
        second = _by_sha(w2)
    for sha, (img, ann) in _by_sha(ws).items():
        img2, ann2 = second[sha]
        assert ann2.points.tobytes() == ann.points.tobytes()
        assert img2.split == img.split


# ------------------------------------------------------------------------------------------ bad images


def _dataset(root, names) -> Dataset:
    rng = np.random.default_rng(0)
    samples = [Sample(image=n, points=rng.uniform(0, 30, (68, 2)).astype(np.float32), split="train")
               for n in names]
    return Dataset(root=root, format="aflw2000", schema="ibug68", samples=samples)


def test_bad_images_are_skipped_and_reported_by_name(tmp_path, ws):
    root = tmp_path / "ds"
    make_image(root / "good1.png", seed=1)
    make_image(root / "good2.png", seed=2)
    (root / "empty.png").write_bytes(b"")
    (root / "garbage.jpg").write_bytes(b"this is not an image" * 10)
    good = (root / "good1.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    names = ["good1.png", "empty.png", "garbage.jpg", "missing.png", "truncated.png", "good2.png"]
    report = ws.import_dataset(_dataset(root, names))
    assert (report.added, report.present) == (2, 0)
    reasons = {p.path.rsplit("/", 1)[-1]: p.message for p in report.skipped}
    assert sorted(reasons) == ["empty.png", "garbage.jpg", "missing.png", "truncated.png"]
    assert "empty" in reasons["empty.png"] and "not found" in reasons["missing.png"]
    assert all(name in msg for name, msg in reasons.items())
    assert [r.name for r in ws.images()] == ["good1.png", "good2.png"]
    assert "skipped 4" in report.summary()


def test_every_face_of_an_image_is_kept(tmp_path, ws):
    root = tmp_path / "ds"
    make_image(root / "group.png", seed=3)
    ds = _dataset(root, ["group.png", "group.png"])
    ds.samples[1].face = 1
    report = ws.import_dataset(ds)
    assert (report.added, report.skipped) == (2, [])
    faces = ws.faces_of(report.image_ids[1])
    assert [f.face for f in faces] == [0, 1] and [f.id for f in faces] == report.image_ids
    np.testing.assert_array_equal(ws.latest(faces[1].id).points, ds.samples[1].points)
    assert ws.import_dataset(ds).present == 2  # a re-import adds nothing


def test_the_same_face_twice_in_a_dataset_is_reported(tmp_path, ws):
    root = tmp_path / "ds"
    make_image(root / "group.png", seed=3)
    report = ws.import_dataset(_dataset(root, ["group.png", "group.png"]))
    assert report.added == 1 and len(report.skipped) == 1 and "face 0 appears twice" in report.skipped[0].message


def test_progress_is_reported(tmp_path, ws):
    root = tmp_path / "ds"
    for i in range(3):
        make_image(root / f"{i}.png", seed=i)
    calls = []
    ws.import_dataset(_dataset(root, ["0.png", "1.png", "2.png"]), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# ----------------------------------------------------------------------------------------- path escapes


@pytest.mark.parametrize("name", ["../outside.png", "sub/../../outside.png", "/etc/passwd", "C:\\x.png"])
def test_import_refuses_paths_that_escape_the_dataset(tmp_path, ws, name):
    """Each such entry is skipped and reported; the rest is imported (issue 17, item 4)."""
    root = tmp_path / "ds"
    make_image(root / "ok.png", seed=1)
    make_image(tmp_path / "outside.png", seed=2)
    report = ws.import_dataset(_dataset(root, ["ok.png", name]))
    assert report.added == 1 and len(report.skipped) == 1
    assert re.search("leaves the folder|absolute", str(report.skipped[0]))
    assert [r.name for r in ws.images()] == ["ok.png"]


def test_import_refuses_a_symlink_leading_outside(tmp_path, ws):
    root = tmp_path / "ds"
    make_image(root / "ok.png", seed=1)
    secret = make_image(tmp_path / "private" / "secret.png", seed=2)
    (root / "link.png").symlink_to(secret)
    (root / "inner.png").symlink_to(root / "ok.png")  # a link that stays inside is fine
    report = ws.import_dataset(_dataset(root, ["link.png", "ok.png"]))
    assert report.added == 1 and len(report.skipped) == 1 and re.search("link.png.*outside", str(report.skipped[0]))
    assert [r.name for r in ws.images()] == ["ok.png"]
    assert ws.import_dataset(_dataset(root, ["inner.png"])).added == 1


def test_export_refuses_to_write_through_a_symlink_leading_outside(tmp_path):
    root = tmp_path / "ds"
    make_image(root / "faces" / "a.png", seed=1)
    with Workspace(tmp_path / "w.db") as ws:
        ws.import_dataset(_dataset(root, ["faces/a.png"]))
        out = tmp_path / "out"
        elsewhere = tmp_path / "elsewhere"
        out.mkdir()
        elsewhere.mkdir()
        (out / "faces").symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(UnsafePathError, match="outside"):
            ws.export_dataset(out, "aflw2000")
        assert list(elsewhere.iterdir()) == []


def test_export_refuses_a_stored_name_that_escapes(tmp_path):
    root = tmp_path / "ds"
    make_image(root / "a.png", seed=1)
    db = tmp_path / "w.db"
    with Workspace(db) as ws:
        ws.import_dataset(_dataset(root, ["a.png"]))
    with sqlite3.connect(db) as c:  # a tampered (or foreign-made) workspace
        c.execute("UPDATE images SET name = ?", ("../../evil.png",))
    with Workspace(db) as ws, pytest.raises(UnsafePathError, match="evil.png"):
        ws.export_dataset(tmp_path / "out", "aflw2000")
    assert not (tmp_path / "evil.png").exists()


def test_export_of_images_from_two_datasets(tmp_path, ws):
    for name, seed in (("ds1", 1), ("ds2", 2)):
        make_image(tmp_path / name / "faces" / f"{name}.png", seed=seed)
        ws.import_dataset(_dataset(tmp_path / name, [f"faces/{name}.png"]))
    assert [r.dataset for r in ws.images()] == ["ds1", "ds2"]
    back = read_dataset(ws.export_dataset(tmp_path / "out", "aflw2000"), "aflw2000")
    assert sorted(s.image for s in back.samples) == ["ds1/faces/ds1.png", "ds2/faces/ds2.png"]


def test_export_needs_one_schema(tmp_path, ws):
    root = tmp_path / "ds"
    make_image(root / "a.png", seed=1)
    make_image(root / "b.png", seed=2)
    ws.import_dataset(_dataset(root, ["a.png"]))
    b = ws.add_image(root / "b.png")
    ws.save_annotation(b, np.zeros((5, 2)), author="x", base_version=None, schema="five", status="done")
    with pytest.raises(ValueError, match=r"several landmark schemas \['five', 'ibug68'\]"):
        ws.export_dataset(tmp_path / "out", "aflw2000")
    back = read_dataset(ws.export_dataset(tmp_path / "out", "aflw2000", schema="ibug68"), "aflw2000")
    assert [s.image for s in back.samples] == ["a.png"]
