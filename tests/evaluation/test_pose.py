"""Hand-computed pose errors, |yaw| buckets and group-by breakdowns."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asmnet_studio.evaluation import pose


def test_angle_errors_wrap_around():
    pred = np.array([[179.0, 10.0, -170.0], [0.0, 350.0, 90.0]])
    gt = np.array([[-179.0, 350.0, 170.0], [0.0, 10.0, -90.0]])
    # 179 - (-179) = 358 -> wraps to -2 -> 2;  10 - 350 = -340 -> 20;  -170 - 170 = -340 -> 20
    # 0;  350 - 10 = 340 -> -20 -> 20;  90 - (-90) = 180 -> wraps to -180 -> 180
    np.testing.assert_allclose(pose.angle_errors(pred, gt), [[2, 20, 20], [0, 20, 180]])


def test_pose_mae_by_hand():
    pred = np.array([[10.0, 0.0, 0.0], [0.0, -20.0, 5.0]])
    gt = np.zeros((2, 3))
    # yaw (10 + 0) / 2 = 5; pitch (0 + 20) / 2 = 10; roll (0 + 5) / 2 = 2.5; mean (5 + 10 + 2.5) / 3 = 5.8333
    m = pose.pose_mae(pred, gt)
    assert m == pytest.approx({"yaw": 5.0, "pitch": 10.0, "roll": 2.5, "mean": 17.5 / 3})


def test_geodesic_by_hand():
    # a pure yaw difference of 30 degrees is a 30 degree rotation
    assert pose.geodesic_error([30.0, 0, 0], [0.0, 0, 0]) == pytest.approx([30.0])
    # 179 vs -179 yaw: 2 degrees apart
    assert pose.geodesic_error([179.0, 0, 0], [-179.0, 0, 0]) == pytest.approx([2.0])
    # yaw 90 (Ry(90)) vs pitch 90 (Rx(90)): Ry(-90) @ Rx(90) = [[0,-1,0],[0,0,-1],[1,0,0]], trace 0
    # -> cos(theta) = (0 - 1) / 2 = -0.5 -> theta = 120 degrees
    assert pose.geodesic_error([90.0, 0, 0], [0.0, 90.0, 0]) == pytest.approx([120.0])
    assert pose.geodesic_error([12.0, -40.0, 7.0], [12.0, -40.0, 7.0]) == pytest.approx([0.0], abs=1e-5)


def test_rotation_matrix_convention():
    # R = Rz(roll) @ Ry(yaw) @ Rx(pitch): with yaw = 90 only, x maps to -z and z maps to x
    r = pose.rotation_matrix([90.0, 0.0, 0.0])[0]
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(r @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    rr = pose.rotation_matrix([[20.0, 30.0, 40.0]])
    np.testing.assert_allclose(rr[0] @ rr[0].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rr[0]) == pytest.approx(1.0)


def test_yaw_buckets_edges_and_beyond_90():
    yaw = [0.0, 30.0, 30.5, 60.0, 61.0, 95.0, -45.0, -30.0]
    # [0, 30] -> 0-30; (30, 60] -> 30-60; > 60 (including 95) -> 60-90; sign ignored
    assert list(pose.yaw_bucket(yaw)) == ["0-30", "0-30", "30-60", "30-60", "60-90", "60-90", "30-60", "0-30"]
    np.testing.assert_array_equal(pose.yaw_bucket_index(yaw), [0, 0, 1, 1, 2, 2, 1, 0])


def test_yaw_buckets_wrap_angles_and_leave_nan_out():
    yaw = [350.0, -340.0, 200.0, 405.0, np.nan, np.inf]
    # 350 = -10 -> 0-30; -340 = 20 -> 0-30; 200 = -160 -> 60-90; 405 = 45 -> 30-60; NaN / inf in no bucket
    np.testing.assert_array_equal(pose.yaw_bucket_index(yaw), [0, 0, 2, 1, -1, -1])
    assert list(pose.yaw_bucket(yaw)) == ["0-30", "0-30", "60-90", "30-60", None, None]
    assert pose.yaw_bucket_index(45.0).tolist() == [1]  # a scalar is one face
    b, bal = pose.bucket_means([1.0, 2.0, 100.0], [10.0, 370.0, np.nan])
    assert b == {"0-30": pytest.approx(1.5), "30-60": None, "60-90": None} and bal == pytest.approx(1.5)


def test_bucket_means_and_balanced_mean():
    values = [1.0, 3.0, 5.0, 10.0]
    yaw = [0.0, -10.0, 45.0, 80.0]
    b, bal = pose.bucket_means(values, yaw)
    # 0-30: (1 + 3) / 2 = 2; 30-60: 5; 60-90: 10; balanced (2 + 5 + 10) / 3 = 5.6667 (plain mean 4.75)
    assert b == pytest.approx({"0-30": 2.0, "30-60": 5.0, "60-90": 10.0})
    assert bal == pytest.approx(17.0 / 3)
    b, bal = pose.bucket_means([1.0, 3.0], [0.0, 70.0])
    # empty 30-60 bucket -> None, left out of the balanced mean: (1 + 3) / 2 = 2
    assert b["30-60"] is None and bal == pytest.approx(2.0)


def test_breakdowns():
    table = pd.DataFrame({
        "image": list("abcd"),
        "nme": [2.0, 4.0, 12.0, 6.0],
        "subset": ["common", "common", "challenging", None],
        "bucket": ["0-30", "0-30", "60-90", "0-30"],
        "attr_blur": [1, 0, 1, 0],
        "attr_pose": [0, 0, 1, 1],
    })
    by = pose.breakdown_by_subset(table)
    # common: mean(2, 4) = 3, FR@10 0 %, AUC@10 = mean(0.8, 0.6) = 70 %; challenging: 12, 100 %, 0; None left out
    assert by.loc["common", "nme"] == pytest.approx(3.0)
    assert by.loc["common", "auc"] == pytest.approx(70.0)
    assert by.loc["challenging", "fr"] == pytest.approx(100.0)
    assert set(by.index) == {"common", "challenging"}
    att = pose.breakdown_by_attribute(table)
    # blur: images a, c -> mean(2, 12) = 7, FR 50 %; pose: c, d -> mean(12, 6) = 9; all: 6
    assert att.loc["blur", "nme"] == pytest.approx(7.0)
    assert att.loc["blur", "fr"] == pytest.approx(50.0)
    assert att.loc["pose", "nme"] == pytest.approx(9.0)
    assert att.loc["all", "n"] == 4 and att.loc["all", "nme"] == pytest.approx(6.0)
    yb = pose.breakdown_by_yaw(table)
    assert list(yb.index) == ["0-30", "30-60", "60-90"] and yb.loc["30-60", "n"] == 0
    with pytest.raises(ValueError, match="attributes are"):
        pose.breakdown_by_attribute(table, ["occlusion"])


def test_bad_pose_shape():
    with pytest.raises(ValueError, match=r"\(N, 3\) yaw, pitch, roll"):
        pose.angle_errors(np.zeros((2, 2)), np.zeros((2, 2)))
