"""Issue 17, items 7 and 12 on the app side: a missing image file is reported, never fatal (start-up, page
load, queue), and can be removed from the queue after a confirmation; ``app.py --import`` writes its full
report beside the workspace."""
from __future__ import annotations

import csv

import pytest

import app
from asmnet_studio.annotator import handlers as h
from asmnet_studio.annotator.queue import MISSING_LABEL
from asmnet_studio.datasets.store import Workspace
from tests.annotator import synthetic


@pytest.fixture
def started(tmp_path, monkeypatch, capsys):
    """app.py's services on a workspace whose first image (a box, no prediction yet) has lost its file."""
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    db = tmp_path / "ws.db"
    with Workspace(db) as ws:
        gone = ws.add_image(synthetic.noise_png(tmp_path / "gone.png", 1), box=[10, 10, 90, 110])
        kept = ws.add_image(synthetic.noise_png(tmp_path / "kept.png", 2), box=[10, 10, 90, 110])
        ws.save_annotation(gone, synthetic.template_face() * 20 + 50, author="ann", base_version=None)
    (tmp_path / "gone.png").unlink()
    svc = app.create_services(app.parse_args([str(db), "--author", "t"]), predictor=synthetic.FakePredictor(),
                              progress=False)
    yield svc, gone, kept, capsys.readouterr().out
    svc.store.close()


def test_start_up_reports_the_missing_file_and_goes_on(started):
    svc, gone, kept, out = started
    assert "1 image file(s) missing" in out and "gone.png" in out and "--missing" in out
    assert svc.store.latest_prediction(kept) is not None  # the rest was pre-labelled


def test_page_load_queue_and_removal(started):
    svc, gone, kept, _ = started
    with pytest.warns(UserWarning, match="image file"):  # gr.Warning outside a request: a Python warning
        view = h.on_load(svc, "all images", "image order")
    state, table = view[1], view[-3]
    assert state.image_id is None  # the page opens; the missing face is not shown
    assert table.set_index("id").loc[gone, "status"] == MISSING_LABEL and "1 with the image file missing" in view[-1]

    target, text, _ = h.on_remove_ask(svc, gone)
    assert target == gone and "gone.png" in text and "1 saved version(s)" in text and "missing" in text
    assert len(svc.store.images()) == 2  # asking removes nothing
    out = h.on_remove(svc, state, None, "all images", "image order", action="cancel")
    assert len(svc.store.images()) == 2 and out[-2] is None
    out = h.on_remove(svc, state, target, "all images", "image order", action="remove")
    assert [r.id for r in svc.store.images()] == [kept] and out[-4] == [kept]
    assert gone not in out[-5]["id"].tolist()
    with pytest.raises(Exception, match="type the id"):
        h.on_remove_ask(svc, None)


def test_app_import_writes_the_full_report(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    d = synthetic.pts_folder_with_bad_entries(tmp_path / "d", 12, ok_seed=99)
    args = app.parse_args([str(tmp_path / "ws.db"), "--import", str(d), "--format", "pts", "--author", "t"])
    svc = app.create_services(args, predictor=synthetic.FakePredictor(), progress=False)
    svc.store.close()
    out = capsys.readouterr().out
    report = tmp_path / "ws-import-report.csv"
    assert "... and 2 more (all in" in out and f"full report: {report}" in out
    with open(report, newline="", encoding="utf-8") as fh:
        assert sum(r["kind"] == "reader problem" for r in csv.DictReader(fh)) == 12
