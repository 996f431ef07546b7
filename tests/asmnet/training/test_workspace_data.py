"""Training samples from a workspace: the latest accepted correction of each image (asmnet.training.workspace_data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asmnet.training.workspace_data import merge_datasets, workspace_samples
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.asmnet.loop_helpers import synthetic_workspace


@pytest.fixture
def ws_faces(tmp_path):
    ws, ids, shapes = synthetic_workspace(tmp_path, 6)
    yield ws, ids, shapes
    ws.close()


def _save(ws, image_id, points, *, source="correction", status="done", note=None):
    latest = ws.latest(image_id)
    return ws.save_annotation(image_id, points, author="t", base_version=None if latest is None else latest.version,
                              source=source, status=status, note=note)


def test_picks_the_latest_accepted_correction(ws_faces):
    ws, ids, shapes = ws_faces
    a, b, c, d, e, f = ids
    # a: ground truth (to do), then two finished corrections -> the later correction
    _save(ws, a, shapes[0], source="ground_truth", status="todo")
    _save(ws, a, shapes[0] + 1, status="done")
    _save(ws, a, shapes[0] + 2, status="reviewed")
    # b: ground truth the user accepted (imported as done) -> counts
    _save(ws, b, shapes[1], source="ground_truth", status="done")
    # c: ground truth still to do -> not accepted
    _save(ws, c, shapes[2], source="ground_truth", status="todo")
    # d: a finished correction re-opened (latest correction in progress) -> left out
    _save(ws, d, shapes[3], status="done")
    _save(ws, d, shapes[3] + 5, status="in_progress")
    # e: correction done, then a newer ground truth done -> the correction still wins over ground truth
    _save(ws, e, shapes[4] + 3, status="done")
    _save(ws, e, shapes[4], source="ground_truth", status="done")
    # f: nothing
    data = workspace_samples(ws)
    assert data.image_ids == [a, b, e]
    by_id = dict(zip(data.image_ids, data.dataset.samples))
    np.testing.assert_array_equal(by_id[a].points, (shapes[0] + 2).astype(np.float32))
    np.testing.assert_array_equal(by_id[b].points, shapes[1].astype(np.float32))
    np.testing.assert_array_equal(by_id[e].points, (shapes[4] + 3).astype(np.float32))
    assert data.sources == ["correction", "ground_truth", "correction"]
    assert data.versions == [3, 1, 1]
    assert data.counts() == {"faces": 3, "corrections": 2, "ground_truth": 1, "left_out": 0}
    # every sample names its image relative to the dataset root
    for image_id, s in by_id.items():
        assert (Path(data.dataset.root) / s.image).resolve() == ws.image(image_id).path.resolve()
        assert f"image={image_id}," in s.source_file


def test_statuses_choose_what_counts(ws_faces):
    ws, ids, shapes = ws_faces
    _save(ws, ids[0], shapes[0], status="done")
    _save(ws, ids[1], shapes[1], status="reviewed")
    _save(ws, ids[2], shapes[2], status="in_progress")
    assert workspace_samples(ws).image_ids == ids[:2]
    assert workspace_samples(ws, "reviewed").image_ids == [ids[1]]
    assert workspace_samples(ws, ["done", "in_progress"]).image_ids == [ids[0], ids[2]]
    with pytest.raises(ValueError, match="finished"):
        workspace_samples(ws, "finished")


def test_other_schemas_and_missing_files_are_left_out(ws_faces, tmp_path):
    ws, ids, shapes = ws_faces
    _save(ws, ids[0], shapes[0], status="done")
    ws.save_annotation(ids[1], shapes[1][:19], author="t", base_version=None, status="done", schema="aflw19")
    _save(ws, ids[2], shapes[2], status="done")
    ws.image(ids[2]).path.unlink()
    data = workspace_samples(ws)
    assert data.image_ids == [ids[0]]
    reasons = dict(data.left_out)
    assert "aflw19" in reasons[ids[1]] and "missing" in reasons[ids[2]]


def test_merge_drops_images_already_given(ws_faces, tmp_path):
    ws, ids, shapes = ws_faces
    _save(ws, ids[0], shapes[0] + 1, status="done")
    wsd = workspace_samples(ws).dataset
    img_dir = ws.image(ids[0]).path.parent
    base = Dataset(root=img_dir, format="pts", schema="ibug68",
                   samples=[Sample(image=ws.image(i).path.name, points=shapes[n].astype(np.float32))
                            for n, i in enumerate(ids[:3])])
    merged, counts = merge_datasets(wsd, base)
    assert counts == {"duplicates": 1, "0": 1, "1": 2}
    assert len(merged) == 3
    first = merged.samples[0]
    np.testing.assert_array_equal(first.points, (shapes[0] + 1).astype(np.float32))  # the correction wins
    assert {(Path(merged.root) / s.image).resolve() for s in merged.samples} == \
        {ws.image(i).path.resolve() for i in ids[:3]}
    with pytest.raises(ValueError, match="schemas"):
        merge_datasets(wsd, Dataset(root=img_dir, format="x", schema="wflw98"))


def test_pose_labels_come_only_from_ground_truth(ws_faces):
    """A correction trains the pose head on its image's ground-truth pose; a pose stored with a correction
    (older annotators saved the model's own estimate there) is never a label; no ground truth, no pose."""
    ws, ids, shapes = ws_faces
    a, b = ids[:2]
    gt_pose = np.array([41.0, -7.0, 3.0], np.float32)
    model_pose = np.array([5.0, 5.0, 5.0], np.float32)
    ws.save_annotation(a, shapes[0], author="t", base_version=None, source="ground_truth", status="todo",
                       pose=gt_pose)
    ws.save_annotation(a, shapes[0] + 1, author="t", base_version=1, source="correction", status="done",
                       pose=model_pose)
    ws.save_annotation(b, shapes[1], author="t", base_version=None, source="correction", status="done",
                       pose=model_pose)
    by_image = dict(zip(workspace_samples(ws).image_ids, workspace_samples(ws).dataset.samples))
    np.testing.assert_array_equal(by_image[a].pose, gt_pose)
    assert by_image[b].pose is None
