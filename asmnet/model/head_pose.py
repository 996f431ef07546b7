"""Head-pose labels under image augmentation, in AFLW2000-3D's (3DDFA) rotation convention (numpy only).

AFLW2000-3D's ``Pose_Para`` angles (pitch, yaw, roll) define ``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)`` with
3DDFA's matrices (below); the face's 3-D points are ``s * R @ X + t`` in a frame with y pointing *up*
(image y = H + 1 - y). Roll is therefore the *innermost* rotation: turning the image in its plane adds to
roll exactly only for a face with zero pitch and yaw. For any other face the in-plane turn is composed as
``R' = Rz(angle) @ R`` and ``R'`` is split back into angles (checked on the real AFLW2000-3D 3-D landmarks in
``tests/asmnet/model/test_head_pose.py``).

Angles here are **degrees** in the project's order (yaw, pitch, roll).
"""
from __future__ import annotations

import numpy as np


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def pose_to_matrix(pose_deg: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of a (yaw, pitch, roll) pose in degrees: Rx(pitch) @ Ry(yaw) @ Rz(roll) (3DDFA)."""
    yaw, pitch, roll = np.radians(np.asarray(pose_deg, dtype=np.float64).reshape(3))
    return _rx(pitch) @ _ry(yaw) @ _rz(roll)


def matrix_to_pose(r: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees of a (3, 3) rotation ``Rx(pitch) @ Ry(yaw) @ Rz(roll)``; yaw in [-90, 90].

    From the product: R[0] = (cos y cos r, cos y sin r, -sin y) and R[:, 2] = (-sin y, sin p cos y, cos p cos y).
    """
    r = np.asarray(r, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[0, 2], -1.0, 1.0))
    if abs(np.cos(yaw)) < 1e-9:  # gimbal lock: only pitch - roll (or + roll) is defined; put it in roll
        pitch = 0.0
        roll = np.arctan2(-r[1, 0], r[1, 1])
    else:
        roll = np.arctan2(r[0, 1], r[0, 0])
        pitch = np.arctan2(r[1, 2], r[2, 2])
    return np.degrees(np.array([yaw, pitch, roll]))


def rotate_pose_in_plane(pose_deg: np.ndarray, angle_deg: float) -> np.ndarray:
    """(3,) pose of the face after turning the image by ``angle_deg`` clockwise on screen (x right, y down;
    ``asmnet.inference.crop.box_to_crop_matrix``'s sign): ``R' = Rz(angle) @ R``. For a frontal face this adds
    ``angle_deg`` to roll; for a turned face pitch and yaw change too."""
    return matrix_to_pose(_rz(np.radians(angle_deg)) @ pose_to_matrix(pose_deg))


def mirror_pose(pose_deg: np.ndarray) -> np.ndarray:
    """(3,) pose of the horizontally mirrored face: M R M with M = diag(-1, 1, 1) negates yaw and roll."""
    p = np.asarray(pose_deg, dtype=np.float64).reshape(3)
    return np.array([-p[0], p[1], -p[2]])
