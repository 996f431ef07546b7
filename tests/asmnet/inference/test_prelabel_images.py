"""asmnet.inference.prelabel.prelabel_images: same results as predict_batch, in order, with progress, per-batch
callbacks, errors raised or skipped, thread and process pools. No timing here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asmnet.model.network import create_model
from asmnet.inference.predictor import Predictor
from asmnet.inference.crop import square_box, whole_image_box
from asmnet.inference.prelabel import NO_FACE, empty_prediction, prelabel_faces, prelabel_images
from asmnet_studio.datasets.errors import ImageError

CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": 64, "crop_margin": 1.3, "schema": "ibug68"}


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(create_model("asmnet_tiny").eval(), CONFIG, None, name="tiny", sha256="-")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(80 + 4 * i, 100, 3), dtype=np.uint8) for i in range(7)]


@pytest.fixture(scope="module")
def boxes(images):
    return [np.array([10 + i, 12, 70 + i, 75], np.float32) for i in range(len(images))]


def _same(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_allclose(q.points, p.points, atol=1e-3)
        np.testing.assert_allclose(q.pose, p.pose, atol=1e-3)
        np.testing.assert_array_equal(q.box, p.box)


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_matches_predict_batch_in_order(predictor, images, boxes, workers):
    ref = predictor.predict_batch(images, boxes, batch_size=3)
    seen, batches = [], []
    out = prelabel_images(predictor, images, boxes, batch_size=3, workers=workers,
                          progress=lambda d, n: seen.append((d, n)),
                          on_batch=lambda idx, preds: batches.append((idx, len(preds))))
    _same(ref, out)
    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert batches == [([0, 1, 2], 3), ([3, 4, 5], 3), ([6], 1)]


def test_paths_and_arrays_mixed(tmp_path, predictor, images, boxes):
    import cv2

    paths = []
    for i, img in enumerate(images[:3]):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), img[..., ::-1])
        paths.append(p)
    items = [paths[0], images[1], str(paths[2])]
    ref = predictor.predict_batch(images[:3], boxes[:3])
    _same(ref, prelabel_images(predictor, items, boxes[:3], batch_size=2, workers=2))


def test_unreadable_image_raises_or_is_skipped(tmp_path, predictor, images, boxes):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    items = [images[0], bad, images[2]]
    with pytest.raises(ImageError, match="broken.jpg"):
        prelabel_images(predictor, items, boxes[:3], workers=2)
    out = prelabel_images(predictor, items, boxes[:3], workers=2, on_error="skip")
    assert out[1].points.shape == (0, 2) and "broken.jpg" in out[1].extras["error"]
    assert out[0].points.shape == (68, 2) and out[2].points.shape == (68, 2)


def test_bad_arguments(predictor, images, boxes):
    with pytest.raises(ValueError, match="boxes"):
        prelabel_images(predictor, images, boxes[:2])
    with pytest.raises(ValueError, match="choose one of"):
        prelabel_images(predictor, images, boxes, on_error="ignore")
    with pytest.raises(ValueError, match="choose one of"):
        prelabel_images(predictor, images, boxes, pool="gpu")
    with pytest.raises(ValueError, match="batch_size"):
        prelabel_images(predictor, images, boxes, batch_size=0)
    assert prelabel_images(predictor, [], None) == []


def test_no_face_falls_back_to_the_one_whole_image_box(predictor):
    blank = np.full((90, 160, 3), 128, np.uint8)  # nothing for a detector to find
    box = predictor.face_box(blank)
    np.testing.assert_array_equal(box, whole_image_box(90, 160, predictor.crop_margin))
    # its crop (crop_margin x the box) is the largest centred square of the image
    crop = square_box(box, predictor.crop_margin)
    np.testing.assert_allclose(crop, [79.5 - 45, -0.5, 79.5 + 45, 89.5], atol=1e-4)  # centre x 79.5, side 90


def _photos():
    """Real photographs that ship with scikit-image / matplotlib (the sample workspace's faces)."""
    from asmnet_studio.annotator.samples import bundled_faces
    from asmnet_studio.datasets.images import load_image

    found = bundled_faces()
    if len(found) < 2:
        pytest.skip("the bundled sample photographs are not installed")
    return [load_image(p) for p, _, _ in found]


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_detection_in_a_pool_matches(predictor, pool):
    """No boxes: every face comes from the detector in pool workers (spawned processes too), refined by
    the model as ``predict_refined`` does it."""
    from asmnet.inference.detect import face_boxes
    from asmnet.inference.refine import predict_refined

    photos = _photos()
    boxes = [face_boxes(p)[0] for p in photos]
    ref = predict_refined(predictor, photos, boxes)
    _same(ref, prelabel_images(predictor, photos, None, batch_size=2, workers=2, pool=pool))


def test_no_face_is_said_not_guessed(predictor, images):
    """Noise has no face: the result is empty and says why (no centred square)."""
    out = prelabel_images(predictor, images[:2], None, workers=0)
    assert [p.points.shape for p in out] == [(0, 2), (0, 2)]
    assert all(p.extras["error"] == NO_FACE for p in out)
    assert prelabel_faces(predictor, images[:2], None, workers=0) == [[], []]


def test_empty_prediction_is_an_empty_result():
    p = empty_prediction(error="x")
    assert p.points.shape == (0, 2) and p.confidence.shape == (0,) and p.extras == {"error": "x"}
