"""Pre-label a workspace: new faces (``prelabel_new_faces``), or again with a (new) model version keeping
every point a person placed (``repredict_workspace``).

    ws = Workspace("project.db")
    predictor, model_id = workspace_predictor(ws)                  # the latest registered version
    new = prelabel_new_faces(ws, predictor, model_id)              # faces without a prediction yet
    report = repredict_workspace(ws, predictor, model_id, only_not_done=True)

``prelabel_new_faces`` is the one pre-label step of imports, uploads and the app's start: a face with a
box (from its dataset, a person or an earlier detection) is predicted in that box; a picture whose face 0
has no box yet goes through the face detector, and every face found (``asmnet.inference.prelabel.detected_faces``)
becomes a face of the picture with its box and its prediction (refined by the model, ``asmnet.inference.refine``).
Where no face is found the face is marked ``box_source="not_found"`` and gets no prediction: the
annotator then asks for a box instead of guessing one.

Every chosen image gets a new ``PredictionRow`` (points, pose, per-point confidence, face-level
uncertainty; one transaction per batch). For an image that is *not finished* (status todo / in_progress)
and whose latest annotation is a correction, the points the person placed are kept **exactly** (bit-
identical float32) and the rest of the new prediction is fitted around them with the model's shape model
(``ShapeModel.constrain`` with those points pinned, the network's per-point confidence as fit weights);
their confidence is set to 1. Finished images (done / reviewed) get the plain new prediction (it then
measures the new model against the accepted labels, e.g. in the queue's ``correction_px``). Ground truth
that was imported, not corrected, is not a "placed" point: such images get the plain prediction.

Which points did a person place? (``user_placed_points``):

1. the points the correction's ``placed`` mask marks (the annotator saves the points placed by hand), and
2. every point of a correction version that lies more than ``PIN_TOLERANCE_PX`` (0.5 px) from the
   prediction that version was based on (the latest prediction saved before it, of any model) and that
   has not moved since (the latest correction still has it within 0.5 px of that version's position).
   A correction saved with no earlier prediction counts as placed by hand entirely.

(2) also keeps points across rounds: after a re-pre-label the new prediction already holds the person's
points, so a later correction does not differ from it there, but the earlier version that placed them does.

Both run the one pipeline, ``asmnet.inference.prelabel.prelabel_faces``, and store each batch through
``prediction_row``. Face box of each image in ``repredict_workspace``: the image's stored box, else the box of
its latest prediction, else the pipeline's face detector (no face found: skipped, nothing is guessed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from asmnet_studio.datasets.store import Annotation, PredictionRow, Workspace

#: a correction point farther than this (pixels) from the prediction it was based on was placed by a person
PIN_TOLERANCE_PX = 0.5
#: statuses whose images are finished (re-pre-labelled with the plain prediction, or skipped with only_not_done)
FINISHED = ("done", "reviewed")


@dataclass
class PrelabelReport:
    """What ``repredict_workspace`` did.

    Attributes:
        model_id: the model version whose predictions were stored.
        predicted: images that got a new prediction.
        pinned_images: of those, images whose hand-placed points were kept.
        pinned_points: total hand-placed points kept.
        skipped: (image_id, reason) for images that could not be predicted (unreadable file ...).
        image_ids: the images that got a prediction, in order.
    """

    model_id: int
    predicted: int = 0
    pinned_images: int = 0
    pinned_points: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (f"model {self.model_id}: predicted {self.predicted} image(s); kept {self.pinned_points} hand-placed "
                f"point(s) on {self.pinned_images} image(s); skipped {len(self.skipped)}")


def _based_on(ann: Annotation, predictions: Sequence[PredictionRow]) -> PredictionRow | None:
    """The latest prediction saved before ``ann`` with the same number of points."""
    best = None
    for p in predictions:  # oldest first
        if p.created_at is not None and p.created_at <= ann.created_at and p.points.shape == ann.points.shape:
            best = p
    return best


def user_placed_points(ws: Workspace, image_id: int, *, tolerance: float = PIN_TOLERANCE_PX
                       ) -> tuple[Annotation | None, np.ndarray]:
    """(latest annotation, sorted indices of the points a person placed in it) for one image.

    The indices are empty unless the latest annotation is a correction; see the module docstring for the
    rule. Returns (None, empty) for an image with no annotation.
    """
    history = ws.history(image_id)
    if not history:
        return None, np.zeros(0, np.int64)
    latest = history[-1]
    k = latest.points.shape[0]
    if latest.source != "correction":
        return latest, np.zeros(0, np.int64)
    placed = set(np.flatnonzero(latest.placed).tolist())
    preds = ws.predictions(image_id)
    cur = latest.points.astype(np.float64)
    for ann in history:
        if ann.source != "correction" or ann.points.shape != latest.points.shape:
            continue
        pts = ann.points.astype(np.float64)
        base = _based_on(ann, preds)
        if base is None:
            moved = np.ones(k, bool)
        else:
            moved = np.linalg.norm(pts - base.points.astype(np.float64), axis=1) > tolerance
        unchanged = np.linalg.norm(cur - pts, axis=1) <= tolerance
        placed.update(np.flatnonzero(moved & unchanged).tolist())
    return latest, np.array(sorted(placed), dtype=np.int64)


def pin_points(predicted: np.ndarray, user: np.ndarray, pinned: Sequence[int] | np.ndarray, shape_model=None, *,
               weights: np.ndarray | None = None, stiffness: float = 1.0) -> np.ndarray:
    """A prediction (K, 2) refitted around the person's points: ``user[pinned]`` exactly (float32), the
    other points the shape model's closest plausible shape to the prediction with those pinned (blended
    by ``stiffness``: 0 keeps the prediction's other points as they are). Returns (K, 2) float32."""
    pred = np.asarray(predicted, np.float32)
    user = np.asarray(user, np.float32)
    if pred.shape != user.shape:
        raise ValueError(f"prediction {pred.shape} and correction {user.shape} differ in shape")
    pinned = np.asarray(pinned, dtype=np.int64).ravel()
    pts = pred.astype(np.float64).copy()
    pts[pinned] = user[pinned]
    if shape_model is not None and stiffness > 0 and 0 < len(pinned) < len(pts) \
            and shape_model.num_points == len(pts):
        pts = np.asarray(shape_model.constrain(pts, pinned=pinned.tolist(), weights=weights, stiffness=stiffness),
                         np.float64)
    out = pts.astype(np.float32)
    out[pinned] = user[pinned]
    return out


def prediction_row(face_id: int, model_id: int, p, *, points: np.ndarray | None = None,
                   confidence: np.ndarray | None = None) -> PredictionRow:
    """The store's row of one ``Prediction`` ``p`` of face ``face_id`` by model version ``model_id`` (the one
    pre-label sink format); ``points`` (K, 2) / ``confidence`` (K,) replace the prediction's own (e.g. with
    hand-placed points kept)."""
    return PredictionRow(image_id=int(face_id), model_id=int(model_id),
                         points=np.asarray(p.points if points is None else points, np.float32),
                         pose=None if p.pose is None else np.asarray(p.pose, np.float32),
                         confidence=np.asarray(p.confidence if confidence is None else confidence, np.float32),
                         box=None if p.box is None else np.asarray(p.box, np.float32),
                         uncertainty=float(p.uncertainty))


def workspace_predictor(ws: Workspace, *, model_id: int | None = None, checkpoint: str | Path | None = None,
                        device: str = "cpu"):
    """(Predictor, model_id) for re-pre-labelling.

    ``model_id``: a registered version (its checkpoint file must still have the registered sha256);
    ``checkpoint``: a checkpoint file, registered now when it is not yet (same name and sha256 reuse the id);
    neither: the latest registered version, else the shipped checkpoint (registered now).
    """
    from asmnet.model.checkpoint import file_sha256
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT, Predictor

    if model_id is not None and checkpoint is not None:
        raise ValueError("give a model id or a checkpoint, not both")
    models = ws.models()
    if model_id is not None:
        rec = next((m for m in models if m.id == int(model_id)), None)
        if rec is None:
            raise ValueError(f"no model version {model_id} in the workspace; registered: "
                             f"{[(m.id, m.name) for m in models]}")
        path = Path(rec.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint of model version {rec.id} ({rec.name}) not found")
        if file_sha256(path) != rec.sha256:
            raise ValueError(f"{path}: the file changed since model version {rec.id} was registered (sha256 differs)")
        return Predictor.from_checkpoint(path, device, backend="auto"), rec.id
    if checkpoint is None and models:
        rec = models[-1]
        return workspace_predictor(ws, model_id=rec.id, device=device)
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    predictor = Predictor.from_checkpoint(path, device, backend="auto")
    mid = ws.register_model(predictor.name, str(path.resolve()), predictor.sha256, dict(predictor.card))
    return predictor, mid


@dataclass
class NewFacesReport:
    """What ``prelabel_new_faces`` did.

    Attributes:
        model_id: the model version whose predictions were stored.
        predicted: faces that got a prediction.
        detected: pictures the face detector ran on.
        faces_added: further faces found on those pictures (added as faces 1, 2, ...).
        no_face: face ids of the pictures where no face was found (marked ``not_found``).
        skipped: (face id, reason) for faces that could not be predicted (unreadable file ...).
    """

    model_id: int
    predicted: int = 0
    detected: int = 0
    faces_added: int = 0
    no_face: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"pre-labelled {self.predicted} face(s); detector ran on {self.detected} picture(s): "
                f"{self.faces_added} further face(s) found, no face in {len(self.no_face)}; "
                f"skipped {len(self.skipped)}")


def prelabel_new_faces(ws: Workspace, predictor, model_id: int, *, image_ids: Iterable[int] | None = None,
                       batch_size: int = 16, workers: int = 2, detect: Callable | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       images: Mapping[int, np.ndarray] | None = None) -> NewFacesReport:
    """Pre-label every face (of ``image_ids``, default all) that has no prediction yet; see the module
    docstring. Faces marked ``not_found`` are left for a person (give them a box first).

    Args:
        detect: image (H, W, 3) uint8 -> (F, 4) landmark boxes, largest first (default: the bundled detector,
            ``asmnet.inference.prelabel.detected_faces``); ``lambda image: np.zeros((0, 4))`` detects nothing.
        progress: ``progress(done, total)`` over the faces to do, once with done = 0 and after each batch.
        images: face id -> its picture already decoded ((H, W, 3) uint8, ``asmnet_studio.datasets.images.load_image``),
            used instead of decoding the file again (an upload is decoded once).
    Returns:
        ``NewFacesReport``; each batch of predictions (and the faces it found) is stored as it comes.
    """
    from asmnet.inference.prelabel import prelabel_faces

    report = NewFacesReport(model_id=int(model_id))
    recs = ws.images() if image_ids is None else [ws.image(int(i)) for i in image_ids]
    todo = [r for r in recs if r.box_source != "not_found" and ws.latest_prediction(r.id) is None]
    boxes = [None if r.box is None else np.asarray(r.box, np.float32) for r in todo]
    # only a picture's only face searches the picture for further faces
    alone = [r.box is None and len(ws.faces_of(r.id)) == 1 for r in todo]
    if progress is not None and todo:
        progress(0, len(todo))

    def store(indices: list[int], faces: list[list]) -> None:
        rows = []
        for i, preds in zip(indices, faces):
            rec = todo[i]
            if preds and "error" in (getattr(preds[0], "extras", None) or {}):
                report.skipped.append((rec.id, str(preds[0].extras["error"])))
                continue
            if boxes[i] is None:
                report.detected += 1
                if not preds:
                    ws.set_box(rec.id, None, box_source="not_found")
                    report.no_face.append(rec.id)
                    continue
                first = preds[0].extras.get("first_box", preds[0].box)
                ws.set_box(rec.id, first, box_source="detector")
            ids = [rec.id]
            for p in preds[1:] if alone[i] else []:
                ids.append(ws.add_face(rec.id, p.extras.get("first_box", p.box), box_source="detector"))
                report.faces_added += 1
            rows += [prediction_row(fid, model_id, p) for fid, p in zip(ids, preds)]
        if rows:
            ws.save_predictions(rows)
        report.predicted += len(rows)

    images = images or {}
    prelabel_faces(predictor, [images.get(r.id, r.path) for r in todo], boxes, batch_size=batch_size, workers=workers,
                   progress=progress, on_batch=store, on_error="skip", detect=detect,
                   max_faces=None if any(alone) else 1)
    return report


def _box(ws: Workspace, image_id: int, rec) -> np.ndarray | None:
    if rec.box is not None:
        return np.asarray(rec.box, np.float32)
    prev = ws.latest_prediction(image_id)
    return None if prev is None or prev.box is None else np.asarray(prev.box, np.float32)


def repredict_workspace(ws: Workspace, predictor, model_id: int, *, only_not_done: bool = False,
                       image_ids: Iterable[int] | None = None, batch_size: int = 16, stiffness: float = 1.0,
                       workers: int = 2, progress: Callable[[int, int], None] | None = None) -> PrelabelReport:
    """Predict every chosen image with ``predictor`` and store the predictions under ``model_id``.

    Runs the one pre-label pipeline (``asmnet.inference.prelabel.prelabel_faces``) in each face's box (its stored box,
    else that of its latest prediction); a face with neither goes through the face detector as a new face
    does, and where none is found it is skipped (nothing is guessed).

    Args:
        only_not_done: skip finished images (done / reviewed).
        image_ids: only these images (default: every image of the workspace).
        stiffness: how fully the non-placed points follow the shape model around the placed ones (0..1).
        workers: decode / detect workers of the pipeline (0 = all in the calling thread).
        progress: ``progress(done, total)`` after each batch.
    Returns:
        ``PrelabelReport``.
    """
    from asmnet.inference.prelabel import NO_FACE, prelabel_faces

    recs = ws.images() if image_ids is None else [ws.image(int(i)) for i in image_ids]
    report = PrelabelReport(model_id=int(model_id))
    todo = []
    for rec in recs:
        latest, placed = user_placed_points(ws, rec.id)
        status = latest.status if latest is not None else "todo"
        if only_not_done and status in FINISHED:
            continue
        todo.append((rec, latest, placed if status not in FINISHED else placed[:0]))
    shape_model = getattr(predictor, "shape_model", None)
    k = predictor.schema.num_points

    def store(indices: list[int], faces: list[list]) -> None:
        rows = []
        for i, preds in zip(indices, faces):
            rec, latest, placed = todo[i]
            error = NO_FACE if not preds else (getattr(preds[0], "extras", None) or {}).get("error")
            if error is not None:
                report.skipped.append((rec.id, str(error)))
                continue
            p = preds[0]
            points = np.asarray(p.points, np.float32)
            conf = np.asarray(p.confidence, np.float32).copy()
            if len(placed) and latest is not None and latest.points.shape == (k, 2):
                points = pin_points(points, latest.points, placed, shape_model, weights=conf, stiffness=stiffness)
                conf[placed] = 1.0
                report.pinned_images += 1
                report.pinned_points += int(len(placed))
            rows.append(prediction_row(rec.id, model_id, p, points=points, confidence=conf))
            report.image_ids.append(rec.id)
        if rows:
            ws.save_predictions(rows)
        report.predicted += len(rows)

    prelabel_faces(predictor, [rec.path for rec, _, _ in todo], [_box(ws, rec.id, rec) for rec, _, _ in todo],
                   batch_size=batch_size, workers=workers, progress=progress, on_batch=store, on_error="skip",
                   max_faces=1)
    return report
