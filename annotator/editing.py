"""Pure editing transitions for one face: nothing here knows Gradio, the store or the browser.

An :class:`EditState` is what the browser tab holds between events (``gr.State``): the current points,
their visibility, which points the user has placed, the model's prediction (for *reset*), the version of
the annotation the edit is based on (for conflict detection) and the undo / redo stacks. It is small
(a few kB) and deep-copyable; every function returns a *new* state and never mutates its argument.

Conventions: points float32 (K, 2) x, y in 0-based image pixels; visibility int8 (K,) with
2 visible / 1 occluded / 0 outside (``asmnet_studio.datasets.sample``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from asmnet_studio.datasets.sample import OCCLUDED, OUTSIDE, VISIBLE

#: how many edits can be undone
MAX_UNDO = 200
#: the shape constraint's default stiffness and confidence gain (``move_point``), chosen on the validation
#: faces of the AFLW2000-3D train split with ``python -m bench correction`` (README, "Correction effort")
DEFAULT_STIFFNESS = 0.5
CONFIDENCE_GAIN = 0.0

VISIBILITY_NAMES = {VISIBLE: "visible", OCCLUDED: "occluded", OUTSIDE: "outside"}
VISIBILITY_CODES = {v: k for k, v in VISIBILITY_NAMES.items()}


class Constrainer(Protocol):
    """What the editor needs from ``asmnet.model.asm.ShapeModel``."""

    def constrain(self, points: np.ndarray, pinned: Sequence[int] = (), weights=None,
                  stiffness: float = 1.0, *, previous=None, method: str = "conditional") -> np.ndarray: ...


@dataclass(frozen=True)
class Snapshot:
    """One undo step: points (K, 2) float32, visibility (K,) int8, touched point indices, face box."""

    points: np.ndarray
    visibility: np.ndarray
    touched: tuple[int, ...]
    box: tuple[float, float, float, float] | None = None


@dataclass
class EditState:
    """The editing session of one image (kept in ``gr.State``; never holds the model or the store).

    Attributes:
        image_id: the workspace image being edited (None before anything is open).
        points: (K, 2) float32 current landmarks, image pixels.
        visibility: (K,) int8 current visibility codes.
        touched: sorted indices of points the user placed by hand (pinned in later refits).
        predicted: (K, 2) float32 the model's prediction, the target of *reset*.
        predicted_visibility: (K,) int8 visibility that goes with ``predicted``.
        base_version: the annotation version this edit started from (None: none existed).
        status: the workflow status to save with (todo / in_progress / done / reviewed).
        selected: the point chosen for the visibility control, or None.
        dirty: True when there are edits not yet saved.
        undo_stack / redo_stack: snapshots, most recent last.
        name, url, width, height: the image's name, its URL for the page and its size in pixels.
        box: (x0, y0, x1, y1) face box the model used, pixels, or None.
        pose: (yaw, pitch, roll) degrees saved with the points, or None.
        confidence: the model's per-point confidence in [0, 1] (K values), or None.
        origin: what the opened points are ("model prediction", "imported ground truth", "saved version");
            None until the page has looked it up.
        clean: the snapshot last saved or opened (``dirty`` is "differs from it", so undoing back to it is
            clean again).
    """

    image_id: int | None = None
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    visibility: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int8))
    touched: tuple[int, ...] = ()
    predicted: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    predicted_visibility: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int8))
    base_version: int | None = None
    status: str = "todo"
    selected: int | None = None
    dirty: bool = False
    undo_stack: tuple[Snapshot, ...] = ()
    redo_stack: tuple[Snapshot, ...] = ()
    # what the editor draws besides the points (set when the image is opened)
    name: str = ""
    url: str = ""
    width: int = 0
    height: int = 0
    box: tuple[float, float, float, float] | None = None
    pose: tuple[float, float, float] | None = None
    confidence: tuple[float, ...] | None = None
    clean: Snapshot | None = None
    origin: str | None = None

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    def snapshot(self) -> Snapshot:
        return Snapshot(self.points.copy(), self.visibility.copy(), tuple(self.touched), self.box)


def start(image_id: int, points: np.ndarray, *, predicted: np.ndarray | None = None,
          visibility: np.ndarray | None = None, predicted_visibility: np.ndarray | None = None,
          base_version: int | None = None, status: str = "todo", touched: Sequence[int] = ()) -> EditState:
    """A fresh state for ``image_id`` showing ``points`` (K, 2); ``predicted`` defaults to ``points``."""
    pts = np.asarray(points, np.float32).reshape(-1, 2).copy()
    k = pts.shape[0]
    vis = _vis(visibility, k)
    pred = pts.copy() if predicted is None else np.asarray(predicted, np.float32).reshape(k, 2).copy()
    pvis = _vis(predicted_visibility, k)
    state = EditState(image_id=image_id, points=pts, visibility=vis, touched=tuple(sorted(set(touched))),
                      predicted=pred, predicted_visibility=pvis, base_version=base_version, status=status)
    return dataclasses.replace(state, clean=state.snapshot())


def _vis(visibility: np.ndarray | None, k: int) -> np.ndarray:
    if visibility is None:
        return np.full((k,), VISIBLE, np.int8)
    return np.asarray(visibility, np.int8).reshape(k).copy()


def _check_index(state: EditState, index: int) -> int:
    index = int(index)
    if not 0 <= index < state.num_points:
        raise ValueError(f"point index {index} is out of range 0..{state.num_points - 1}")
    return index


def _same(a: Snapshot | None, b: Snapshot | None) -> bool:
    """Whether two snapshots show the same face: points (within 1e-4 px), visibility and hand marks (the
    face box is not saved with an annotation)."""
    if a is None or b is None:
        return False
    return (a.points.shape == b.points.shape and bool(np.allclose(a.points, b.points, atol=1e-4, rtol=0))
            and np.array_equal(a.visibility, b.visibility) and tuple(a.touched) == tuple(b.touched))


def _with_dirty(state: EditState) -> EditState:
    """``state`` with ``dirty`` = it differs from the last saved / opened snapshot."""
    return dataclasses.replace(state, dirty=not _same(state.snapshot(), state.clean))


def _push(state: EditState, **changes) -> EditState:
    """A new state with ``changes`` applied, the old one on the undo stack and the redo stack cleared."""
    undo = (state.undo_stack + (state.snapshot(),))[-MAX_UNDO:]
    return _with_dirty(dataclasses.replace(state, undo_stack=undo, redo_stack=(), **changes))


# --------------------------------------------------------------------------------------------- geometry
def nearest_point(points: np.ndarray, x: float, y: float, max_dist: float | None = None) -> int | None:
    """Index of the point of ``points`` (K, 2) nearest to (x, y) pixels; None if none within ``max_dist``."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
    i = int(np.argmin(d))
    if max_dist is not None and d[i] > max_dist:
        return None
    return i


def midline(points: np.ndarray, flip_pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The face's symmetry axis: (centre (2,), unit direction (2,)) fitted through the flip pairs' midpoints.

    The axis is the principal direction of the pairs' midpoints; with fewer than two distinct midpoints it
    falls back to the direction perpendicular to the mean left-to-right vector.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pairs = np.asarray(flip_pairs, int).reshape(-1, 2)
    mids = (pts[pairs[:, 0]] + pts[pairs[:, 1]]) / 2
    centre = mids.mean(axis=0)
    across = (pts[pairs[:, 1]] - pts[pairs[:, 0]]).mean(axis=0)
    spread = mids - centre
    if len(mids) >= 2 and np.linalg.norm(spread) > 1e-6:
        _, _, vt = np.linalg.svd(spread, full_matrices=False)
        direction = vt[0]
    elif np.linalg.norm(across) > 1e-9:
        direction = np.array([-across[1], across[0]])
    else:
        direction = np.array([0.0, 1.0])
    return centre, direction / np.linalg.norm(direction)


def reflect_vector(v: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Mirror the displacement ``v`` (2,) about an axis with unit ``direction`` (2,)."""
    v = np.asarray(v, np.float64)
    d = np.asarray(direction, np.float64)
    return 2 * np.dot(v, d) * d - v


def partner(flip_pairs: Sequence[tuple[int, int]], index: int) -> int | None:
    """The left/right partner of ``index`` in ``flip_pairs``, or None for a point on the midline."""
    for a, b in flip_pairs:
        if a == index:
            return int(b)
        if b == index:
            return int(a)
    return None


# ------------------------------------------------------------------------------------------ transitions
def confidence_weights(confidence: Sequence[float] | None, k: int, gain: float = CONFIDENCE_GAIN) -> np.ndarray:
    """(K,) trust in each on-screen point for the shape constraint: 1 / (1 + gain * (-ln c))² from the
    network's (K,) confidence c in [0, 1] (a point the model doubts follows a drag more readily); all ones
    without a confidence (ground truth, saved corrections)."""
    if confidence is None or len(confidence) != k:
        return np.ones(k)
    c = np.clip(np.asarray(confidence, np.float64), 1e-6, 1.0)
    return 1.0 / (1.0 + gain * -np.log(c)) ** 2


def move_point(state: EditState, index: int, x: float, y: float, *, shape_model: Constrainer | None = None,
               stiffness: float = DEFAULT_STIFFNESS, mirror_pairs: Sequence[tuple[int, int]] | None = None,
               method: str | None = None, confidence_gain: float = CONFIDENCE_GAIN) -> EditState:
    """Drop point ``index`` at (x, y) pixels and move the rest of the face as the drag says.

    The dropped point and every point placed before it are *pinned* (exactly where the user put them).
    The others move by the shape model's conditional estimate of how the drag moves them
    (``ShapeModel.constrain``, method ``conditional``: the drag's displacement, in model units, weighted by
    how much the network trusted each point); ``stiffness`` 0 is a free drag (nothing else moves).
    ``method="legacy"`` is the constraint used before (the closest plausible shape blended by ``stiffness``),
    kept for comparison (``python -m bench correction``).
    With ``mirror_pairs`` (the schema's flip pairs) the point's left/right partner moves by the mirror
    image of the same drag about the face's midline, and is pinned too.
    """
    index = _check_index(state, index)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"point {index}: the new position ({x}, {y}) is not a finite number of pixels")
    stiffness = float(np.clip(stiffness, 0.0, 1.0))
    pts = state.points.astype(np.float32).copy()
    delta = np.array([x, y], np.float64) - pts[index]
    pts[index] = (x, y)
    pinned = set(state.touched) | {index}
    if mirror_pairs:
        j = partner(mirror_pairs, index)
        if j is not None:
            pairs = [p for p in mirror_pairs if index not in p]
            _, direction = midline(state.points, pairs or mirror_pairs)
            pts[j] = state.points[j] + reflect_vector(delta, direction)
            pinned.add(j)
    if shape_model is not None and stiffness > 0:
        if method == "legacy":
            fitted = shape_model.constrain(pts, pinned=sorted(pinned), stiffness=stiffness, method="legacy")
        else:
            fitted = shape_model.constrain(pts, pinned=sorted(pinned), stiffness=stiffness,
                                           weights=confidence_weights(state.confidence, len(pts), confidence_gain),
                                           previous=state.points)
        fitted = np.asarray(fitted, np.float32)
        fitted = fitted.reshape(pts.shape).copy()
        for p in pinned:  # the user's points are exactly where they were dropped
            fitted[p] = pts[p]
        pts = fitted
    return _push(state, points=pts, touched=tuple(sorted(pinned)))


def set_visibility(state: EditState, index: int, visibility: int | str) -> EditState:
    """Mark point ``index`` visible (2) / occluded (1) / outside (0); names are accepted too."""
    index = _check_index(state, index)
    code = VISIBILITY_CODES.get(visibility, visibility) if isinstance(visibility, str) else int(visibility)
    if code not in VISIBILITY_NAMES:
        raise ValueError(f"visibility {visibility!r} is not one of {sorted(VISIBILITY_CODES)}")
    if int(state.visibility[index]) == code:
        return dataclasses.replace(state, selected=index)
    vis = state.visibility.copy()
    vis[index] = code
    return _push(state, visibility=vis, selected=index)


def select(state: EditState, index: int | None) -> EditState:
    """Choose the point the visibility control acts on (None clears the choice); not an undo step."""
    return dataclasses.replace(state, selected=None if index is None else _check_index(state, index))


def reset(state: EditState) -> EditState:
    """Back to the model's prediction (undoable): points, visibility and 'placed by hand' marks."""
    return _push(state, points=state.predicted.copy(), visibility=state.predicted_visibility.copy(), touched=())


def replace_points(state: EditState, points: np.ndarray, visibility: np.ndarray | None = None,
                   *, predicted: bool = True) -> EditState:
    """New points from a model re-run (undoable); with ``predicted`` they also become the reset target."""
    pts = np.asarray(points, np.float32).reshape(state.points.shape).copy()
    vis = _vis(visibility, len(pts)) if visibility is not None else state.visibility.copy()
    new = _push(state, points=pts, visibility=vis, touched=())
    if predicted:
        new = dataclasses.replace(new, predicted=pts.copy(), predicted_visibility=vis.copy())
    return new


def undo(state: EditState) -> EditState:
    """Step back one edit; unchanged when there is nothing to undo."""
    if not state.undo_stack:
        return state
    snap = state.undo_stack[-1]
    return _with_dirty(dataclasses.replace(state, points=snap.points.copy(), visibility=snap.visibility.copy(),
                                           touched=snap.touched, box=snap.box, undo_stack=state.undo_stack[:-1],
                                           redo_stack=state.redo_stack + (state.snapshot(),)))


def redo(state: EditState) -> EditState:
    """Re-apply the last undone edit; unchanged when there is nothing to redo."""
    if not state.redo_stack:
        return state
    snap = state.redo_stack[-1]
    return _with_dirty(dataclasses.replace(state, points=snap.points.copy(), visibility=snap.visibility.copy(),
                                           touched=snap.touched, box=snap.box, redo_stack=state.redo_stack[:-1],
                                           undo_stack=state.undo_stack + (state.snapshot(),)))


def saved(state: EditState, version: int, status: str | None = None) -> EditState:
    """The state after a successful save as ``version``: clean, based on that version."""
    return dataclasses.replace(state, base_version=int(version), dirty=False, clean=state.snapshot(),
                               status=state.status if status is None else status)


#: what the readout says for each plausibility level (``ShapeModel.plausibility``)
PLAUSIBILITY_SENTENCES = {
    "plausible": "a plausible face shape",
    "unusual": "an unusual shape: check the points",
    "implausible": "an implausible shape: some points are probably misplaced",
}


def plausibility(distance: float, level: str) -> tuple[str, str]:
    """(level, plain-language sentence) for a shape's Mahalanobis ``distance`` and its ``level`` from
    ``ShapeModel.plausibility`` (thresholds calibrated on held-out ground-truth faces)."""
    if not np.isfinite(distance) or level not in PLAUSIBILITY_SENTENCES:
        return "implausible", "cannot score this shape"
    return level, PLAUSIBILITY_SENTENCES[level]


def correction_px(state: EditState) -> float:
    """Mean distance in pixels between the current points and the model's prediction."""
    if state.num_points == 0:
        return 0.0
    return float(np.mean(np.hypot(*(state.points - state.predicted).T)))
