"""``asmnet remove`` (issue 17, item 7): pictures named by id, name or --missing are taken out (archived in
the workspace, files untouched); ``asmnet export`` goes on without missing files and lists them."""
from __future__ import annotations

import numpy as np

from asmnet.cli import main
from asmnet_studio.datasets.store import Workspace
from tests.datasets.store_helpers import make_image

PTS = np.tile(np.array([[10.0, 12.0]], np.float32), (68, 1))


def _workspace(tmp_path):
    db = tmp_path / "ws.db"
    with Workspace(db) as ws:
        ids = [ws.add_image(make_image(tmp_path / "img" / n, i)) for i, n in enumerate(("a.png", "b.png", "c.png"))]
        for i in ids:
            ws.save_annotation(i, PTS, author="t", base_version=None, source="ground_truth", status="done")
    return db, ids


def test_export_leaves_out_missing_files_and_remove_missing(tmp_path, capsys):
    db, ids = _workspace(tmp_path)
    (tmp_path / "img" / "b.png").unlink()
    assert main(["export", str(db), str(tmp_path / "out"), "--format", "pts"]) == 0
    out = capsys.readouterr().out
    assert "exported 2 image(s)" in out and "not exported: 1 image(s) whose file is missing" in out and "b.png" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pts")) == ["a.pts", "c.pts"]
    assert main(["remove", str(db), "--missing"]) == 0
    out = capsys.readouterr().out
    assert "removed b.png: 1 face(s), 1 saved version(s)" in out and "(file missing)" in out
    with Workspace(db, create=False) as ws:
        assert [r.id for r in ws.images()] == [ids[0], ids[2]] and len(ws.removed_images()) == 1
    assert main(["remove", str(db), "--missing"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_remove_by_id_and_name(tmp_path, capsys):
    db, ids = _workspace(tmp_path)
    assert main(["remove", str(db), str(ids[0]), "c.png"]) == 0
    assert "removed 2 picture(s)" in capsys.readouterr().out
    assert (tmp_path / "img" / "a.png").is_file()  # files are never deleted
    with Workspace(db, create=False) as ws:
        assert [r.id for r in ws.images()] == [ids[1]]


def test_unknown_names_remove_nothing(tmp_path, capsys):
    db, ids = _workspace(tmp_path)
    assert main(["remove", str(db), "a.png", "nosuch.png"]) == 1
    assert "no image 'nosuch.png' in the workspace" in capsys.readouterr().err
    assert main(["remove", str(db)]) == 1
    with Workspace(db, create=False) as ws:
        assert len(ws.images()) == 3
