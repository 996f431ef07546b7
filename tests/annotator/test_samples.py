"""The built-in sample workspace makes the first impression: with the shipped model, every sample face
(and so the first one the queue opens) is pre-labelled on the face a person checked (``REFERENCE_BOXES``),
its faces found by the detector, not by typed boxes."""
from __future__ import annotations

import numpy as np
import pytest

import app
from asmnet_studio.annotator import handlers as h, samples, session
from asmnet_studio.annotator.queue import DEFAULT_FILTER, DEFAULT_SORT
from asmnet.inference.crop import landmark_box
from tests.conftest import box_iou as _iou


@pytest.mark.slow
def test_sample_workspace_first_face_is_well_prelabelled(tmp_path, monkeypatch):
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    if len(samples.bundled_faces()) < 3:
        pytest.skip("the bundled sample photographs are not installed")
    monkeypatch.setenv("ASMNET_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    svc = app.create_services(app.parse_args(["--author", "t"]), progress=False)
    try:
        recs = svc.store.images()
        assert sorted(r.path.name for r in recs) == sorted(samples.REFERENCE_BOXES)  # one face each
        assert all(r.box_source == "detector" for r in recs)
        for r in recs:
            pred = svc.store.latest_prediction(r.id)
            iou = _iou(landmark_box(pred.points), samples.REFERENCE_BOXES[r.path.name])
            assert iou > 0.6, (r.path.name, iou)
        _, order, _ = h.queue_rows(svc, DEFAULT_FILTER, DEFAULT_SORT)
        first = session.load_state(svc, order[0])
        assert _iou(landmark_box(first.points), samples.REFERENCE_BOXES[first.name]) > 0.6
        # the editor opens zoomed on the points shown: its view is the face box's square widened 1.8 times
        b = np.asarray(first.box, np.float64)
        c, half = (b[:2] + b[2:]) / 2, 0.9 * max(b[2] - b[0], b[3] - b[1])
        assert (np.abs(first.points - c) <= half).all()
        assert _iou(b, landmark_box(first.points)) > 0.7
    finally:
        svc.store.close()
