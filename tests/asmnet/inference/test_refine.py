"""asmnet.inference.refine: box refinement by the landmark model. Mechanics on a tiny untrained network; on real
AFLW2000-3D test faces with detected boxes, the shipped model's refined pre-labels are on average not
worse than one pass (the measurement that chose the settings is bench/refine_study.py on validation)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asmnet.model.network import create_model
from asmnet.inference.predictor import Predictor
from asmnet.inference.refine import REFINE_PASSES, box_shift, predict_refined

CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": 64, "crop_margin": 1.3, "schema": "ibug68"}


@pytest.fixture(scope="module")
def tiny() -> Predictor:
    torch.manual_seed(0)
    return Predictor(create_model("asmnet_tiny").eval(), CONFIG, None, name="tiny", sha256="-")


def test_box_shift():
    a = np.array([[0, 0, 10, 10]], float)
    assert box_shift(a, a)[0] == 0
    assert box_shift(a, a + [1, 0, 1, 0])[0] == pytest.approx(0.1)


def test_passes_and_stopping(tiny):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 100, 3), dtype=np.uint8) for _ in range(3)]
    boxes = [np.array([10, 10, 70, 80], np.float32)] * 3
    one = predict_refined(tiny, images, boxes, passes=1)
    ref = tiny.predict_batch(images, boxes)
    for p, q in zip(one, ref):
        np.testing.assert_allclose(p.points, q.points, atol=1e-5)
        assert p.extras["passes"] == 1
    three = predict_refined(tiny, images, boxes, passes=3)
    assert all(1 <= p.extras["passes"] <= 3 for p in three)
    np.testing.assert_array_equal(three[0].extras["first_box"], boxes[0])
    stuck = predict_refined(tiny, images, boxes, passes=3, tol=1e9)  # never moves enough: one pass
    assert all(p.extras["passes"] == 1 for p in stuck)
    with pytest.raises(ValueError, match="passes"):
        predict_refined(tiny, images, boxes, passes=0)
    with pytest.raises(ValueError, match="box"):
        predict_refined(tiny, images, [None] * 3)


@pytest.mark.data
@pytest.mark.slow
def test_refinement_is_not_worse_than_one_pass_on_test_faces(aflw_dir):
    from asmnet.inference.crop import landmark_box
    from asmnet.inference.detect import face_boxes
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.images import load_image

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    pred = Predictor.default(backend="auto")
    ds = read_dataset(aflw_dir, "aflw2000", split="test")
    images, boxes, gts = [], [], []
    for s in ds.samples[::8]:  # as `asmnet predict --boxes detect`: the whole image where no face is found
        im = load_image(ds.root / s.image)
        fb = face_boxes(im)
        images.append(im)
        boxes.append(fb[0] if len(fb) else pred.face_box(im))
        gts.append(s.points)

    def mean_nme(preds) -> float:
        e = []
        for p, g in zip(preds, gts):
            b = landmark_box(g)
            e.append(np.linalg.norm(p.points - g, axis=1).mean() / np.sqrt((b[2] - b[0]) * (b[3] - b[1])))
        return float(np.mean(e))

    one = mean_nme(predict_refined(pred, images, boxes, passes=1))
    refined = mean_nme(predict_refined(pred, images, boxes, passes=REFINE_PASSES))
    assert refined <= one + 1e-6, (refined, one)
