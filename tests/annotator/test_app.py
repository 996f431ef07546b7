"""app.py: arguments, the authentication rule, and building the app without a server."""
from __future__ import annotations

import pytest

import app
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


@pytest.mark.parametrize("argv", [["--auth", "nopassword"], ["--import", "x"], ["--format", "pts"],
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
