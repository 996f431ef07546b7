"""Re-pre-labelling a workspace keeps every point a person placed (asmnet.inference.workspace_prelabel,
asmnet prelabel)."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.inference.workspace_prelabel import pin_points, repredict_workspace, user_placed_points
from asmnet_studio.datasets.images import load_image
from asmnet_studio.datasets.store import PredictionRow
from tests.asmnet.loop_helpers import StubPredictor, image_key, synthetic_workspace, tiny_checkpoint


def _predict(ws, model_id, image_id, points):
    """A stored prediction, with its face box (as every prediction of the pipeline has): re-pre-labelling
    runs in that box."""
    from asmnet.inference.crop import landmark_box

    ws.save_predictions([PredictionRow(image_id, model_id, np.asarray(points, np.float32), None,
                                       np.full(68, 0.5, np.float32), box=landmark_box(points))])


def _correct(ws, image_id, points, *, status="in_progress", placed=None, source="correction"):
    latest = ws.latest(image_id)
    return ws.save_annotation(image_id, points, author="person",
                              base_version=None if latest is None else latest.version,
                              source=source, status=status, placed=placed)


@pytest.fixture
def scene(tmp_path):
    """Five images with an old prediction; 0 to do, 1 and 2 in progress, 3 done, 4 imported ground truth."""
    ws, ids, shapes = synthetic_workspace(tmp_path, 5)
    old = ws.register_model("old", "old.pt", "a" * 64, {})
    for i, s in zip(ids, shapes):
        _predict(ws, old, i, s + 4)
    c1 = (shapes[1] + 4).astype(np.float32)
    c1[3] += (2.0, -3.0)
    c1[10] += (-5.0, 1.0)
    c1[20] += (0.3, 0.0)  # within the 0.5 px tolerance: not a placed point
    _correct(ws, ids[1], c1)
    _correct(ws, ids[2], shapes[2] + 4, placed=[7])  # confirmed where the model put it
    _correct(ws, ids[3], shapes[3], status="done")
    _correct(ws, ids[4], shapes[4], status="todo", source="ground_truth")
    new = {image_key(load_image(ws.image(i).path)): s - 2 for i, s in zip(ids, shapes)}
    yield ws, ids, shapes, StubPredictor(new), ws.register_model("new", "new.pt", "b" * 64, {})
    ws.close()


def test_placed_points_from_the_difference_and_the_placed_mask(scene):
    ws, ids, *_ = scene
    assert user_placed_points(ws, ids[1])[1].tolist() == [3, 10]
    assert user_placed_points(ws, ids[2])[1].tolist() == [7]
    assert user_placed_points(ws, ids[0])[1].tolist() == []      # no annotation
    assert user_placed_points(ws, ids[4])[1].tolist() == []      # imported ground truth, not a correction


def test_prelabel_keeps_placed_points_exactly(scene):
    ws, ids, shapes, stub, new = scene
    report = repredict_workspace(ws, stub, new)
    assert report.predicted == 5 and report.pinned_images == 2 and report.pinned_points == 3
    user = ws.latest(ids[1]).points
    row = ws.latest_prediction(ids[1])
    assert row.model_id == new
    assert np.array_equal(row.points[[3, 10]], user[[3, 10]])          # bit-identical float32
    assert row.confidence[[3, 10]].tolist() == [1.0, 1.0]
    assert not np.allclose(row.points[20], user[20])                   # not placed: follows the new model
    assert np.abs(row.points - (shapes[1] - 2)).max() > 0              # refitted around the placed points
    row2 = ws.latest_prediction(ids[2])
    assert np.array_equal(row2.points[7], ws.latest(ids[2]).points[7])
    for i in (ids[0], ids[3], ids[4]):  # to do, done, imported ground truth: the plain new prediction
        n = ids.index(i)
        assert np.array_equal(ws.latest_prediction(i).points, (shapes[n] - 2).astype(np.float32))


def test_placed_points_survive_a_second_round(scene):
    ws, ids, shapes, stub, new = scene
    repredict_workspace(ws, stub, new)
    # the person goes on from the new pre-label (which holds their points) and places point 30
    pts = ws.latest_prediction(ids[1]).points.copy()
    pts[30] += (4.0, 4.0)
    _correct(ws, ids[1], pts)
    assert user_placed_points(ws, ids[1])[1].tolist() == [3, 10, 30]
    newer = ws.register_model("newer", "newer.pt", "c" * 64, {})
    stub.points = {k: v + 7 for k, v in stub.points.items()}
    repredict_workspace(ws, stub, newer, only_not_done=True)
    row = ws.latest_prediction(ids[1])
    assert row.model_id == newer
    assert np.array_equal(row.points[[3, 10, 30]], pts[[3, 10, 30]])


def test_only_not_done_skips_finished_images(scene):
    ws, ids, shapes, stub, new = scene
    report = repredict_workspace(ws, stub, new, only_not_done=True)
    assert report.image_ids == [ids[0], ids[1], ids[2], ids[4]]
    assert ws.latest_prediction(ids[3]).model_id != new


def test_pin_points():
    from tests.annotator.synthetic import random_faces, shape_model

    pred, user = random_faces(2, seed=5)
    sm = shape_model()
    out = pin_points(pred, user, [0, 33], sm)
    assert out.dtype == np.float32 and np.array_equal(out[[0, 33]], user[[0, 33]])
    loose = pin_points(pred, user, [0, 33], sm, stiffness=0.0)
    others = [k for k in range(68) if k not in (0, 33)]
    assert np.array_equal(loose[others], pred[others])
    assert np.array_equal(pin_points(pred, user, np.arange(68), sm), user)


def test_prelabel_command(tmp_path):
    from asmnet.cli import main

    from asmnet.inference.crop import landmark_box

    ws, ids, shapes = synthetic_workspace(tmp_path, 3)
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    ws.set_box(ids[2], None, box_source="not_found")  # no box and no face found: skipped, nothing is guessed
    for i, s in zip(ids[:2], shapes):
        ws.set_box(i, landmark_box(s), box_source="hand")
    assert main(["prelabel", str(tmp_path / "ws.db"), "--checkpoint", str(ckpt), "--no-progress"]) == 0
    assert ws.latest_prediction(ids[2]) is None
    (model,) = ws.models()
    first = ws.latest_prediction(ids[0])
    assert first.model_id == model.id and np.isfinite(first.uncertainty)
    moved = first.points.copy()
    moved[[5, 48]] += 6.0
    ws.save_annotation(ids[0], moved, author="person", base_version=None, status="in_progress")
    assert main(["prelabel", str(tmp_path / "ws.db"), "--model-id", str(model.id), "--only-not-done",
                 "--no-progress"]) == 0
    assert np.array_equal(ws.latest_prediction(ids[0]).points[[5, 48]], moved[[5, 48]])
    assert len(ws.predictions(ids[0])) == 2
    assert main(["prelabel", str(tmp_path / "ws.db"), "--model-id", "99", "--no-progress"]) == 1
    ws.close()
