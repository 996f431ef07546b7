"""The work on one workspace behind the page: pre-labelling, opening a face for editing, saving
versions, uploads and export. Plain functions over a :class:`Services` bundle (store, predictor, shape
model, author), bound once by ``ui.build_app`` and never put into ``gr.State``.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np

from asmnet_studio.annotator import editing
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.queue import STATUS_LABELS
from asmnet_studio.datasets.errors import DataError
from asmnet_studio.datasets.images import load_image
from asmnet_studio.datasets.schemas import LandmarkSchema, get_schema
from asmnet_studio.datasets.store import PredictionRow, Workspace


# ------------------------------------------------------------------------------------------ services
@dataclass
class Services:
    """What the handlers work with (bound once by ``build_app``; never stored in ``gr.State``).

    Attributes:
        store: the workspace.
        predictor: ``asmnet.inference.predictor.Predictor``-like: ``predict(image, box) -> Prediction``, ``name``,
            ``sha256``, ``card``.
        shape_model: ``asmnet.model.asm.ShapeModel`` (``constrain``, ``mahalanobis``).
        author: the name saved with every annotation.
        detect: image (H, W, 3) uint8 -> (F, 4) face boxes, largest first; None = no detector.
        upload_dir: where uploaded images are copied (the store references files, it does not copy them).
        schema: the landmark schema of the predictor.
        checkpoint: path of the predictor's checkpoint (for the model registry).
        display_dir: where the copies the browser is sent are cached (``asmnet_studio.annotator.display``; default:
            ``<workspace stem>-display`` beside the workspace file, a temporary folder for an in-memory one).
        import_report: the full report (CSV) of the start-up import (``app.py --import``), None when it had
            nothing to report; the page offers it for download.
        upload_report: the full list (CSV) of the files the last upload refused, None when it refused none;
            the page offers it for download (``add_uploads``).
    """

    store: Workspace
    predictor: Any
    shape_model: Any
    author: str = "annotator"
    detect: Callable[[np.ndarray], np.ndarray] | None = None
    upload_dir: Path | None = None
    schema: LandmarkSchema = field(default_factory=lambda: get_schema("ibug68"))
    checkpoint: str = ""
    display_dir: Path | None = None
    import_report: Path | None = None
    upload_report: Path | None = None
    _model_id: int | None = field(default=None, init=False, repr=False)
    _served: set = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def model_id(self) -> int:
        """The predictor's id in the workspace's model registry (registered on first use)."""
        if self._model_id is None:
            p = self.predictor
            card = getattr(p, "card", {}) or {}
            self._model_id = self.store.register_model(str(getattr(p, "name", "model")), self.checkpoint,
                                                       str(getattr(p, "sha256", "unknown")), dict(card))
        return self._model_id

    @property
    def dof(self) -> int:
        """Degrees of freedom of the shape model's squared Mahalanobis distance (see editing.plausibility)."""
        m = self.shape_model
        if getattr(m, "residual_variance", 0) > 0:
            return 2 * int(m.num_points) - 4
        return int(getattr(m, "num_components", 2 * m.mean.shape[0] - 4))

    def url(self, path: Path, pixels: np.ndarray | None = None) -> str:
        """The page's URL for an image file: that of its display copy (``asmnet_studio.annotator.display``: the stored
        pixel grid re-encoded as PNG/JPEG without EXIF orientation or any metadata, so the browser draws
        exactly the pixels the points refer to, and never gets a file that is not an image). Only that one
        copy is registered as static. ``pixels``: the decoded image when the caller has it already."""
        from asmnet_studio.annotator.display import display_copy

        copy = display_copy(path, self._display_folder(), pixels).resolve()
        with self._lock:
            if copy not in self._served:
                gr.set_static_paths([copy])
                self._served.add(copy)
        return "/gradio_api/file=" + urllib.parse.quote(str(copy))

    def _display_folder(self) -> Path:
        with self._lock:
            if self.display_dir is None:
                ws = getattr(self.store, "path", None)
                if ws:
                    self.display_dir = Path(ws).parent / f"{Path(ws).stem}-display"
                else:
                    import atexit

                    from asmnet_studio.annotator.display import remove_folder

                    self.display_dir = Path(tempfile.mkdtemp(prefix="asmnet-display-"))
                    atexit.register(remove_folder, self.display_dir)
            return Path(self.display_dir)


# ------------------------------------------------------------------------------------ pre-labelling
#: what the page says about a face where the detector found none (the queue and the editor show it)
NO_FACE_NOTICE = ("No face found in this picture. Draw a box around the face (type x0, y0, x1, y1 under "
                  "'Face box' and press 'Re-run in box'), and the model will place the points.")


def _detector(svc: Services):
    """The detector for pre-labelling: ``svc.detect`` (landmark boxes, largest first), else one that finds
    nothing (a face without a box then waits for a person)."""
    if svc.detect is not None:
        return svc.detect
    return lambda image: np.zeros((0, 4), np.float32)


def ensure_prediction(svc: Services, image_id: int, *, box=None, force: bool = False,
                      pixels: np.ndarray | None = None) -> PredictionRow | None:
    """The latest prediction of a face, running the model first when there is none (or ``force``).

    ``box`` given: a person's face box; it is stored as the face's box (source "hand") and the model runs
    in it. Otherwise the face's stored box is used, else the detector looks for the picture's faces
    (``asmnet.inference.workspace_prelabel.prelabel_new_faces``, which adds the further faces it finds). Returns None
    when there is no box and no face was found (the face is then marked "not_found": ask for a box).
    ``pixels``: the picture already decoded (``load_image``), so it is not decoded again.
    """
    from asmnet.inference import workspace_prelabel

    latest = svc.store.latest_prediction(image_id)
    if latest is not None and not force:
        return latest
    rec = svc.store.image(image_id)
    if box is not None:
        box = np.asarray(box, np.float32)
        svc.store.set_box(image_id, box, box_source="hand")
    elif force:  # again in the face's box, else in the box of its last prediction
        box = rec.box if rec.box is not None else None if latest is None else latest.box
    if box is not None:
        image = load_image(rec.path) if pixels is None else pixels
        row = workspace_prelabel.prediction_row(image_id, svc.model_id, svc.predictor.predict(image, box))
        svc.store.save_predictions([row])
        return svc.store.latest_prediction(image_id) or row
    workspace_prelabel.prelabel_new_faces(svc.store, svc.predictor, svc.model_id, image_ids=[image_id], workers=0,
                                          detect=_detector(svc), images=None if pixels is None else {image_id: pixels})
    return svc.store.latest_prediction(image_id)


def prelabel_new_faces(svc: Services, progress: Callable[[int, int], None] | None = None, *,
                       batch_size: int = 16) -> int:
    """Run the model on every face that has no prediction yet
    (``asmnet.inference.workspace_prelabel.prelabel_new_faces``, the one pre-label pipeline with the store as its sink),
    in batches, each batch stored in one transaction; returns how many faces got a prediction. A picture whose face has
    no box goes through the detector first (every face found is added; none found: the face is marked "not_found" and
    waits for a box). ``progress(done, total)`` once before the first batch (done = 0, so a progress bar's clock starts
    with the work) and after each batch."""
    from asmnet.inference import workspace_prelabel

    report = workspace_prelabel.prelabel_new_faces(svc.store, svc.predictor, svc.model_id, batch_size=batch_size,
                                                   detect=_detector(svc), progress=progress)
    return report.predicted


# ------------------------------------------------------------------------------------ opening a face
def _contains(box, points: np.ndarray) -> bool:
    """Whether the centre of the points' box lies inside ``box`` and the two boxes are of a similar size."""
    if box is None or len(points) == 0:
        return False
    b = np.asarray(box, np.float64)
    lo, hi = points.min(axis=0), points.max(axis=0)
    c = (lo + hi) / 2
    side, pside = max(b[2] - b[0], b[3] - b[1]), max(*(hi - lo), 1e-6)
    return bool(b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3] and 0.5 <= side / pside <= 2.0)


def load_state(svc: Services, image_id: int) -> EditState:
    """A fresh edit state for ``image_id``: its latest saved version, or the model's prediction; no points
    when no face was found (``NO_FACE_NOTICE``). The face box shown (and zoomed to) always surrounds the
    points shown."""
    image_id = int(image_id)
    rec = svc.store.image(image_id)
    pred = ensure_prediction(svc, image_id)
    ann = svc.store.latest(image_id)
    base = dict(name=rec.name or rec.path.name, url=svc.url(rec.path), width=int(rec.width), height=int(rec.height))
    if rec.face > 0 or len(svc.store.faces_of(image_id)) > 1:
        base["name"] = f"{base['name']} · face {rec.face + 1} of {len(svc.store.faces_of(image_id))}"
    if pred is None and ann is None:
        return dataclasses.replace(editing.start(image_id, np.zeros((0, 2), np.float32)), **base, box=None)
    if ann is not None and (pred is None or ann.points.shape == pred.points.shape):
        touched = np.flatnonzero(ann.placed).tolist()
        state = editing.start(image_id, ann.points, predicted=ann.points if pred is None else pred.points,
                              visibility=ann.visibility, base_version=ann.version, status=ann.status,
                              touched=touched)
        pose = ann.pose if ann.pose is not None or pred is None else pred.pose
    else:
        state = editing.start(image_id, pred.points, predicted=pred.points,
                              base_version=None if ann is None else ann.version,
                              status="todo" if ann is None else ann.status)
        pose = pred.pose
    box = pred.box if pred is not None and pred.box is not None else rec.box
    if not _contains(box, state.points):  # never zoom on a box the points shown are not in
        from asmnet.inference.crop import landmark_box

        box = landmark_box(state.points)
    conf = None if pred is None or pred.confidence is None else tuple(float(v) for v in pred.confidence)
    return dataclasses.replace(
        state, **base, box=None if box is None else tuple(float(v) for v in box),
        pose=None if pose is None else tuple(float(v) for v in pose), confidence=conf)


def face_step(svc: Services, image_id: int, delta: int) -> int:
    """The id of the face ``delta`` places after face ``image_id`` among the faces of its picture (wrapping;
    itself when the picture has one face)."""
    ids = [f.id for f in svc.store.faces_of(int(image_id))]
    return ids[(ids.index(int(image_id)) + delta) % len(ids)]


# ----------------------------------------------------------------------------------------- saving
def save(svc: Services, state: EditState, status: str | None = None) -> EditState:
    """Save the current points as a new version (a correction) and return the clean state.

    ``status`` None keeps the state's status, moving "to do" to "in progress".
    Raises ConflictError when someone saved this image after it was opened (nothing is written).
    """
    if state.image_id is None:
        raise ValueError("no image is open")
    if status is None:
        status = "in_progress" if state.status == "todo" else state.status
    # the pose label is the ground truth's (dragging points does not turn the head); the pose shown in the
    # editor may be the model's estimate, which must never become a label that fine-tuning trains on
    gt = svc.store.latest(state.image_id, source="ground_truth")
    pose = None if gt is None else gt.pose
    ann = svc.store.save_annotation(state.image_id, state.points, author=svc.author,
                                    base_version=state.base_version, source="correction", status=status,
                                    visibility=state.visibility, pose=pose,
                                    pose_source="none" if pose is None else "ground_truth",
                                    schema=svc.schema.name, placed=list(state.touched))
    return editing.saved(state, ann.version, ann.status)


def autosave(svc: Services, state: EditState) -> EditState:
    """Save when there are unsaved edits (before moving to another image); otherwise unchanged."""
    if state.image_id is not None and state.dirty:
        return save(svc, state)
    return state


# ----------------------------------------------------------------------------------------- uploads
def add_uploads(svc: Services, files: list[str], progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Copy uploaded image files into ``svc.upload_dir``, add them and pre-label them (every face found);
    returns the ids of their first faces."""
    if not files:
        raise ValueError("choose one or more image files to add")
    if svc.upload_dir is None:
        raise ValueError("this workspace has no folder for uploaded images")
    svc.upload_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    refused: list[tuple[str, str]] = []
    svc.upload_report = None
    for n, f in enumerate(files, start=1):  # one bad file is reported; the others are still added
        src = Path(f)
        try:
            ids.append(_add_upload(svc, src))
        except (DataError, ValueError, OSError) as exc:
            refused.append((src.name, str(getattr(exc, "reason", None) or exc)))
        finally:
            _drop_upload_temp(src)
        if progress is not None:
            progress(n, len(files))
    if refused:
        from asmnet_studio.annotator.messages import toast_text

        svc.upload_report = write_upload_report(svc, refused)
        listed = "; ".join(f"{name}: {why}" for name, why in refused[:20])
        more = f"; ... {len(refused) - 20} more in {svc.upload_report.name}" if len(refused) > 20 else ""
        if not ids:
            raise ValueError(f"no image added: {listed}{more}")
        gr.Warning(toast_text(f"{len(refused)} file(s) not added: {listed}{more}"))
    return ids


def write_upload_report(svc: Services, refused: list[tuple[str, str]]) -> Path:
    """Write every refused upload, (file name, reason), as rows of the problem report
    (``asmnet_studio.datasets.sample.write_report_csv``, kind "refused upload") to ``<workspace stem>-upload-report.csv``
    beside the upload folder; returns its path."""
    from asmnet_studio.datasets.sample import write_report_csv

    stem = Path(svc.store.path).stem if getattr(svc.store, "path", None) else "workspace"
    path = Path(svc.upload_dir).parent / f"{stem}-upload-report.csv"
    write_report_csv(path, (("refused upload", name, "", "", why) for name, why in refused))
    return path


def _add_upload(svc: Services, src: Path) -> int:
    """Add one uploaded file (issue 17): only image file names; decoded (and so checked: corrupt, too large)
    before anything is copied; a copy the store refuses is removed again. Returns its first face's id."""
    from asmnet_studio.datasets.images import IMAGE_SUFFIXES

    if src.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"not an image file name (accepted: {' '.join(IMAGE_SUFFIXES)})")
    pixels = load_image(src)
    dst = svc.upload_dir / src.name
    k = 1
    while dst.exists() and not _same_file(src, dst):
        dst = svc.upload_dir / f"{src.stem}-{k}{src.suffix}"
        k += 1
    created = not dst.exists()
    if created:
        shutil.copyfile(src, dst)
    try:
        image_id = svc.store.add_image(dst, dataset="uploads", pixels=pixels)
    except BaseException:
        if created:
            dst.unlink(missing_ok=True)
        raise
    ensure_prediction(svc, image_id, pixels=pixels)  # the pre-label and the display copy from the one decode
    svc.url(dst, pixels)
    return image_id


def _drop_upload_temp(src: Path) -> None:
    """Delete an uploaded file from Gradio's upload folder once it has been handled (copied or refused)."""
    import os

    base = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    try:
        if base in src.resolve().parents:
            src.unlink(missing_ok=True)
    except OSError:
        pass


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


# ----------------------------------------------------------------------------------------- export
def export_zip(svc: Services, format: str, statuses: list[str] | None) -> tuple[Path, int]:
    """Export the accepted annotations (``Workspace.export_dataset``) and zip them; (zip path, images)."""
    statuses = list(statuses or []) or None
    n = len(svc.store.accepted(statuses=statuses))
    if n == 0:
        which = ", ".join(STATUS_LABELS.get(s, s) for s in statuses) if statuses else "any status"
        raise ValueError(f"nothing to export: no image with an accepted annotation of status {which}")
    for old in _EXPORTS[:]:  # the previous export was handed to the browser already
        shutil.rmtree(old, ignore_errors=True)
        _EXPORTS.remove(old)
    gone = [r.name for r in svc.store.missing_files(statuses=statuses)]
    if gone:  # left out of the export (``Workspace.export_dataset``), said here
        from asmnet_studio.annotator.messages import toast_text

        gr.Warning(toast_text(f"{len(gone)} image(s) not exported, their file is missing (remove them in the Queue "
                              f"tab): {', '.join(gone[:10])}{' ...' if len(gone) > 10 else ''}"))
        n -= len(gone)
    tmp = Path(tempfile.mkdtemp(prefix="asmnet-export-"))
    try:
        out = tmp / f"asmnet-export-{format}"
        svc.store.export_dataset(out, format, statuses=statuses)
        archive = shutil.make_archive(str(out), "zip", root_dir=out)
        shutil.rmtree(out, ignore_errors=True)  # only the zip stays, until the next export or exit
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _EXPORTS.append(tmp)
    return Path(archive), n


#: export folders of this process still holding a zip for the browser (removed at the next export and at exit)
_EXPORTS: list[Path] = []


def _remove_exports() -> None:
    for d in _EXPORTS:
        shutil.rmtree(d, ignore_errors=True)


import atexit  # noqa: E402

atexit.register(_remove_exports)
