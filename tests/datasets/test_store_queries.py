"""asmnet_studio.datasets.store.queries: the evaluation joins in SQL (one query for the whole workspace) and the one
status parser."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.store import PredictionRow, Workspace, parse_statuses
from tests.datasets.store_helpers import make_image

K = 68


def _pts(v: float) -> np.ndarray:
    return np.full((K, 2), v, np.float32) + np.arange(K, dtype=np.float32)[:, None]


@pytest.fixture
def ws(tmp_path):
    """4 images; models 1 and 2. Image 0: ground truth, prediction (model 1), correction, then a prediction of
    model 2. Image 1: prediction of model 1 then a correction. Image 2: a correction and no prediction.
    Image 3: a prediction with 5 points only and a ground truth of 68."""
    with Workspace(tmp_path / "ws.db") as w:
        ids = [w.add_image(make_image(tmp_path / f"{i}.png", i)) for i in range(4)]
        m1 = w.register_model("m1", "m1.pt", "a" * 64, {})
        m2 = w.register_model("m2", "m2.pt", "b" * 64, {})
        conf = np.full(K, 0.5, np.float32)
        w.save_annotation(ids[0], _pts(1), author="imp", base_version=None, source="ground_truth", status="todo",
                          pose=(1, 2, 3))
        w.save_predictions([PredictionRow(ids[0], m1, _pts(2), (4, 5, 6), conf)])
        w.save_annotation(ids[0], _pts(3), author="ann", base_version=1)
        w.save_predictions([PredictionRow(ids[0], m2, _pts(4), None, conf)])
        w.save_predictions([PredictionRow(ids[1], m1, _pts(5), None, conf)])
        w.save_annotation(ids[1], _pts(6), author="ann", base_version=None, visibility=np.full(K, 1, np.int8))
        w.save_annotation(ids[2], _pts(7), author="ann", base_version=None)
        w.save_predictions([PredictionRow(ids[3], m1, _pts(8)[:5], None, conf[:5])])
        w.save_annotation(ids[3], _pts(9), author="imp", base_version=None, source="ground_truth", status="todo")
        yield w, ids, m1, m2


def _selects(w: Workspace, call):
    seen = []
    w.db.conn.set_trace_callback(seen.append)
    try:
        out = call()
    finally:
        w.db.conn.set_trace_callback(None)
    return out, [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def test_evaluation_pairs_latest_reference_and_prediction_in_one_query(ws):
    w, ids, m1, m2 = ws
    rows, selects = _selects(w, lambda: w.evaluation_pairs("correction"))
    assert len(selects) == 1
    assert [rec.id for rec, _, _ in rows] == ids[:2]
    (rec0, a0, p0), (_, a1, p1) = rows
    assert rec0.path.name == "0.png" and a0.version == 2 and a0.source == "correction"
    np.testing.assert_array_equal(a0.points, _pts(3))
    np.testing.assert_array_equal(p0.points, _pts(4))  # the latest prediction of any model
    assert p0.model_id == m2 and p0.pose is None
    np.testing.assert_array_equal(a1.visibility, np.full(K, 1, np.int8))
    # of one model; ground truth with a different point count is left out
    rows = w.evaluation_pairs("correction", m1)
    np.testing.assert_array_equal(rows[0][2].points, _pts(2))
    np.testing.assert_array_equal(rows[0][2].pose, np.array([4, 5, 6], np.float32))
    assert [rec.id for rec, _, _ in w.evaluation_pairs("ground_truth")] == [ids[0]]
    assert w.evaluation_pairs("ground_truth", m2)[0][1].version == 1
    with pytest.raises(ValueError, match="unknown source 'gt'"):
        w.evaluation_pairs("gt")


def test_correction_bases_pair_each_correction_with_the_prediction_before_it(ws):
    w, ids, m1, m2 = ws
    rows, selects = _selects(w, w.correction_bases)
    assert len(selects) == 1
    assert [(a.image_id, a.version) for a, _ in rows] == [(ids[0], 2), (ids[1], 1), (ids[2], 1)]
    (_, p0), (_, p1), (_, p2) = rows
    assert p0.model_id == m1  # model 2's prediction came after the correction
    np.testing.assert_array_equal(p0.points, _pts(2))
    np.testing.assert_array_equal(p1.points, _pts(5))
    assert p2 is None


def test_latest_annotations_of_one_source(ws):
    w, ids, _, _ = ws
    rows, selects = _selects(w, lambda: w.latest_annotations("ground_truth"))
    assert len(selects) == 1
    assert [(rec.id, a.version) for rec, a in rows] == [(ids[0], 1), (ids[3], 1)]
    assert [rec.id for rec, _ in w.latest_annotations("correction")] == ids[:3]
    assert w.latest_annotations("prediction") == []


def test_the_evaluate_view_reads_the_store_once_per_view(ws):
    from asmnet_studio.annotator import evaluation_view as ev

    w, ids, m1, m2 = ws
    pairs, selects = _selects(w, lambda: ev.gather(w, "correction"))
    assert len(selects) == 1 and pairs.ids == ids[:2] and pairs.pred.shape == (2, K, 2)
    (pa, pb), selects = _selects(w, lambda: ev.gather_models(w, "correction", m1, m2))
    assert len(selects) == 2 and pa.ids == pb.ids == [ids[0]]
    effort, selects = _selects(w, lambda: ev.correction_effort(w))
    assert len(selects) == 1 and [r[1] for r in effort] == sorted(r[1] for r in effort) == ids[:2]
    assert effort[0][3] == pytest.approx(np.sqrt(2))  # _pts(3) vs _pts(2): every point 1 px off in x and in y
    from asmnet_studio.datasets.schemas import IBUG68

    (label, _), selects = _selects(w, lambda: ev.default_choices(w, IBUG68))
    assert len(selects) == 2 and label == "saved corrections"  # one query per reference source


@pytest.mark.parametrize("given, default, expected", [
    (None, None, None), (None, ("done",), ("done",)), ("done, reviewed", None, ("done", "reviewed")),
    (["todo"], None, ("todo",)), (("in_progress", "done"), ("x",), ("in_progress", "done")),
])
def test_parse_statuses(given, default, expected):
    assert parse_statuses(given, default) == expected


@pytest.mark.parametrize("given, match", [("done,finished", "unknown status 'finished'"), (" , ", "no status given"),
                                          ([], "no status given")])
def test_parse_statuses_refuses_unknown_or_none(given, match):
    with pytest.raises(ValueError, match=match):
        parse_statuses(given)
