"""``bench.bench_inference``'s plain-pass-only variant (the batch-1 lever it measures) is what it says: one network
call on the plain crops alone, whose points are the shipped predictor's plain pass."""
from __future__ import annotations

import numpy as np

from asmnet.inference.predictor import Predictor
from bench.bench_inference import plain_pass_only


def _face_image() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (160, 140, 3), dtype=np.uint8)
    return img, np.array([30.0, 35.0, 110.0, 125.0], np.float32)


def test_plain_pass_only_runs_the_plain_crops_alone_and_returns_the_plain_pass():
    shipped = Predictor.default(fast=True)
    plain = plain_pass_only(shipped)
    calls: list[int] = []
    run_numpy = shipped.model.run_numpy  # the ONNX Runtime model both predictors share

    def counting(x):
        calls.append(len(x))
        return run_numpy(x)

    shipped.model.run_numpy = counting
    img, box = _face_image()
    got = plain.predict_batch([img, img], [box, box], batch_size=2)
    assert calls == [2], "the plain-pass variant must call the network once on the 2 plain crops, no mirrored ones"
    calls.clear()
    shipped.flip_tta = False  # the shipped path then returns its plain pass (the mirrored one still runs)
    ref = shipped.predict_batch([img], [box], batch_size=1)[0]
    assert calls == [2], "the shipped path runs plain + mirrored crop as one batch of 2"
    np.testing.assert_allclose(got[0].points, ref.points, atol=0.05)
    np.testing.assert_allclose(got[0].pose, ref.pose, atol=0.05)
    assert np.all(got[0].confidence == 1.0) and got[0].extras["flip_nme"] == 0.0
    assert not np.allclose(ref.confidence, 1.0), "the shipped path's confidence comes from the mirrored pass"
