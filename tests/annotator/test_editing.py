"""The pure editing transitions (no Gradio, no store)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from asmnet_studio.annotator import editing
from asmnet_studio.datasets.schemas import IBUG68
from tests.annotator import synthetic


@pytest.fixture(scope="module")
def model():
    return synthetic.shape_model()


@pytest.fixture
def face():
    return synthetic.random_faces(1, seed=7)[0]


def test_nearest_point_and_radius():
    pts = np.array([[0, 0], [10, 0], [10, 10]], np.float32)
    assert editing.nearest_point(pts, 9, 1) == 1
    assert editing.nearest_point(pts, 50, 50, max_dist=5) is None
    assert editing.nearest_point(np.zeros((0, 2)), 1, 1) is None


def test_free_drag_moves_only_that_point(face):
    s = editing.start(1, face)
    s2 = editing.move_point(s, 30, face[30, 0] + 12, face[30, 1] - 5, stiffness=0.0)
    moved = np.flatnonzero(np.any(s2.points != face, axis=1))
    assert moved.tolist() == [30]
    assert s2.touched == (30,) and s2.dirty
    assert np.array_equal(s.points, face), "the old state is never mutated"


def test_constrained_drag_pins_dropped_point_and_moves_the_rest(face, model):
    s = editing.start(1, face)
    target = face[8] + np.array([0, 15], np.float32)             # pull the chin down
    s2 = editing.move_point(s, 8, *target, shape_model=model, stiffness=1.0)
    assert np.allclose(s2.points[8], target, atol=1e-4)
    others = np.delete(np.arange(68), 8)
    assert np.abs(s2.points[others] - face[others]).max() > 1.0, "the shape model moved other points"
    assert model.mahalanobis(s2.points) < 3 * model.mahalanobis(face) + 10


def test_earlier_points_stay_pinned(face, model):
    s = editing.start(1, face)
    s = editing.move_point(s, 36, face[36, 0] - 6, face[36, 1], shape_model=model)
    first = s.points[36].copy()
    s = editing.move_point(s, 45, face[45, 0] + 6, face[45, 1] + 3, shape_model=model)
    assert np.allclose(s.points[36], first, atol=1e-4)
    assert s.touched == (36, 45)


def test_mirror_moves_partner_by_the_mirrored_drag(face):
    s = editing.start(1, synthetic.template_face() * 100 + 200)
    p = s.points
    s2 = editing.move_point(s, 36, p[36, 0] - 10, p[36, 1] + 4, stiffness=0.0, mirror_pairs=IBUG68.flip_pairs)
    d_partner = s2.points[45] - p[45]
    assert np.allclose(d_partner, [10, 4], atol=0.5)
    assert set(s2.touched) == {36, 45}
    # a point on the midline has no partner: only it moves
    s3 = editing.move_point(s, 30, p[30, 0] + 3, p[30, 1], stiffness=0.0, mirror_pairs=IBUG68.flip_pairs)
    assert np.flatnonzero(np.any(s3.points != p, axis=1)).tolist() == [30]


def test_midline_of_an_upright_face_is_vertical():
    centre, d = editing.midline(synthetic.template_face() * 50 + 100, IBUG68.flip_pairs)
    assert abs(abs(d[1]) - 1) < 1e-6 and abs(centre[0] - 100) < 1e-3


def test_undo_redo_reset(face, model):
    s0 = editing.start(1, face, predicted=face)
    s1 = editing.move_point(s0, 10, face[10, 0] + 5, face[10, 1], shape_model=model, stiffness=0.5)
    s2 = editing.set_visibility(s1, 10, "occluded")
    assert s2.visibility[10] == 1
    u1 = editing.undo(s2)
    assert u1.visibility[10] == 2 and np.array_equal(u1.points, s1.points)
    u0 = editing.undo(u1)
    assert np.array_equal(u0.points, face) and u0.touched == ()
    assert editing.undo(editing.undo(u0)).points is not None       # nothing left to undo: unchanged
    r1 = editing.redo(u0)
    assert np.array_equal(r1.points, s1.points) and r1.touched == (10,)
    r2 = editing.redo(r1)
    assert r2.visibility[10] == 1
    back = editing.reset(r2)
    assert np.array_equal(back.points, face) and back.touched == () and back.visibility[10] == 2
    assert np.array_equal(editing.undo(back).points, s1.points)
    # a new edit after undo clears the redo stack
    fresh = editing.move_point(u0, 3, 1, 1, stiffness=0)
    assert fresh.redo_stack == ()


def test_state_is_deep_copyable_and_small(face):
    s = editing.start(1, face)
    for i in range(30):
        s = editing.move_point(s, i % 68, 10 + i, 20, stiffness=0)
    c = copy.deepcopy(s)
    assert np.array_equal(c.points, s.points) and len(c.undo_stack) == 30
    assert editing.correction_px(editing.start(1, face, predicted=face + 3)) == pytest.approx(np.hypot(3, 3))


def test_bad_arguments_are_value_errors(face):
    s = editing.start(1, face)
    with pytest.raises(ValueError, match="out of range"):
        editing.move_point(s, 68, 0, 0)
    with pytest.raises(ValueError, match="finite"):
        editing.move_point(s, 0, float("nan"), 0)
    with pytest.raises(ValueError, match="visibility"):
        editing.set_visibility(s, 0, "hidden")


def test_saved_marks_clean():
    s = editing.move_point(editing.start(1, np.zeros((68, 2))), 0, 1, 1, stiffness=0)
    s = editing.saved(s, 4, "done")
    assert not s.dirty and s.base_version == 4 and s.status == "done"


def test_undo_back_to_the_saved_points_is_clean_again(face, model):
    """Reset to the model, then Undo: the face is what was opened, so nothing is unsaved."""
    moved = face.copy()
    moved[8] += 9
    s = editing.start(1, moved, predicted=face)
    assert not s.dirty
    s = editing.reset(s)
    assert s.dirty and np.allclose(s.points, face)
    s = editing.undo(s)
    assert not s.dirty and np.allclose(s.points, moved)
    s = editing.redo(s)
    assert s.dirty
    s = editing.saved(editing.move_point(s, 3, 10.0, 10.0), version=4)
    assert not s.dirty
    s = editing.undo(s)
    assert s.dirty, "undoing past the saved version is an unsaved change"
    assert not editing.redo(s).dirty


def test_confidence_weights():
    w = editing.confidence_weights([1.0, np.exp(-1.0), 0.0], 3, gain=1.0)
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(0.25) and 0 < w[2] < 1e-2
    assert np.array_equal(editing.confidence_weights(None, 4), np.ones(4))
