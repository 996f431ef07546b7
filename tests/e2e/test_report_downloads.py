"""Issue 17, item 12 in a real browser: the app started with ``--import`` offers the import's full report (CSV,
written beside the workspace) as a download link on the page, and an upload's refused files come as a
downloadable report too. The workspace lies outside the system temp folder and the working directory (the two
places Gradio serves files from unasked), so the links work only because the app registers the reports."""
from __future__ import annotations

import csv
import io
import tempfile

import pytest

from tests.annotator import synthetic
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e
TIMEOUT = 180_000  # the shared 2-core machine is slow under load


def _csv(page, link) -> list[dict]:
    r = page.request.get(link.get_attribute("href"))
    assert r.ok, f"{r.status} for {link.get_attribute('href')}"
    return list(csv.DictReader(io.StringIO(r.body().decode("utf-8"))))


def test_import_and_upload_reports_download_from_the_page(studio_browser, tmp_path, monkeypatch):
    import app
    from asmnet_studio.annotator.ui import launch_options
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-temp"))  # the workspace is not under it
    (tmp_path / "system-temp").mkdir()
    d = synthetic.pts_folder_with_bad_entries(tmp_path / "data", 3, ok_seed=9)
    ws = tmp_path / "home" / "ws.db"
    ws.parent.mkdir()
    args = app.parse_args([str(ws), "--import", str(d), "--format", "pts", "--author", "e2e"])
    demo, svc = app.create_demo(args, predictor=synthetic.FakePredictor(), progress=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    try:
        page = studio_browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(TIMEOUT)
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("tab", name="Queue").click()
        link = page.locator("#import-report a[download='ws-import-report.csv']").first
        link.wait_for()
        rows = _csv(page, link)
        assert sorted(r["file"].rsplit("/", 1)[-1] for r in rows) == ["bad0.pts", "bad1.pts", "bad2.pts"]
        assert not page.locator("#upload-report a").count()

        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        page.locator("#add-images input[type=file]").set_input_files([str(broken), str(synthetic.noise_png(tmp_path / "new.png", 5))])
        link = page.locator("#upload-report a[download='ws-upload-report.csv']").first
        link.wait_for()
        rows = _csv(page, link)
        assert [(r["kind"], r["file"]) for r in rows] == [("refused upload", "broken.png")]
        assert any(r.name == "new.png" for r in svc.store.images())
        page.close()
    finally:
        demo.close()
        svc.store.close()
