"""app.py: arguments, the authentication rule, and building the app without a server."""
from __future__ import annotations

import pytest

import app
from asmnet_studio.annotator import handlers as h, session
from tests.annotator import synthetic


def test_defaults_bind_loopback(monkeypatch):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    a = app.parse_args([])
    assert a.host == "127.0.0.1" and a.port == app.DEFAULT_PORT and a.workspace is None and a.auth is None
    assert a.author


def test_public_host_without_auth_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    with pytest.raises(SystemExit) as e:
        app.parse_args(["--host", "0.0.0.0"])
    assert e.value.code == 2
    assert "without authentication" in capsys.readouterr().err


def test_public_host_with_auth(monkeypatch):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    a = app.parse_args(["ws.db", "--host", "0.0.0.0", "--auth", "ann:s3:cret", "--author", "Ann"])
    assert a.auth == ("ann", "s3:cret") and a.author == "Ann" and a.workspace == "ws.db"
    monkeypatch.setenv("ASMNET_AUTH", "bob:pw")
    assert app.parse_args(["--host", "10.0.0.5"]).auth == ("bob", "pw")


@pytest.mark.parametrize("argv", [["--auth", "nopassword"], ["--format", "pts"],
                                  ["--import", "x", "--format", "nosuch"], ["--port", "0"]])
def test_bad_arguments_exit_2(argv, monkeypatch):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    with pytest.raises(SystemExit) as e:
        app.parse_args(argv)
    assert e.value.code == 2


def test_loopback_names():
    assert app.is_loopback("localhost") and app.is_loopback("127.0.0.2") and not app.is_loopback("0.0.0.0")


def test_default_workspace_is_created_with_bundled_faces(tmp_path, monkeypatch):
    monkeypatch.setenv("ASMNET_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    args = app.parse_args(["--author", "t"])
    pred = synthetic.FakePredictor()
    demo, svc = app.create_demo(args, predictor=pred, progress=False)
    try:
        assert svc.store.path == tmp_path / "home" / "default.db"
        recs = svc.store.images()
        assert len(recs) >= 2 and {r.path.name for r in recs} >= {"astronaut.png", "grace_hopper.jpg"}
        assert all(svc.store.latest_prediction(r.id) is not None for r in recs)
        assert demo is not None and not getattr(demo, "is_running", False)
    finally:
        svc.store.close()


def test_import_defaults_to_a_plain_folder_of_images():
    assert app.parse_args(["ws.db", "--import", "photos"]).format == "images"
    assert app.parse_args(["ws.db", "--import", "d", "--format", "pts"]).format == "pts"


def test_import_of_a_missing_folder_leaves_no_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    db = tmp_path / "new.db"
    args = app.parse_args([str(db), "--import", str(tmp_path / "nope"), "--author", "t"])
    with pytest.raises(FileNotFoundError, match="no such folder"):
        app.create_services(args, predictor=synthetic.FakePredictor(), progress=False)
    assert not db.exists()


@pytest.mark.data
def test_import_of_a_plain_folder_prelabels_every_face(tmp_path, monkeypatch, capsys):
    """Real photos (300-W's picture of two people, an AFLW2000-3D face) and a picture without a face:
    the faces found are pre-labelled, the other waits for a box, and the log says so."""
    import shutil

    import numpy as np
    from PIL import Image

    from tests.conftest import data_path

    afw = data_path("300w-samples", "binrey_fast_face_landmarks_2D3D", "train", "afw")
    aflw = data_path("aflw2000-3d", "AFLW2000")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy2(afw / "261068_1.jpg", photos / "two.jpg")
    shutil.copy2(aflw / "image00002.jpg", photos / "one.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(photos / "x.png")
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    args = app.parse_args([str(tmp_path / "ws.db"), "--import", str(photos), "--author", "t"])
    svc = app.create_services(args, predictor=synthetic.FakePredictor(), progress=True)
    try:
        out = capsys.readouterr()
        assert "added 3, already present 0, skipped 0" in out.out
        assert "no face found in 1 image(s)" in out.out and "x.png" in out.out
        assert "importing: 3/3 images (100 %)" in out.err  # plain lines: not a terminal
        recs = svc.store.images()
        names = sorted(r.name for r in recs)
        assert names.count("two.jpg") >= 2 and names.count("one.jpg") == 1
        for r in recs:
            has = svc.store.latest_prediction(r.id) is not None
            assert has == (r.name != "x.png") and (r.box_source == "not_found") == (r.name == "x.png")
        rows, order, counts = h.queue_rows(svc, "all images", "image order")
        waiting = rows[rows["image"] == "x.png"]
        assert waiting["status"].tolist() == ["no face found: draw a box"] and "1 with no face found" in counts
        two = rows[rows["image"].str.startswith("two.jpg")]["image"].tolist()
        assert two[:2] == ["two.jpg · face 1 of 2", "two.jpg · face 2 of 2"] or len(two) > 2
        # the editor says so, shows no points, and a box typed by a person gets the face its points
        x = next(r for r in recs if r.name == "x.png")
        state = session.load_state(svc, x.id)
        assert state.num_points == 0 and "No face found" in h.info_markdown(svc, state)
        _, new = h.on_rerun(svc, state, 20, 20, 100, 100)
        assert new.points.shape == (68, 2) and svc.store.image(x.id).box_source == "hand"
        # switching between the faces of a picture
        first = next(r for r in recs if r.name == "two.jpg" and r.face == 0)
        view = h.on_face_step(svc, session.load_state(svc, first.id), order, 1)
        assert view[1].image_id != first.id and svc.store.image(view[1].image_id).sha256 == first.sha256
    finally:
        svc.store.close()
