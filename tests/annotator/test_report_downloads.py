"""Issue 17, item 12 on the page: the full reports can be downloaded where the app shows the import and upload
outcome. An upload's refusals are all written to ``<workspace stem>-upload-report.csv`` (the toast names the
first 20) and offered after the upload, also after one that added nothing; ``app.py --import``'s full report is
offered on the page from the start (the page's links are checked in Chromium by tests/e2e/test_report_downloads.py)."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest

import app
from asmnet_studio.annotator import handlers as h, session
from asmnet_studio.annotator.ui import build_app
from tests.annotator import synthetic


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bad_files(folder: Path, n: int) -> list[str]:
    folder.mkdir(exist_ok=True)
    return [str(synthetic.noise_png(folder / f"page{i:02d}.html", i)) for i in range(n)]


def test_every_refused_upload_is_in_the_report_offered_after_the_upload(svc, tmp_path):
    assert h.on_upload_report(svc)["visible"] is False  # nothing uploaded yet
    files = _bad_files(tmp_path / "inbox", 25) + [str(synthetic.noise_png(tmp_path / "inbox" / "ok.png", 99))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = session.add_uploads(svc, files)
    assert len(ids) == 1
    report = tmp_path / "ws-upload-report.csv"
    assert svc.upload_report == report
    rows = _rows(report)
    assert [r["file"] for r in rows] == [f"page{i:02d}.html" for i in range(25)]
    assert {r["kind"] for r in rows} == {"refused upload"} and "not an image file name" in rows[24]["message"]
    toast = " ".join(str(w.message) for w in caught)
    assert "25 file(s) not added" in toast and "page19.html" in toast and "page20.html" not in toast
    assert "5 more in ws-upload-report.csv" in toast
    update = h.on_upload_report(svc)
    assert update["visible"] is True and update["value"] == str(report.resolve())
    # an upload that adds nothing is an error, and its refusals are still offered
    with pytest.raises(ValueError, match="no image added: page00.html"):
        session.add_uploads(svc, _bad_files(tmp_path / "inbox2", 2))
    assert len(_rows(report)) == 2 and h.on_upload_report(svc)["visible"] is True
    # a clean upload offers none (the last upload's refusals only)
    session.add_uploads(svc, [str(synthetic.noise_png(tmp_path / "inbox2" / "fine.png", 7))])
    assert svc.upload_report is None and h.on_upload_report(svc)["visible"] is False


def _component(demo, elem_id: str):
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    assert len(found) == 1, elem_id
    return found[0]


def test_the_start_up_import_report_is_offered_on_the_page(tmp_path, monkeypatch, capsys):
    from asmnet_studio.datasets.formats.pts import write_pts

    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    d = tmp_path / "d"
    d.mkdir()
    synthetic.noise_png(d / "bad.png", 1)
    (d / "bad.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    synthetic.noise_png(d / "ok.png", 2)
    write_pts(d / "ok.pts", synthetic.template_face() * 20 + 50)
    args = app.parse_args([str(tmp_path / "ws.db"), "--import", str(d), "--format", "pts", "--author", "t"])
    svc = app.create_services(args, predictor=synthetic.FakePredictor(), progress=False)
    try:
        report = tmp_path / "ws-import-report.csv"
        assert svc.import_report == report and [r["kind"] for r in _rows(report)] == ["reader problem"]
        demo = build_app(svc)
        offered = _component(demo, "import-report")
        assert offered.visible is True and Path(offered.value["path"]).resolve() == report.resolve()
        assert _component(demo, "upload-report").visible is False
    finally:
        svc.store.close()
    # a clean import has no report, and the page offers none
    clean = tmp_path / "clean"
    clean.mkdir()
    synthetic.noise_png(clean / "ok.png", 2)
    write_pts(clean / "ok.pts", synthetic.template_face() * 20 + 50)
    args = app.parse_args([str(tmp_path / "ws2.db"), "--import", str(clean), "--format", "pts", "--author", "t"])
    svc = app.create_services(args, predictor=synthetic.FakePredictor(), progress=False)
    try:
        assert svc.import_report is None
        assert _component(build_app(svc), "import-report").visible is False
    finally:
        svc.store.close()
