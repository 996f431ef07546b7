"""Model comparison and correction effort in the Evaluate tab (no browser)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from asmnet_studio.annotator import evaluation_view as ev, handlers as h, session
from asmnet_studio.datasets.schemas import IBUG68
from asmnet_studio.datasets.store import PredictionRow, Workspace
from tests.annotator import synthetic


def _face(i: int) -> np.ndarray:
    return (synthetic.template_face() * 50 + np.array([100 + 5 * i, 110], np.float32)).astype(np.float32)


@pytest.fixture
def ws(tmp_path):
    rng = np.random.default_rng(1)
    store = Workspace(tmp_path / "ws.db")
    a = store.register_model("asmnet-v1", tmp_path / "v1.pt", "a" * 64, {"epochs": 10})
    b = store.register_model("asmnet-v2", tmp_path / "v2.pt", "b" * 64, {"epochs": 20})
    ids = []
    for i in range(4):
        f = tmp_path / f"face{i}.png"
        Image.fromarray(rng.integers(0, 255, (220, 210, 3), dtype=np.uint8)).save(f)
        ids.append(store.add_image(f))
    truth = {i: _face(k) for k, i in enumerate(ids)}
    noise = rng.normal(size=(len(ids), 68, 2)).astype(np.float32)
    conf = np.full(68, 0.9, np.float32)
    # model A: 4 px-scale noise; model B: 1 px-scale noise; image ids[3] has only model A's prediction
    store.save_predictions([PredictionRow(i, a, truth[i] + 4 * noise[k], None, conf) for k, i in enumerate(ids)])
    store.save_predictions([PredictionRow(i, b, truth[i] + 1 * noise[k], None, conf) for k, i in enumerate(ids[:3])])
    # corrections: images 0 and 1 saved twice, image 2 once, image 3 once
    store.save_annotation(ids[0], truth[ids[0]] + 0.5, author="t", base_version=None)
    store.save_annotation(ids[0], truth[ids[0]], author="t", base_version=1)
    store.save_annotation(ids[1], truth[ids[1]] + 0.5, author="t", base_version=None)
    store.save_annotation(ids[1], truth[ids[1]], author="t", base_version=1)
    store.save_annotation(ids[2], truth[ids[2]], author="t", base_version=None)
    store.save_annotation(ids[3], truth[ids[3]], author="t", base_version=None)
    yield store, a, b, ids, truth
    store.close()


def test_gather_models_keeps_the_common_images_in_order(ws):
    store, a, b, ids, truth = ws
    pa, pb = ev.gather_models(store, "correction", a, b)
    assert pa.ids == pb.ids == ids[:3]
    np.testing.assert_array_equal(pa.ref, pb.ref)
    np.testing.assert_array_equal(pa.ref[0], truth[ids[0]])
    assert pa.pred.shape == pb.pred.shape == (3, 68, 2)
    assert not np.allclose(pa.pred, pb.pred)
    # no ground truth imported: nothing in common
    ga, gb = ev.gather_models(store, "ground_truth", a, b)
    assert ga.ids == gb.ids == []


def test_reports_and_figures_show_b_better(ws):
    store, a, b, ids, _ = ws
    pa, pb = ev.gather_models(store, "correction", a, b)
    ra, rb = ev.report(pa, IBUG68, "interocular"), ev.report(pb, IBUG68, "interocular")
    assert rb.summary["nme"] < ra.summary["nme"]
    ced, lm = ev.compare_figures(ra, rb, "#1 asmnet-v1", "#2 asmnet-v2")
    assert len(ced.data) == 2 and len(lm.data) == 2
    assert [t.type for t in lm.data] == ["bar", "bar"] and lm.layout.barmode == "group"
    np.testing.assert_allclose(np.asarray(lm.data[0].y), ra.landmark_nme)
    np.testing.assert_allclose(np.asarray(lm.data[1].y), rb.landmark_nme)
    assert "asmnet-v1" in ced.data[0].name and "asmnet-v2" in ced.data[1].name


def test_effort_figure_one_point_per_correction(ws):
    store, a, b, ids, truth = ws
    rows = ev.correction_effort(store)
    assert len(rows) == 6
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    # image 3 was based on model A's prediction (the only one); others on model B's (saved later)
    last = {r[1]: r for r in rows}
    expect = np.linalg.norm(store.latest_prediction(ids[3]).points - truth[ids[3]], axis=1).mean()
    assert last[ids[3]][3] == pytest.approx(expect, rel=1e-5)
    fig = ev.effort_figure(store)
    points, median = fig.data
    assert len(points.x) == len(points.y) == 6 and len(median.y) == 6


def test_effort_uses_the_prediction_before_the_correction(tmp_path):
    store = Workspace(tmp_path / "ws.db")
    m = store.register_model("m", "m.pt", "c" * 64, {})
    f = tmp_path / "f.png"
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(f)
    i = store.add_image(f)
    base = _face(0) * 0.5
    conf = np.full(68, 0.9, np.float32)
    store.save_predictions([PredictionRow(i, m, base, None, conf)])
    store.save_annotation(i, base + np.array([3, 4], np.float32), author="t", base_version=None)
    store.save_predictions([PredictionRow(i, m, base + 100, None, conf)])    # a later re-run
    assert ev.correction_effort(store)[0][3] == pytest.approx(5.0, rel=1e-5)
    store.close()
    empty = Workspace(tmp_path / "empty.db")
    assert len(ev.effort_figure(empty).data) == 0
    empty.close()


def test_compare_handler(ws, tmp_path):
    store, a, b, ids, _ = ws
    svc = session.Services(store=store, predictor=synthetic.FakePredictor(), shape_model=None, author="t",
                     upload_dir=tmp_path / "up")
    msg, ced, lm, effort = h.on_compare(svc, a, b, "saved corrections", "interocular")
    assert "3 image(s)" in msg and len(ced.data) == 2 and len(lm.data) == 2 and len(effort.data[0].x) == 6
    ma, mb = h.on_compare_models(svc)
    assert ma.value == a and mb.value == b and len(ma.choices) == 2
    msg, *_ = h.on_compare(svc, a, b, "imported ground truth", "interocular")
    assert "Nothing to compare" in msg
    with pytest.raises(gr.Error, match="different"):
        h.on_compare(svc, a, a, "saved corrections", "interocular")
    with pytest.raises(gr.Error, match="No model #99"):
        h.on_compare(svc, a, 99, "saved corrections", "interocular")


def test_compare_handler_with_one_model(tmp_path):
    store = Workspace(tmp_path / "ws.db")
    store.register_model("only", "m.pt", "d" * 64, {})
    svc = session.Services(store=store, predictor=synthetic.FakePredictor(), shape_model=None, author="t",
                     upload_dir=tmp_path / "up")
    msg, ced, lm, effort = h.on_compare(svc, None, None, "saved corrections", "interocular")
    assert "needs two" in msg
    store.close()
