"""asmnet.inference.detect: the shipped MTCNN (ONNX files + onnxruntime) finds real faces, maps them to the landmark
box, finds nothing in noise, and the Haar cascades stay a selectable fallback; the backends' own parts
(detect_mtcnn: NMS, the mirrored pass; detect_classic: Haar, dlib HOG). Real photographs: the public-
domain pictures of the sample workspace, and AFLW2000-3D test images (skipped where the data is missing)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from asmnet.inference import detect, detect_classic, detect_mtcnn
from asmnet.inference.crop import landmark_box
from asmnet_studio.datasets.images import load_image
from tests.conftest import box_iou as _iou


@pytest.fixture(scope="module")
def astronaut():
    from asmnet_studio.annotator.samples import REFERENCE_BOXES, bundled_faces

    for path, _, _ in bundled_faces():
        if path.name == "astronaut.png":
            return load_image(path), np.asarray(REFERENCE_BOXES[path.name], np.float32)
    pytest.skip("scikit-image's astronaut.png is not installed")


def test_mtcnn_is_the_default_and_ships_its_licence():
    assert detect.detector_name() == "mtcnn"
    assert (detect_mtcnn.MTCNN_DIR / "LICENSE").is_file()
    assert detect.available_detectors()[-1] == "none"


def test_finds_the_face_and_maps_it_to_the_landmark_box(astronaut):
    image, hand_box = astronaut
    boxes, scores = detect.detect_faces_scored(image)
    assert len(boxes) >= 1 and scores[0] > 0.9
    face = detect.face_boxes(image)[0]
    assert _iou(face, hand_box) > 0.6, (face, hand_box)
    np.testing.assert_array_equal(face, detect.face_box_from_detection(boxes[0], "mtcnn"))


def test_mirrored_image_gives_the_mirrored_box(astronaut):
    image, _ = astronaut
    w = image.shape[1]
    a = detect.detect_faces(image)[0]
    b = detect.detect_faces(np.ascontiguousarray(image[:, ::-1]))[0]
    assert _iou(a, [w - b[2], b[1], w - b[0], b[3]]) > 0.8


def test_noise_has_no_face_and_bad_input_is_refused():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert detect.detect_faces(noise).shape == (0, 4)
    assert detect.face_boxes(noise).shape == (0, 4)
    assert detect.detect_faces(noise[..., 0]).shape == (0, 4)  # grey is accepted
    with pytest.raises(ValueError, match="uint8"):
        detect.detect_faces(noise.astype(np.float32))
    with pytest.raises(ValueError, match="choose one of"):
        detect.detect_faces(noise, backend="yolo")


def test_haar_stays_selectable(astronaut, monkeypatch):
    if "opencv-haar" not in detect.available_detectors():
        pytest.skip("this OpenCV has no Haar cascades")
    image, hand_box = astronaut
    monkeypatch.setenv("ASMNET_DETECTOR", "opencv-haar")
    assert detect.detector_name() == "opencv-haar"
    assert _iou(detect.face_boxes(image)[0], hand_box) > 0.4
    monkeypatch.setenv("ASMNET_DETECTOR", "nope")
    with pytest.raises(ValueError, match="ASMNET_DETECTOR"):
        detect.detector_name()


def test_min_face_size_rule():
    assert detect.min_face_size((450, 450)) == detect.MIN_FACE_PX
    assert detect.min_face_size((3000, 4000)) == pytest.approx(120.0)
    assert detect.min_face_size((100, 100), 12) == 12.0


@pytest.mark.data
def test_finds_aflw_test_faces(aflw_dir):
    """Every 20th AFLW2000-3D test image: the face is found and the landmark-box estimate is close."""
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(aflw_dir, "aflw2000", split="test")
    samples = ds.samples[::20]
    found, ious = 0, []
    for s in samples:
        boxes = detect.face_boxes(load_image(ds.root / s.image))
        gt = landmark_box(s.points)
        c = (gt[:2] + gt[2:]) / 2
        hit = [b for b in boxes if b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]]
        found += bool(hit)
        if hit:
            ious.append(_iou(hit[0], gt))
    assert found >= 0.9 * len(samples)
    assert np.median(ious) > 0.6


# ------------------------------------------------------------------ the backends' modules
def test_nms_keeps_the_best_of_overlapping_boxes_in_both_modes():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 59, 59], [2, 2, 5, 5]], np.float64)
    scores = np.array([0.5, 0.9, 0.8, 0.7])
    assert detect_mtcnn.nms(boxes, scores, 0.5).tolist() == [1, 2, 3]          # IoU: the small box stays
    assert detect_mtcnn.nms(boxes, scores, 0.5, "min").tolist() == [1, 2]      # over the smaller box: it goes
    assert detect_mtcnn.nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_passes_map_a_mirrored_pass_back_to_the_image(astronaut):
    """detect_passes on the mirrored image gives the mirrored boxes and keypoints (left / right swapped)."""
    det = detect_mtcnn.shipped_mtcnn()
    if det is None:
        pytest.skip("onnxruntime or the MTCNN files are missing")
    image, _ = astronaut
    w = image.shape[1]
    b, s, kp = detect_mtcnn.detect_passes(det, np.ascontiguousarray(image), 40.0, 0.0)
    bm, sm, kpm = detect_mtcnn.detect_passes(det, np.ascontiguousarray(image[:, ::-1]), 40.0, 0.0)
    i, j = int(np.argmax(s)), int(np.argmax(sm))
    np.testing.assert_allclose([w - bm[j, 2], bm[j, 1], w - bm[j, 0], bm[j, 3]], b[i], atol=6)
    mirrored_kp = kpm[j, [1, 0, 2, 4, 3]] * [-1.0, 1.0] + [w - 1.0, 0.0]
    np.testing.assert_allclose(mirrored_kp, kp[i], atol=6)


@pytest.mark.parametrize("backend", ["haar", "dlib"])
def test_classic_detectors_find_the_face(astronaut, backend):
    image, hand_box = astronaut
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if backend == "haar":
        if detect_classic.cascade(detect_classic.FRONTAL) is None:
            pytest.skip("this OpenCV has no Haar cascades")
        boxes = detect_classic.haar_boxes(gray, 40, profile=True)
    else:
        if detect_classic.dlib_detector() is None:
            pytest.skip("dlib is not installed")
        boxes = detect_classic.dlib_boxes(gray, 40)
    assert boxes.dtype == np.float32 and boxes.shape[1:] == (4,)
    assert max(_iou(b, hand_box) for b in boxes) > 0.4
    noise = np.random.default_rng(0).integers(0, 255, (120, 160), dtype=np.uint8)
    assert (detect_classic.haar_boxes(noise, 40, profile=False) if backend == "haar"
            else detect_classic.dlib_boxes(noise, 40)).shape == (0, 4)
