"""Box refinement by the landmark model itself: predict from a detector's box, re-crop from the box of the
predicted landmarks, predict again, while the box still moves.

    preds = predict_refined(predictor, images, boxes, passes=REFINE_PASSES)

The network was trained on crops around the *ground-truth landmark box*; a detector's box, even mapped with
``asmnet.inference.detect.face_box_from_detection``, is off by a few percent in position and scale, more on turned
faces. The landmark box of a first prediction is usually closer to the true one, so a second crop from it
puts the face where the network expects it. A face stops being re-run when its box moved less than
``tol`` of its size, or after ``passes`` passes; each ``Prediction`` says how many it took
(``extras["passes"]``). The measurement that chose ``REFINE_PASSES`` is in the model card.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from asmnet.inference.crop import landmark_boxes

#: passes in total (1 = no refinement) and the box move (largest corner shift / sqrt(w * h)) below which a
#: face stops: chosen on the validation tenth of the AFLW2000-3D train split with MTCNN boxes (120 faces,
#: shipped model of 2026-11-24; balanced NME 10.02 with one pass; 3 passes at tol 0.02: 9.78, at 0.08:
#: 9.60, at 0.15: 9.50, mean NME 7.45 -> 7.31). A small tol re-crops good boxes too and costs the frontal
#: faces (4.95 -> 5.66 at tol 0.02): the model's own landmark box is no better than a good detection.
REFINE_PASSES = 3
REFINE_TOL = 0.15


def box_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) largest corner shift between (N, 4) boxes ``a`` and ``b`` as a fraction of sqrt(w * h) of ``a``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    size = np.sqrt(np.maximum(a[:, 2] - a[:, 0], 1e-6) * np.maximum(a[:, 3] - a[:, 1], 1e-6))
    return np.abs(a - b).max(axis=1) / size


def predict_refined(predictor, images: Sequence[np.ndarray], boxes: Sequence, *, passes: int = REFINE_PASSES,
                    tol: float = REFINE_TOL, batch_size: int = 32) -> list:
    """``predictor.predict_batch(images, boxes)`` followed by up to ``passes - 1`` re-crops from each
    prediction's landmark box (only for the faces whose box still moves by ``tol`` or more).

    Args:
        predictor: an ``asmnet.inference.predictor.Predictor``.
        images: (H, W, 3) uint8 RGB arrays.
        boxes: one face box (4,) x0, y0, x1, y1 pixels per image (never None here: find boxes first).
        passes: total network passes per face, >= 1.
    Returns:
        One ``Prediction`` per image; ``box`` is the box of its last pass, ``extras["passes"]`` the passes
        it took and ``extras["first_box"]`` the box it started from.
    """
    if passes < 1:
        raise ValueError(f"passes must be >= 1, found {passes}")
    if len(boxes) != len(images):
        raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
    if any(b is None for b in boxes):
        raise ValueError("predict_refined needs a box for every image (detect faces first)")
    preds = list(predictor.predict_batch(images, boxes, batch_size=batch_size))
    for p, b in zip(preds, boxes):
        _extras(p).update(passes=1, first_box=np.asarray(b, np.float32).copy())
    active = list(range(len(preds)))
    for _ in range(passes - 1):
        if not active:
            break
        old = np.stack([preds[i].box for i in active])
        new = landmark_boxes(np.stack([preds[i].points for i in active])).astype(np.float32)
        moving = box_shift(old, new) >= tol
        ok = np.isfinite(new).all(axis=1) & (new[:, 2] > new[:, 0]) & (new[:, 3] > new[:, 1])
        active = [i for i, m, o in zip(active, moving, ok) if m and o]
        new = new[moving & ok]
        if not active:
            break
        again = predictor.predict_batch([images[i] for i in active], list(new), batch_size=batch_size)
        for i, q in zip(active, again):
            _extras(q).update(passes=preds[i].extras["passes"] + 1, first_box=preds[i].extras["first_box"])
            preds[i] = q
    return preds


def _extras(p) -> dict:
    """``p.extras``, created on a prediction-like object that has none."""
    if getattr(p, "extras", None) is None:
        p.extras = {}
    return p.extras
