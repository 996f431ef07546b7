"""Crop geometry and augmentation: every augmentation keeps points and pose labels true."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet.inference.crop import (apply_affine, box_to_crop_matrix, crop_box_from_points, from_normalised,
                                   invert_affine, landmark_box, square_box, to_normalised)
from asmnet.training.data import AugmentConfig, FaceArrays, make_batch, sample_crop, split_named, split_validation
from asmnet_studio.evaluation.pose import yaw_bucket_index
from asmnet_studio.datasets.schemas import IBUG68
from tests.asmnet.conftest import synthetic_face_image, synthetic_shapes

PERM = IBUG68.flip_permutation()
NO_AUG = dict(rotation=0.0, scale=0.0, shift=0.0, flip=0.0)


def eye_angle(points: np.ndarray) -> float:
    d = points[45] - points[36]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def test_crop_helpers_round_trip():
    pts = np.array([[10.0, 20.0], [50.0, 80.0], [30.0, 40.0]])
    assert landmark_box(pts).tolist() == [10, 20, 50, 80]
    sq = square_box(landmark_box(pts), 1.5)
    assert sq[2] - sq[0] == pytest.approx(90) and sq[3] - sq[1] == pytest.approx(90)
    assert np.allclose(crop_box_from_points(pts, 1.0), [0, 20, 60, 80])
    ident = box_to_crop_matrix(np.array([-0.5, -0.5, 63.5, 63.5]), 64)
    np.testing.assert_allclose(ident, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    m = box_to_crop_matrix(sq, 128, angle_deg=17)
    np.testing.assert_allclose(apply_affine(invert_affine(m), apply_affine(m, pts)), pts, atol=1e-9)
    u = to_normalised(np.array([[-0.5, 127.5], [63.5, 63.5]]), 128)
    np.testing.assert_allclose(u, [[-1, 1], [0, 0]])
    np.testing.assert_allclose(from_normalised(u, 128), [[-0.5, 127.5], [63.5, 63.5]])


def _face(seed=0, size=160):
    rng = np.random.default_rng(seed)
    t = synthetic_shapes(1, seed=seed)[0]
    t = (t - t.mean(0)) / np.abs(t - t.mean(0)).max() * 40 + size / 2
    return synthetic_face_image(t, size, seed), t.astype(np.float32), np.array([20.0, -5.0, 7.0], np.float32), rng


def test_flip_maps_image_points_and_pose():
    img, pts, pose, rng = _face()
    plain, p0, q0 = sample_crop(img, pts, pose, 96, rng=rng, aug=AugmentConfig(**NO_AUG), flip_perm=PERM)
    flipped, p1, q1 = sample_crop(img, pts, pose, 96, rng=rng, aug=AugmentConfig(**{**NO_AUG, "flip": 1.0}),
                                  flip_perm=PERM)
    np.testing.assert_array_equal(flipped, plain[:, ::-1])
    np.testing.assert_allclose(p1, IBUG68.mirror(p0, 96), atol=1e-4)
    # index 36 (subject's right eye outer corner) is now where the left eye outer corner (45) appeared
    np.testing.assert_allclose(p1[36], [95 - p0[45, 0], p0[45, 1]], atol=1e-4)
    np.testing.assert_allclose(q1, [-q0[0], q0[1], -q0[2]])


def test_rotation_changes_a_frontal_roll_by_the_eye_line_angle():
    # only for a frontal head (yaw = pitch = 0) is an in-plane turn a pure change of roll (asmnet.model.head_pose)
    img, pts, _, _ = _face(seed=1)
    pose = np.array([0.0, 0.0, 7.0], np.float32)
    _, p0, q0 = sample_crop(img, pts, pose, 96, rng=None, aug=None, flip_perm=PERM)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        _, p1, q1 = sample_crop(img, pts, pose, 96, rng=rng, aug=AugmentConfig(**{**NO_AUG, "rotation": 40.0}),
                                flip_perm=PERM)
        turned = eye_angle(p1) - eye_angle(p0)
        assert q1[2] - q0[2] == pytest.approx(turned, abs=1e-3)
        assert q1[0] == pytest.approx(0.0, abs=1e-6) and q1[1] == pytest.approx(0.0, abs=1e-6)


def test_points_follow_the_pixels_under_full_augmentation():
    img, pts, pose, rng = _face(seed=2)
    for _ in range(5):
        crop, p, _ = sample_crop(img, pts, pose, 128, rng=rng, aug=AugmentConfig(), flip_perm=PERM)
        # each landmark is drawn as a bright blob: the crop is bright where the points land
        inside = (p[:, 0] > 2) & (p[:, 0] < 125) & (p[:, 1] > 2) & (p[:, 1] < 125)
        vals = [crop[int(round(y)), int(round(x))].max() for x, y in p[inside]]
        assert np.mean(np.array(vals) > 150) > 0.8


def test_real_faces_keep_roll_and_yaw_true_under_augmentation(aflw_dir):
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet.training.data import decode_faces

    ds = read_dataset(aflw_dir, "aflw2000", split="train")
    ds.samples = [s for s in ds.samples if abs(s.pose[0]) < 30][:48]
    faces = decode_faces(ds, cache_size=160)
    rng = np.random.default_rng(0)
    batch = make_batch(faces, np.arange(len(faces)), 96, rng=rng, aug=AugmentConfig(rotation=30))
    angles = np.array([eye_angle(p) for p in batch["points"]])
    # AFLW2000-3D roll is (almost) the eye-line angle on near-frontal faces; augmentation must keep that
    assert np.median(np.abs(angles - batch["pose"][:, 2])) < 3.0
    assert np.corrcoef(angles, batch["pose"][:, 2])[0, 1] > 0.9
    # yaw sign: the nose tip (30) sits towards the side the face turns to
    ratio = (batch["points"][:, 30, 0] - (batch["points"][:, 39, 0] + batch["points"][:, 42, 0]) / 2)
    turned = np.abs(batch["pose"][:, 0]) > 10
    base = (faces.points[:, 30, 0] - (faces.points[:, 39, 0] + faces.points[:, 42, 0]) / 2)
    yawed = np.abs(faces.pose[:, 0]) > 10
    sign0 = np.sign(np.corrcoef(base[yawed], faces.pose[yawed, 0])[0, 1])
    corr = np.corrcoef(ratio[turned], batch["pose"][turned, 0])[0, 1]
    assert np.sign(corr) == sign0 and abs(corr) > 0.5


def test_validation_split_is_stratified_and_disjoint():
    n = 100
    yaw = np.linspace(-90, 90, n)
    faces = FaceArrays(np.zeros((n, 4, 4, 3), np.uint8), np.zeros((n, 68, 2), np.float32),
                       np.stack([yaw, 0 * yaw, 0 * yaw], 1).astype(np.float32), np.ones(n, bool),
                       [str(i) for i in range(n)], "ibug68")
    tr, va = split_validation(faces, 0.1, seed=0)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == n
    assert set(yaw_bucket_index(yaw[va])) == {0, 1, 2}
    np.testing.assert_array_equal(split_validation(faces, 0.1, seed=0)[1], va)
    with pytest.raises(ValueError, match="fraction"):
        split_validation(faces, 1.5, 0)


def test_named_validation_split_holds_out_exactly_those_faces_and_names_a_missing_one():
    n = 10
    faces = FaceArrays(np.zeros((n, 4, 4, 3), np.uint8), np.zeros((n, 68, 2), np.float32), np.zeros((n, 3), np.float32),
                       np.ones(n, bool), [f"img/{i}.jpg" for i in range(n)], "ibug68")
    tr, va = split_named(faces, ["img/7.jpg", "img/2.jpg"], "val.txt")
    assert va.tolist() == [2, 7] and tr.tolist() == [0, 1, 3, 4, 5, 6, 8, 9]
    with pytest.raises(ValueError, match=r"val\.txt: 1 validation face\(s\) not in the training data, first 'img/99.jpg'"):
        split_named(faces, ["img/2.jpg", "img/99.jpg"], "val.txt")


def test_batched_affine_and_boxes_match_the_per_face_forms():
    from asmnet.inference.crop import landmark_box, landmark_boxes

    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 400, size=(4, 68, 2))
    mats = np.stack([box_to_crop_matrix(np.array([10.0 * i, 5.0, 200.0 + i, 220.0]), 128, angle_deg=7.0 * i)
                     for i in range(4)])
    inv = invert_affine(mats)
    np.testing.assert_allclose(inv, np.stack([invert_affine(m) for m in mats]), atol=1e-12)
    np.testing.assert_allclose(apply_affine(mats, pts), np.stack([apply_affine(m, q) for m, q in zip(mats, pts)]),
                               atol=1e-9)
    pts[1, 5] = np.nan
    np.testing.assert_allclose(landmark_boxes(pts), np.stack([landmark_box(q) for q in pts]), rtol=1e-6)
