"""Pose labels under in-plane rotation and mirroring, checked against AFLW2000-3D's own 3-D landmarks."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.inference.crop import apply_affine, box_to_crop_matrix, square_box
from asmnet.model.head_pose import matrix_to_pose, mirror_pose, pose_to_matrix, rotate_pose_in_plane


def test_matrix_round_trip_over_the_pose_range():
    rng = np.random.default_rng(0)
    for pose in rng.uniform([-89, -80, -170], [89, 80, 170], size=(500, 3)):
        np.testing.assert_allclose(matrix_to_pose(pose_to_matrix(pose)), pose, atol=1e-7)


def test_frontal_turn_adds_to_roll_only():
    np.testing.assert_allclose(rotate_pose_in_plane([0.0, 0.0, 10.0], 25.0), [0.0, 0.0, 35.0], atol=1e-9)


def test_turned_face_changes_pitch_and_yaw_too():
    # a head turned 70 degrees and tilted down 20: turning the picture is not a change of roll alone
    out = rotate_pose_in_plane([70.0, -20.0, 0.0], 30.0)
    assert abs(out[1] - (-20.0)) > 5.0 or abs(out[0] - 70.0) > 5.0


def test_mirror_is_an_involution_and_keeps_pitch():
    p = np.array([63.0, -12.0, 9.0])
    np.testing.assert_allclose(mirror_pose(mirror_pose(p)), p)
    r = pose_to_matrix(p)
    m = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(matrix_to_pose(m @ r @ m), mirror_pose(p), atol=1e-9)


def _aflw_3d(aflw_dir, min_abs_yaw: float, limit: int = 40):
    """[(pt3d (3, 68) image coords, pose (yaw, pitch, roll) deg)] of AFLW2000-3D train faces with large |yaw|."""
    sio = pytest.importorskip("scipy.io")
    import csv

    rows = list(csv.DictReader(open(aflw_dir / "split.csv")))
    out = []
    for row in rows:
        name = next(v for k, v in row.items() if k != "split")
        if row.get("split") != "train":
            continue
        mat = aflw_dir / "AFLW2000" / (name.rsplit(".", 1)[0] + ".mat") if "/" not in name else \
            aflw_dir / (name.rsplit(".", 1)[0] + ".mat")
        if not mat.is_file():
            continue
        m = sio.loadmat(mat)
        pitch, yaw, roll = np.degrees(m["Pose_Para"][0][:3])
        if abs(yaw) < min_abs_yaw or max(abs(pitch), abs(yaw), abs(roll)) > 99:
            continue
        out.append((m["pt3d_68"].astype(np.float64), np.array([yaw, pitch, roll])))
        if len(out) == limit:
            break
    return out


def _canonical(pt3d: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """The head's own (frontal) 3-D shape: R^T q over |.| with q the centred points in the y-up model frame."""
    q = np.stack([pt3d[0], -pt3d[1], pt3d[2]])
    q = q - q.mean(1, keepdims=True)
    x = pose_to_matrix(pose).T @ q
    return x / np.linalg.norm(x)


def test_in_plane_turn_of_real_turned_faces_keeps_the_same_head(aflw_dir):
    """Turn the picture of AFLW2000-3D faces with |yaw| >= 60 by the crop's rotation; the composed pose must
    explain the turned 3-D landmarks with the same frontal head shape, and far better than 'roll + angle'."""
    faces = _aflw_3d(aflw_dir, 60.0)
    assert len(faces) >= 20, "expected at least 20 train faces with |yaw| >= 60"
    composed, naive = [], []
    for pt3d, pose in faces:
        x0 = _canonical(pt3d, pose)
        for angle in (-25.0, 18.0):
            box = square_box(np.array([pt3d[0].min(), pt3d[1].min(), pt3d[0].max(), pt3d[1].max()]), 1.3)
            m = box_to_crop_matrix(box, 128, angle)
            xy = apply_affine(m, pt3d[:2].T).T
            turned = np.vstack([xy, pt3d[2:3] * np.sqrt(abs(np.linalg.det(m[:, :2])))])
            composed.append(np.linalg.norm(_canonical(turned, rotate_pose_in_plane(pose, angle)) - x0))
            naive.append(np.linalg.norm(_canonical(turned, pose + [0.0, 0.0, angle]) - x0))
    composed, naive = np.array(composed), np.array(naive)
    assert composed.max() < 1e-6          # exact: the same head in a turned picture
    assert np.median(naive) > 0.05        # adding the angle to roll describes another head
