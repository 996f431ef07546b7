"""Events of the Annotate tab that change the open face: drag, select, visibility, undo / redo / reset,
save, reload, and running the model again in a new face box. Outputs as listed in ``ui.py``."""
from __future__ import annotations

import dataclasses

import gradio as gr
import numpy as np

from asmnet_studio.annotator import editing
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.handlers.view import STATUS_LABELS, info_markdown, point_markdown, render, view
from asmnet_studio.annotator.handlers.wiring import user_errors
from asmnet_studio.annotator.session import Services, ensure_prediction, load_state, save
from asmnet_studio.datasets.images import load_image


def on_drag(svc: Services, state: EditState, stiffness: float, mirror: bool, evt: gr.EventData):
    """A point was dropped: ``evt.index``, ``evt.x``, ``evt.y`` (image pixels). Outputs: editor, state.
    Kept lean (no store access, no charts) so the round trip stays short."""
    return _on_drag(svc, state, stiffness, mirror, int(evt.index), float(evt.x), float(evt.y))


@user_errors
def _on_drag(svc, state, stiffness, mirror, index, x, y):
    if state.image_id is None:
        return render(svc, state), state
    state = editing.move_point(state, index, x, y, shape_model=svc.shape_model, stiffness=float(stiffness or 0),
                               mirror_pairs=svc.schema.flip_pairs if mirror else None)
    return render(svc, state), state


@user_errors
def on_select_point(svc: Services, state: EditState, evt: gr.EventData):
    """A point was clicked (``evt.index``). Outputs: editor, state, point text, visibility."""
    if state.image_id is None:
        return render(svc, state), state, *point_markdown(svc, state)
    state = editing.select(state, int(evt.index))
    return render(svc, state), state, *point_markdown(svc, state)


@user_errors
def on_visibility(svc: Services, state: EditState, visibility: str | None):
    """The visibility radio changed: applies to the selected point. Outputs: editor, state."""
    if state.image_id is None or state.selected is None or visibility is None:
        return render(svc, state), state
    state = editing.set_visibility(state, state.selected, visibility)
    return render(svc, state), state


@user_errors
def on_edit(svc: Services, state: EditState, action: str):
    """Undo / redo / reset to the model's prediction. Outputs: editor, state."""
    if state.image_id is None:
        return render(svc, state), state
    fn = {"undo": editing.undo, "redo": editing.redo, "reset": editing.reset}[action]
    state = fn(state)
    return render(svc, state), state


def on_point_panel(svc: Services, state: EditState):
    """After undo / redo / reset (chained with .then): the selected point's text and visibility."""
    return point_markdown(svc, state)


@user_errors
def on_save(svc: Services, state: EditState, order: list[int], status: str | None = None):
    """Save (a new version; optionally with a new status). Outputs: editor, state, info."""
    if state.image_id is None:
        raise ValueError("no image is open")
    state = save(svc, state, status)
    label = STATUS_LABELS.get(state.status, state.status)
    gr.Info(f"Saved version {state.base_version} of {state.name} ({label}).")
    return render(svc, state), state, info_markdown(svc, state, order)


@user_errors
def on_reload(svc: Services, state: EditState, order: list[int]):
    """Discard unsaved edits and show the latest saved version. Outputs: VIEW_OUTPUTS."""
    if state.image_id is None:
        return view(svc, state, order)
    return view(svc, load_state(svc, state.image_id), order)


@user_errors
def on_rerun(svc: Services, state: EditState, x0, y0, x1, y1):
    """Run the model again in the box typed in the fields (undoable). Outputs: editor, state."""
    if state.image_id is None:
        raise ValueError("no image is open")
    box = np.array([x0, y0, x1, y1], dtype=np.float64)
    if not np.all(np.isfinite(box)) or box[2] - box[0] < 8 or box[3] - box[1] < 8:
        raise ValueError("the face box needs x0 < x1 and y0 < y1 (at least 8 px apart), in image pixels")
    box = np.clip(box, [0, 0, 0, 0], [state.width - 1, state.height - 1] * 2).astype(np.float32)
    pred = ensure_prediction(svc, state.image_id, box=box, force=True)
    if state.num_points == 0:  # no face was found: the person's box gives the face its first points
        new = load_state(svc, state.image_id)
        return render(svc, new), new
    new = editing.replace_points(state, pred.points)
    new = dataclasses.replace(new, box=tuple(float(v) for v in pred.box) if pred.box is not None else tuple(box),
                              pose=None if pred.pose is None else tuple(float(v) for v in pred.pose),
                              confidence=None if pred.confidence is None else tuple(float(v) for v in pred.confidence))
    gr.Info("The model ran again in the new box; 'Undo' brings the previous points back.")
    return render(svc, new), new


def on_box_end(svc: Services, state: EditState, evt: gr.EventData):
    """A corner of the face box was dragged: run the model in the new box (undoable).
    Outputs: editor, state, x0, y0, x1, y1."""
    box = [round(float(getattr(evt, k)), 1) for k in ("x0", "y0", "x1", "y1")]
    html_, new = on_rerun(svc, state, *box)
    return (html_, new, *[round(float(v), 1) for v in (new.box or box)])


@user_errors
def on_detect(svc: Services, state: EditState):
    """Detect the face again and fill the box fields. Outputs: x0, y0, x1, y1."""
    if state.image_id is None:
        raise ValueError("no image is open")
    if svc.detect is None:
        raise ValueError("no face detector is available; type the box by hand")
    faces = np.asarray(svc.detect(load_image(svc.store.image_path(state.image_id))), np.float32).reshape(-1, 4)
    if not len(faces):
        raise ValueError("no face found in this image: type the face box by hand")
    return tuple(round(float(v), 1) for v in faces[0])
