"""Issue 17, items 4 and 7 in the store: pictures can be removed (whole, in one transaction, archived); an
export goes on without the images whose file is missing; a symlink leading out of the dataset folder is one
skipped entry, not a stopped import."""
from __future__ import annotations

import os

import numpy as np
import pytest

from asmnet_studio.datasets.errors import UnsafePathError
from asmnet_studio.datasets.formats import read_dataset
from asmnet_studio.datasets.formats.pts import write_pts
from asmnet_studio.datasets.store import NotFoundError, PredictionRow, Workspace
from tests.datasets.store_helpers import make_image

PTS = np.tile(np.array([[10.0, 12.0]], np.float32), (68, 1)) + np.arange(68, dtype=np.float32)[:, None] * 0.25


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws.db")
    yield w
    w.close()


def test_remove_takes_the_whole_picture_and_archives_it(ws, tmp_path):
    a = ws.add_image(make_image(tmp_path / "a.png", 1), box=[1, 1, 20, 20])
    b = ws.add_face(a, [5, 5, 30, 25])
    keep = ws.add_image(make_image(tmp_path / "k.png", 2))
    ws.save_annotation(b, PTS, author="ann", base_version=None)
    ws.save_annotation(b, PTS + 1, author="bob", base_version=1)
    model = ws.register_model("m", "m.pt", "0" * 64, {})
    ws.save_predictions([PredictionRow(a, model, PTS, None, np.ones(68, np.float32))])
    (removed,) = ws.remove_images([b, a])  # both faces of one picture: removed once
    assert (removed.name, removed.faces, removed.versions, removed.predictions) == ("a.png", 2, 2, 1)
    assert [r.id for r in ws.images()] == [keep] and ws.check() == []
    assert (tmp_path / "a.png").is_file(), "the image file is never deleted"
    (arch,) = ws.removed_images()
    assert arch["name"] == "a.png" and len(arch["record"]["annotations"]) == 2
    assert [r["author"] for r in arch["record"]["annotations"]] == ["ann", "bob"]
    # the archived points are the saved bytes
    import base64
    blob = base64.b64decode(arch["record"]["annotations"][1]["points"]["base64"])
    np.testing.assert_array_equal(np.frombuffer(blob, np.float32).reshape(68, 2), PTS + 1)


def test_remove_of_an_unknown_id_removes_nothing(ws, tmp_path):
    a = ws.add_image(make_image(tmp_path / "a.png", 1))
    with pytest.raises(NotFoundError, match="no image with id 99; nothing removed"):
        ws.remove_images([a, 99])
    assert [r.id for r in ws.images()] == [a] and ws.removed_images() == []


def test_export_goes_on_without_missing_files(ws, tmp_path):
    for i, name in enumerate(("a.png", "gone.png", "c.png")):
        image_id = ws.add_image(make_image(tmp_path / "src" / name, i))
        ws.save_annotation(image_id, PTS, author="t", base_version=None, source="ground_truth", status="done")
    (tmp_path / "src" / "gone.png").unlink()
    assert [r.name for r in ws.missing_files()] == ["gone.png"]
    ws.export_dataset(tmp_path / "out", "pts")
    assert sorted(s.image for s in read_dataset(tmp_path / "out", "pts").samples) == ["a.png", "c.png"]
    for name in ("a.png", "c.png"):
        (tmp_path / "src" / name).unlink()
    with pytest.raises(ValueError, match="nothing to export: the image files of all 3"):
        ws.export_dataset(tmp_path / "out2", "pts")


@pytest.mark.parametrize("fmt", ["pts", "coco"])
def test_a_symlink_out_of_the_folder_is_one_skipped_entry(tmp_path, fmt):
    outside = make_image(tmp_path / "outside" / "secret.png", 9)
    d = tmp_path / "d"
    for name in ("a.png", "b.png"):
        make_image(d / name, len(name))
    os.symlink(outside, d / "link.png")
    if fmt == "pts":
        for name in ("a", "b", "link"):
            write_pts(d / f"{name}.pts", PTS)
    else:
        from asmnet_studio.datasets.formats import write_dataset
        from asmnet_studio.datasets.sample import Dataset, Sample

        tmp = tmp_path / "coco-src"
        for name in ("a.png", "b.png", "link.png"):
            make_image(tmp / name, len(name))
        write_dataset(Dataset(root=tmp, format="coco", schema="ibug68",
                              samples=[Sample(image=n, points=PTS, schema="ibug68") for n in
                                       ("a.png", "b.png", "link.png")]), tmp_path / "coco-out", "coco")
        for f in (tmp_path / "coco-out").iterdir():
            if f.suffix == ".json":
                (d / f.name).write_bytes(f.read_bytes())
    ds = read_dataset(d, fmt)
    with Workspace(tmp_path / "ws.db") as ws:
        report = ws.import_dataset(ds)
        assert report.added == 2 and len(report.skipped) == 1
        assert "link.png" in str(report.skipped[0]) and "outside the folder" in str(report.skipped[0])
        assert sorted(r.name for r in ws.images()) == ["a.png", "b.png"]
    with pytest.raises(UnsafePathError):  # the check itself still holds
        from asmnet_studio.datasets.paths import safe_join
        safe_join(d, "link.png")
