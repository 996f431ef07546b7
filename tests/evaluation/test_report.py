"""evaluate() -> Report: summary keys, per-image table, hand-computed summary values."""
from __future__ import annotations

import json

import numpy as np
import pytest

from asmnet_studio.datasets.schemas import IBUG68, get_schema
from asmnet_studio.evaluation.report import Report, default_normaliser, evaluate
from tests.evaluation.test_metrics import face68

BASE_KEYS = ["n", "normaliser", "nme", "nme_interocular", "nme_buckets", "nme_balanced", "fr_10", "auc_10"]


def three_faces():
    """Three faces with interocular 10 px; every point of face i is off by 0.5, 1.5 and 12 px -> NME 5, 15, 120 %."""
    gt = np.stack([face68()] * 3)
    pred = gt.copy()
    pred[0] += [0.3, 0.4]   # 0.5 px
    pred[1] += [0.9, 1.2]   # 1.5 px
    pred[2] += [12.0, 0.0]  # 12 px
    return pred, gt


def test_summary_by_hand():
    pred, gt = three_faces()
    gp = np.array([[10.0, 0, 0], [-45.0, 5, 0], [80.0, 0, 0]])
    pp = gp + [[2.0, 0, 0], [0.0, -4, 0], [0.0, 0, 3]]
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular", pred_pose=pp, gt_pose=gp,
                 names=["a", "b", "c"])
    s = r.summary
    assert list(s) == BASE_KEYS + ["pose_mae"]
    # NME 5, 15, 120 -> mean 46.6667; one bucket each -> balanced (5 + 15 + 120) / 3 as well
    assert s["n"] == 3 and s["normaliser"] == "interocular"
    assert s["nme"] == pytest.approx(140 / 3)
    assert s["nme_interocular"] == pytest.approx(140 / 3)
    assert s["nme_buckets"] == pytest.approx({"0-30": 5.0, "30-60": 15.0, "60-90": 120.0})
    assert s["nme_balanced"] == pytest.approx(140 / 3)
    # FR@10: 15 and 120 fail -> 66.667 %; AUC@10: (1 - 0.5 + 0 + 0) / 3 = 16.667 %
    assert s["fr_10"] == pytest.approx(200 / 3)
    assert s["auc_10"] == pytest.approx(50 / 3)
    # pose MAE: yaw (2 + 0 + 0) / 3, pitch 4 / 3, roll 3 / 3 = 1; mean (2/3 + 4/3 + 1) / 3 = 1
    assert s["pose_mae"] == pytest.approx({"yaw": 2 / 3, "pitch": 4 / 3, "roll": 1.0, "mean": 1.0})
    t = r.per_image
    assert list(t["image"]) == ["a", "b", "c"]
    np.testing.assert_allclose(t["nme"], [5, 15, 120])
    assert list(t["bucket"]) == ["0-30", "30-60", "60-90"]
    assert list(t["failed"]) == [False, True, True]
    np.testing.assert_allclose(t["yaw_err"], [2, 0, 0])
    for col in ("nme_interocular", "norm_px", "error_px", "yaw_gt", "pitch_pred", "roll_err", "geodesic_err"):
        assert col in t.columns
    json.dumps(s, allow_nan=False)  # JSON-ready


def test_box_normaliser_and_interocular_column():
    pred, gt = three_faces()
    r = evaluate(pred, gt, schema="ibug68", normaliser="box")
    # box of face68: w = 10, h = 4 -> sqrt(40) = 6.3246; face 0: 100 * 0.5 / 6.3246 = 7.9057 %
    assert r.per_image["nme"][0] == pytest.approx(50 / np.sqrt(40))
    assert r.summary["nme_interocular"] == pytest.approx(140 / 3)
    # no pose at all: bucket entries None and no pose_mae key
    assert list(r.summary) == BASE_KEYS
    assert r.summary["nme_buckets"] is None and r.summary["nme_balanced"] is None
    assert not r.has_pose and "yaw_gt" not in r.per_image


def test_other_failure_threshold_adds_keys():
    pred, gt = three_faces()
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular", failure_threshold=20)
    # FR@20: only 120 fails -> 33.333 %; AUC@20: (0.75 + 0.25 + 0) / 3 = 33.333 %
    assert r.summary["fr_20"] == pytest.approx(100 / 3)
    assert r.summary["auc_20"] == pytest.approx(100 / 3)
    assert r.summary["fr_10"] == pytest.approx(200 / 3)
    assert list(r.per_image["failed"]) == [False, False, True]


def test_landmark_nme_mean_shape_worst_and_regions():
    pred, gt = three_faces()
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular")
    # every landmark: mean of 5, 15, 120 = 46.667 %
    np.testing.assert_allclose(r.landmark_nme, np.full(68, 140 / 3))
    assert r.mean_shape.shape == (68, 2)
    # face68 centred on its box centre (5, 2) and divided by d = 10: point 36 = (0, 0) -> (-0.5, -0.2)
    np.testing.assert_allclose(r.mean_shape[36], [-0.5, -0.2])
    w = r.worst(2)
    assert list(w["rank"]) == [1, 2] and list(w["image"]) == ["2", "1"]
    reg = r.region_nme()
    assert list(reg.columns) == ["index", "name", "region", "nme"]
    assert reg.loc[36, "name"] == "right_eye_outer" and reg.loc[36, "region"] == "right_eye"


def test_visibility_subsets_attributes():
    pred, gt = three_faces()
    vis = np.full((3, 68), 2)
    vis[2, :] = 0
    vis[2, 5] = 1
    pred[2, 5] = gt[2, 5] + [0.0, 2.0]  # the one counted point of face 2: 2 px / 10 = 20 %
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular", visibility=vis,
                 subsets=["common", "common", "challenging"], attributes=[{"blur": 1}, {}, {"blur": 1, "pose": 1}])
    np.testing.assert_allclose(r.per_image["nme"], [5, 15, 20])
    assert r.by_subset.loc["common", "nme"] == pytest.approx(10.0)
    assert r.by_attribute.loc["blur", "nme"] == pytest.approx(12.5)
    assert r.by_attribute.loc["pose", "n"] == 1
    assert list(r.per_image["attr_pose"]) == [0, 0, 1]


def test_bad_arguments():
    pred, gt = three_faces()
    with pytest.raises(ValueError, match="choose one of"):
        evaluate(pred, gt, schema=IBUG68, normaliser="iod")
    with pytest.raises(ValueError, match="names"):
        evaluate(pred, gt, schema=IBUG68, normaliser="box", names=["a"])
    with pytest.raises(ValueError, match="gt_pose"):
        evaluate(pred, gt, schema=IBUG68, normaliser="box", gt_pose=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown landmark schema"):
        evaluate(pred, gt, schema="ibug69", normaliser="box")
    with pytest.raises(ValueError, match="98"):
        evaluate(pred, gt, schema="wflw98", normaliser="box")


def test_default_normaliser():
    assert default_normaliser("aflw2000", IBUG68) == "box"
    assert default_normaliser("pts", IBUG68) == "interocular"
    assert default_normaliser("300w", "ibug68") == "interocular"
    assert default_normaliser("wflw", get_schema("wflw98")) == "interocular"
    assert default_normaliser("coco", IBUG68) == "interocular"


def test_report_type():
    pred, gt = three_faces()
    assert isinstance(evaluate(pred, gt, schema=IBUG68, normaliser="box"), Report)


def test_non_finite_points_are_an_error_unless_not_counted():
    pred, gt = three_faces()
    pred[1, 7] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*1 image.*\['b'\]"):
        evaluate(pred, gt, schema=IBUG68, normaliser="interocular", names=["a", "b", "c"])
    vis = np.full((3, 68), 2)
    vis[1, 7] = 0  # an unlabelled point may hold anything
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular", visibility=vis)
    assert r.per_image["nme"][1] == pytest.approx(15.0)


def test_image_with_nothing_to_measure_stays_out_but_a_diverged_pose_fails():
    pred, gt = three_faces()
    vis = np.full((3, 68), 2)
    vis[2] = 0  # face 2 has no counted point: its NME is NaN, nothing to measure
    gp = np.zeros((3, 3))
    pp = np.array([[1.0, 0, 0], [np.nan, 0, 0], [1.0, 0, 0]])  # face 1: a diverged pose estimate
    r = evaluate(pred, gt, schema=IBUG68, normaliser="interocular", visibility=vis, pred_pose=pp, gt_pose=gp)
    assert np.isnan(r.per_image["nme"][2])
    assert r.summary["fr_10"] == pytest.approx(50.0)  # 15 % of faces 0 and 1 fails; face 2 is not counted
    _, c = r.ced([100.0])
    assert c[0] == pytest.approx(100.0)
    _, c = r.pose_ced("yaw", [179.0])  # the NaN yaw error of face 1 never reaches a threshold
    assert c[0] == pytest.approx(200.0 / 3)
