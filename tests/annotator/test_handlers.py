"""Handlers called directly (no browser): pre-labelling, dragging, saving with conflicts, queue, export,
evaluation; plus the editor's HTML."""
from __future__ import annotations

import zipfile

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from asmnet_studio.annotator import editing, editor, editor_assets, handlers as h, queue as queue_view, session
from asmnet_studio.datasets.store import Workspace
from tests.annotator import synthetic


@pytest.fixture(scope="module")
def model():
    return synthetic.shape_model()


@pytest.fixture
def svc(tmp_path, model):
    rng = np.random.default_rng(0)
    store = Workspace(tmp_path / "ws.db")
    for i in range(3):
        f = tmp_path / f"face{i}.png"
        Image.fromarray(rng.integers(0, 255, (240, 200 + 10 * i, 3), dtype=np.uint8)).save(f)
        store.add_image(f, split="train" if i else "test", box=(40, 40, 160, 200))
    s = session.Services(store=store, predictor=synthetic.FakePredictor(model), shape_model=model, author="tester",
                   upload_dir=tmp_path / "uploads")
    yield s
    store.close()


def test_open_prelabels_once(svc):
    state = session.load_state(svc, 1)
    assert svc.predictor.calls == 1 and state.points.shape == (68, 2) and state.base_version is None
    assert state.url.startswith("/gradio_api/file=") and state.width == 200
    session.load_state(svc, 1)
    assert svc.predictor.calls == 1, "the stored prediction is reused"
    assert svc.store.latest_prediction(1).box is not None


def test_prelabel_new_faces_with_progress(svc):
    seen = []
    assert session.prelabel_new_faces(svc, lambda i, n: seen.append((i, n))) == 3
    assert seen[0] == (0, 3) and seen[-1] == (3, 3) and session.prelabel_new_faces(svc) == 0


def test_drag_event_moves_point_and_refits(svc):
    state = session.load_state(svc, 1)
    p = state.points[8].copy()
    evt = gr.EventData(None, {"index": 8, "x": float(p[0] + 4), "y": float(p[1] + 9)})
    html, new = h.on_drag(svc, state, 1.0, False, evt)
    assert np.allclose(new.points[8], p + [4, 9], atol=1e-4)
    assert np.abs(np.delete(new.points - state.points, 8, axis=0)).max() > 0.1
    assert 'data-index="8"' in html and "lm-touched" in html
    html0, free = h.on_drag(svc, state, 0.0, False, evt)
    assert np.array_equal(np.delete(free.points, 8, 0), np.delete(state.points, 8, 0))


def test_save_versions_and_conflict(svc):
    a = session.load_state(svc, 2)
    a = editing.move_point(a, 30, *(a.points[30] + 3), stiffness=0)
    a = session.save(svc, a)
    assert a.base_version == 1 and not a.dirty and a.status == "in_progress"
    ann = svc.store.latest(2)
    assert ann.author == "tester" and ann.source == "correction" and np.array_equal(ann.points, a.points)
    assert np.flatnonzero(ann.placed).tolist() == [30] and ann.note is None
    # a second tab opened the same face before the save: its save is refused, nothing overwritten
    b = editing.start(2, a.points, base_version=None)
    b = editing.move_point(b, 10, 1, 1, stiffness=0)
    with pytest.raises(gr.Error, match="Not saved"):
        h.on_save(svc, b, [1, 2, 3])
    assert len(svc.store.history(2)) == 1
    # reopening shows exactly what was saved, with the hand-placed point remembered
    again = session.load_state(svc, 2)
    assert np.array_equal(again.points, a.points) and again.touched == (30,) and again.base_version == 1
    _, done, _ = h.on_save(svc, again, [2], status="done")
    assert done.status == "done" and svc.store.latest(2).version == 2


def test_step_asks_before_leaving_unsaved_edits(svc):
    """Next with unsaved edits moves nowhere and shows the save / discard / stay prompt; each answer does
    what it says; a step past the last face says that it wraps."""
    table, order, counts = h.queue_rows(svc, "all images", "image order")
    assert order == [1, 2, 3]
    out = h.on_open(svc, session.load_state(svc, 1), 1, order)
    state = editing.move_point(out[1], 0, 5, 5, stiffness=0)
    out = h.on_step(svc, state, order, 1)
    n = len(h.VIEW_OUTPUTS)
    assert len(out) == n + 2 and out[1].image_id == 1 and out[n] == {"target": 2, "delta": 1}
    assert out[n + 1].visible is True and svc.store.latest(1) is None, "nothing saved, nothing moved"
    stay = h.on_leave(svc, out[1], order, out[n], "stay")
    assert stay[1].image_id == 1 and stay[1].dirty and stay[n] is None and stay[n + 1].visible is False
    gone = h.on_leave(svc, out[1], order, out[n], "discard")
    assert gone[1].image_id == 2 and svc.store.latest(1) is None
    back = h.on_leave(svc, out[1], order, out[n], "save")
    assert back[1].image_id == 2 and svc.store.latest(1).points[0].tolist() == [5, 5]
    clean = h.on_step(svc, back[1], order, -1)
    assert clean[1].image_id == 1 and clean[1].points[0].tolist() == [5, 5] and clean[n] is None
    infos = []
    orig = gr.Info
    gr.Info = lambda msg, *a, **k: infos.append(msg)
    try:
        last = h.on_step(svc, session.load_state(svc, 3), order, 1)
        assert last[1].image_id == 1 and any("last face" in m for m in infos)
        done = h.on_done(svc, session.load_state(svc, 2), order)
        assert done[1].image_id == 3 and svc.store.latest(2).status == "done"
        far = h.on_goto(svc, session.load_state(svc, 1), order, 3)
        assert far[1].image_id == 3
    finally:
        gr.Info = orig
    with pytest.raises(gr.Error, match="from 1 to 3"):
        h.on_goto(svc, session.load_state(svc, 1), order, 7)


def test_user_errors_say_what_to_do_without_a_server_traceback(svc):
    from asmnet_studio.datasets.errors import ConflictError

    def conflict():
        raise ConflictError(5, None, 1, "ann")
    with pytest.raises(gr.Error) as exc:
        h.user_errors(conflict)()
    msg = str(exc.value)
    assert "version None" not in msg and "no saved version then" in msg and "'Reload saved version'" in msg
    assert exc.value.print_exception is False
    with pytest.raises(gr.Error) as exc:
        h.user_errors(lambda: (_ for _ in ()).throw(ValueError("bad box")))()
    assert exc.value.print_exception is False


def test_imported_ground_truth_is_not_called_the_models(svc):
    state = session.load_state(svc, 1)
    assert h.view(svc, state, [1])[1].origin == "model prediction"
    pts = state.points + 3
    svc.store.save_annotation(1, pts, author="import", source="ground_truth", status="todo",
                             base_version=None)
    html, opened = h.view(svc, session.load_state(svc, 1), [1])[:2]
    assert opened.origin == "imported ground truth" and opened.confidence is None
    assert "points: imported ground truth" in html and "lm-lowconf" not in html
    assert "model prediction" not in html


def test_queue_filter_and_least_certain_first(svc):
    session.prelabel_new_faces(svc)
    q = svc.store.queue()
    v = queue_view.view(q, "all images", queue_view.DEFAULT_SORT)
    unc = v["uncertainty"].tolist()
    assert unc == sorted(unc, reverse=True)
    session.save(svc, session.load_state(svc, 3), "done")
    _, order, _ = h.queue_rows(svc, "to do", "image order")
    assert order == [1, 2]
    assert queue_view.step([4, 7, 9], 7, 1) == 9 and queue_view.step([4, 7, 9], 9, 1) == 4
    assert queue_view.step([4, 7], 99, 1) == 4 and queue_view.step([], 1, 1) is None
    with pytest.raises(ValueError, match="choose one of"):
        queue_view.view(q, "nonsense", queue_view.DEFAULT_SORT)


def test_visibility_select_undo(svc):
    state = session.load_state(svc, 1)
    html, state, text, vis = h.on_select_point(svc, state, gr.EventData(None, {"index": 36}))
    assert "#36" in text and vis == "visible" and "lm-selected" in html
    html, state = h.on_visibility(svc, state, "occluded")
    assert state.visibility[36] == 1 and "lm-occluded" in html
    html, state = h.on_edit(svc, state, action="undo")
    assert state.visibility[36] == 2
    html, state = h.on_edit(svc, state, action="redo")
    assert state.visibility[36] == 1


def test_rerun_in_a_new_box_is_undoable(svc):
    state = session.load_state(svc, 1)
    html, new = h.on_rerun(svc, state, 20, 30, 120, 150)
    assert new.box == (20.0, 30.0, 120.0, 150.0) and not np.allclose(new.points, state.points)
    assert np.allclose(editing.undo(new).points, state.points) and editing.undo(new).box == state.box
    with pytest.raises(gr.Error, match="x0 &lt; x1"):
        h.on_rerun(svc, state, 100, 30, 20, 150)


def test_export_zip_contains_the_correction(svc, tmp_path):
    state = session.load_state(svc, 1)
    state = editing.move_point(state, 8, 77.25, 199.5, stiffness=0)
    session.save(svc, state, "done")
    with pytest.raises(gr.Error, match="nothing to export"):
        h.on_export(svc, "pts", ["reviewed"])
    path, msg = h.on_export(svc, "pts", ["done"])
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(path) as z:
        pts = [n for n in z.namelist() if n.endswith(".pts")]
        assert len(pts) == 1
        z.extractall(out)
    assert "1 image" in msg and "asmnet export" in msg
    from asmnet_studio.datasets.formats.pts import read_pts

    assert np.allclose(read_pts(out / pts[0])[8], [77.25, 199.5], atol=1e-4)


def test_evaluate_with_and_without_corrections(svc):
    session.prelabel_new_faces(svc)
    out = h.on_evaluate(svc, "saved corrections", "interocular")
    assert "Nothing to evaluate" in out[0] and out[5] == []
    for i in (1, 2):
        s = session.load_state(svc, i)
        session.save(svc, editing.move_point(s, 8, *(s.points[8] + [0, 6]), stiffness=0))
    summary, ced, fr, lm, pose, gallery, ids = h.on_evaluate(svc, "saved corrections", "interocular")
    assert "2 of 3 images" in summary and len(gallery) == 2 and set(ids) == {1, 2}
    assert ced.data and lm.data
    # these corrections have no ground-truth pose, so they carry no pose label (never the model's own estimate):
    # there is no pose error to plot
    assert not pose.data
    view = h.on_gallery_select(svc, session.load_state(svc, 3), ids, [1, 2, 3], gr.SelectData(None, {"index": 0, "value": None}))
    assert view[1].image_id == ids[0]


def test_upload_copies_and_prelabels(svc, tmp_path):
    f = tmp_path / "new.png"
    Image.fromarray(np.full((100, 120, 3), 128, np.uint8)).save(f)
    ids = session.add_uploads(svc, [str(f)])
    assert svc.store.image_path(ids[0]).parent == svc.upload_dir
    # a blank picture has no face: nothing is guessed, the face waits for a box
    assert svc.store.latest_prediction(ids[0]) is None and svc.store.image(ids[0]).box_source == "not_found"
    with pytest.raises(gr.Error, match="choose one or more"):
        h.on_upload(svc, [])


def test_editor_html():
    pts = synthetic.template_face() * 50 + 100
    a = editor.render(image_url="/x.png", width=300, height=200, points=pts, touched=[3], selected=5,
                      names=["<b>"] * 68, image_id=4, caption="a & b")
    b = editor.render(image_url="/x.png", width=300, height=200, points=pts)
    assert a.count("<circle data-index=") == 68 and 'id="landmark-editor"' in a
    va = int(a.split('data-version="')[1].split('"')[0])
    vb = int(b.split('data-version="')[1].split('"')[0])
    assert vb > va and "&lt;b&gt;" in a and "<b>" not in a and "a &amp; b" in a
    assert 'viewBox="-0.5 -0.5 300 200"' in a
    assert "'drag_end'" in editor_assets.JS_ON_LOAD and "'select_point'" in editor_assets.JS_ON_LOAD


def test_plausibility_labels():
    assert editing.plausibility(10.0, "plausible") == ("plausible", "a plausible face shape")
    assert editing.plausibility(13.2, "unusual")[1].startswith("an unusual shape")
    assert editing.plausibility(30.0, "implausible")[0] == "implausible"
    assert editing.plausibility(float("nan"), "plausible") == ("implausible", "cannot score this shape")


def test_bind_keeps_event_data_visible_to_gradio():
    from gradio.helpers import special_args

    def fn(svc, state, evt: gr.EventData, scale: int = 1):
        return svc, state, evt.index * scale

    bound = h.bind(fn, "svc", scale=3)
    inputs, *_ = special_args(bound, ["state"], event_data=gr.EventData(None, {"index": 2}))
    assert bound(*inputs) == ("svc", "state", 6)


def test_unknown_image_is_a_clear_error(svc):
    with pytest.raises(gr.Error, match="no image with id 99"):
        h.on_open(svc, editing.EditState(), 99, [])


def test_doubtful_points_are_selective():
    c = np.full(68, 0.3)
    c[[5, 40]] = 0.05
    assert np.flatnonzero(editor.low_confidence(c)).tolist() == [5, 40]
    html = editor.render(image_url="/x.png", width=300, height=200, points=synthetic.template_face() * 50 + 100,
                         confidence=c, touched=[40])
    assert html.count("lm-lowconf") == 1, "a point placed by hand is no longer doubtful"


def test_a_correction_never_stores_the_models_pose_as_its_label(svc):
    """The editor shows the model's pose estimate; a saved correction carries the ground-truth pose (dragging
    points does not turn the head) or none, so fine-tuning never trains the pose head on the model's guess."""
    gt_pose = (30.0, -4.0, 2.0)
    svc.store.save_annotation(2, np.full((68, 2), 100.0, np.float32), author="import", base_version=None,
                              source="ground_truth", status="todo", pose=gt_pose)
    for image_id, expected in ((1, None), (2, gt_pose)):
        state = session.load_state(svc, image_id)
        p = state.points[8]
        _, moved = h.on_drag(svc, state, 1.0, False,
                             gr.EventData(None, {"index": 8, "x": float(p[0] + 3), "y": float(p[1])}))
        assert moved.pose is not None  # the editor shows a pose (the model's, or the ground truth's)
        session.save(svc, moved)
        saved = svc.store.latest(image_id)
        assert saved.source == "correction"
        if expected is None:
            assert saved.pose is None
        else:
            np.testing.assert_allclose(saved.pose, expected)
