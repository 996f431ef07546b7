"""Browser fixtures: the app served in-process on a free port, and Debian's Chromium driven headless by
Playwright (never ``playwright install``). Tests synchronise on DOM signals, never on fixed sleeps."""
from __future__ import annotations

import os
import shutil
import socket

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = os.environ.get("ASMNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def e2e_predictor():
    """``ASMNET_E2E_WEIGHTS`` when set, else the shipped model when its checkpoint is present, else the
    synthetic stand-in (same API)."""
    if os.environ.get("ASMNET_E2E_WEIGHTS"):
        from asmnet.inference.predictor import Predictor

        return Predictor.from_checkpoint(os.environ["ASMNET_E2E_WEIGHTS"])
    try:
        from asmnet.inference.predictor import Predictor

        return Predictor.default()
    except Exception:  # no checkpoint yet / torch missing: the editor's mechanics are tested the same way
        from tests.annotator.synthetic import FakePredictor

        return FakePredictor()


class Server:
    """One running app on a workspace file; ``restart()`` builds a new demo on the same file."""

    def __init__(self, db, predictor, author="e2e"):
        self.db, self.predictor, self.author = db, predictor, author
        self.demo = self.svc = None
        self.start()

    def start(self):
        import app
        from asmnet_studio.annotator.ui import launch_options

        args = app.parse_args([str(self.db), "--author", self.author])
        self.demo, self.svc = app.create_demo(args, predictor=self.predictor, progress=False)
        self.port = free_port()
        self.demo.launch(server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True, quiet=True,
                         **launch_options())
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self):
        self.demo.close()
        self.svc.store.close()

    def restart(self):
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def studio_browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from asmnet_studio.annotator import samples

    if len(samples.bundled_faces()) < 2:
        pytest.skip("the bundled sample faces (scikit-image, matplotlib) are not installed")
    home = tmp_path_factory.mktemp("studio-home")
    old = os.environ.get("ASMNET_STUDIO_HOME")
    os.environ["ASMNET_STUDIO_HOME"] = str(home)
    db = home / "e2e.db"
    from asmnet_studio.datasets.store import Workspace

    with Workspace(db) as ws:
        samples.add_bundled_faces(ws)
    srv = Server(db, e2e_predictor())
    yield srv
    srv.stop()
    if old is None:
        os.environ.pop("ASMNET_STUDIO_HOME", None)
    else:
        os.environ["ASMNET_STUDIO_HOME"] = old
