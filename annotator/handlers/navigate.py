"""Events of the Queue tab and of moving between faces: page load, open, next / previous / go to, the
"unsaved changes" question, done, filter and order, removing a picture. Outputs as listed in ``ui.py``."""
from __future__ import annotations

import gradio as gr

from asmnet_studio.annotator import queue as queue_view
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.handlers.view import view
from asmnet_studio.annotator.handlers.wiring import user_errors
from asmnet_studio.annotator.messages import plain, toast_text
from asmnet_studio.annotator.session import Services, autosave, face_step, load_state, save
from asmnet_studio.datasets.errors import DataError


def queue_rows(svc: Services, filter_label: str, sort_label: str):
    """(display table, order of image ids, status counts line) of the queue."""
    q = queue_view.with_file_presence(svc.store.queue())
    v = queue_view.view(q, filter_label, sort_label)
    return queue_view.table(v), queue_view.order(v), queue_view.counts(q)



@user_errors
def on_load(svc: Services, filter_label: str, sort_label: str):
    """Page load: the queue, and the first face of it open in the editor.
    Outputs: VIEW_OUTPUTS + (queue table, order, counts)."""
    table, order, counts = queue_rows(svc, filter_label, sort_label)
    state = EditState()
    if order:
        try:
            state = load_state(svc, order[0])
        except DataError as exc:  # e.g. its image file is gone: the page still opens, the queue says which
            gr.Warning(toast_text(f"{exc}. The queue marks the faces whose image file is missing: remove them "
                                  "there (or with `asmnet remove`), or open another face."))
    return (*view(svc, state, order), table, order, counts)


@user_errors
def on_open(svc: Services, state: EditState, image_id: int | None, order: list[int]):
    """Open ``image_id`` after saving unsaved edits of the current face. Outputs: VIEW_OUTPUTS."""
    if image_id is None:
        return view(svc, state, order)
    autosave(svc, state)
    return view(svc, load_state(svc, int(image_id)), order)


@user_errors
def on_face_step(svc: Services, state: EditState, order: list[int], delta: int):
    """Next (+1) / previous (-1) face of the same picture, saving unsaved edits first. Outputs: VIEW_OUTPUTS."""
    if state.image_id is None:
        raise ValueError("no image is open")
    target = face_step(svc, state.image_id, delta)
    if target == state.image_id:
        gr.Info("This picture has one face.")
        return view(svc, state, order)
    if state.dirty:
        state = save(svc, state)
    return view(svc, load_state(svc, target), order)


@user_errors
def on_step(svc: Services, state: EditState, order: list[int], delta: int):
    """Next (+1) / previous (-1) face in the queue order shown. With unsaved edits nothing moves yet: the
    page asks to save, discard or stay (``on_leave``). Outputs: VIEW_OUTPUTS + (leave target, leave prompt)."""
    target = queue_view.step(order, state.image_id, delta)
    if target is None:
        gr.Info("The queue is empty with this filter: change the filter in the Queue tab.")
        return (*view(svc, state, order), None, gr.Group(visible=False))
    if state.dirty and target != state.image_id:
        return (*view(svc, state, order), {"target": int(target), "delta": int(delta)}, gr.Group(visible=True))
    return (*_go(svc, state, order, target, delta), None, gr.Group(visible=False))


def _go(svc: Services, state: EditState, order: list[int], target: int, delta: int) -> tuple:
    """VIEW_OUTPUTS of ``target``, saying so when the step wrapped around the end of the queue."""
    if order and state.image_id in order and target in order:
        i, j = order.index(state.image_id), order.index(target)
        if delta > 0 and j < i:
            gr.Info("That was the last face in this order: back to the first one.")
        elif delta < 0 and j > i:
            gr.Info("That was the first face in this order: on to the last one.")
    return view(svc, load_state(svc, target), order)


@user_errors
def on_leave(svc: Services, state: EditState, order: list[int], pending: dict | None, action: str):
    """The answer to "unsaved changes": ``save`` (then move on), ``discard`` (move on without saving) or
    ``stay``. Outputs: VIEW_OUTPUTS + (leave target, leave prompt)."""
    if action not in ("save", "discard", "stay"):
        raise ValueError(f"unknown answer {action!r}; choose save, discard or stay")
    if action == "stay" or not pending or state.image_id is None:
        return (*view(svc, state, order), None, gr.Group(visible=False))
    if action == "save" and state.dirty:
        state = save(svc, state)
        gr.Info(f"Saved version {state.base_version} of {state.name}.")
    return (*_go(svc, state, order, int(pending["target"]), int(pending.get("delta", 1))), None,
            gr.Group(visible=False))


@user_errors
def on_goto(svc: Services, state: EditState, order: list[int], number):
    """Go to face number ``number`` (1-based) of the queue order shown (G); asks first when there are
    unsaved changes. Outputs: VIEW_OUTPUTS + (leave target, leave prompt)."""
    if not order:
        raise ValueError("the queue is empty with this filter: change the filter in the Queue tab")
    try:
        n = int(number)
    except (TypeError, ValueError):
        raise ValueError(f"type a face number from 1 to {len(order)}") from None
    if not 1 <= n <= len(order):
        raise ValueError(f"there is no face #{n} in this order: type a number from 1 to {len(order)}")
    target = int(order[n - 1])
    if state.dirty and target != state.image_id:
        return (*view(svc, state, order), {"target": target, "delta": 0}, gr.Group(visible=True))
    return (*view(svc, load_state(svc, target), order), None, gr.Group(visible=False))


@user_errors
def on_done(svc: Services, state: EditState, order: list[int]):
    """Save as done and open the next face of the queue (D). Outputs: VIEW_OUTPUTS."""
    if state.image_id is None:
        raise ValueError("no image is open")
    state = save(svc, state, "done")
    gr.Info(f"Saved version {state.base_version} of {state.name}: marked done.")
    target = queue_view.step(order, state.image_id, 1)
    if target is None or target == state.image_id:
        return view(svc, state, order)
    return _go(svc, state, order, target, 1)

@user_errors
def on_queue(svc: Services, filter_label: str, sort_label: str):
    """Filter / order changed or refresh. Outputs: queue table, order, counts."""
    return queue_rows(svc, filter_label, sort_label)


@user_errors
def on_remove_ask(svc: Services, face_id):
    """"Remove image from workspace…" was pressed for the queue id ``face_id``: ask first, saying what goes.
    Outputs: (remove target, confirmation text, confirmation group)."""
    try:
        faces = svc.store.faces_of(int(face_id))
    except (TypeError, ValueError):
        raise ValueError("type the id of a face (the queue's id column) to remove its picture") from None
    versions = sum(len(svc.store.history(f.id)) for f in faces)
    name = plain(faces[0].name or faces[0].path.name)
    gone = "" if faces[0].path.is_file() else " Its image file is missing."
    text = (f"**Remove {name}** ({len(faces)} face(s), {versions} saved version(s)) from the workspace?{gone} "
            "Its rows are archived in the workspace (removed_images); the image file is not deleted.")
    return int(face_id), text, gr.Group(visible=True)


@user_errors
def on_remove(svc: Services, state: EditState, target, filter_label: str, sort_label: str, action: str):
    """The answer to the removal question: ``remove`` the picture of face ``target`` (``Workspace.remove_images``)
    or ``cancel``. Outputs: VIEW_OUTPUTS + (queue table, order, counts) + (remove target, confirmation group)."""
    if action not in ("remove", "cancel"):
        raise ValueError(f"unknown answer {action!r}; choose remove or cancel")
    if action == "remove" and target is not None:
        gone = {f.id for f in svc.store.faces_of(int(target))}
        (removed,) = svc.store.remove_images([int(target)])
        gr.Info(toast_text(f"Removed {removed.name} ({removed.faces} face(s)) from the workspace."))
        if state.image_id in gone:
            state = EditState()
    table, order, counts = queue_rows(svc, filter_label, sort_label)
    return (*view(svc, state, order), table, order, counts, None, gr.Group(visible=False))


@user_errors
def on_queue_select(svc: Services, state: EditState, order: list[int], evt: gr.SelectData):
    """A queue row was clicked: open that face in the Annotate tab. Outputs: VIEW_OUTPUTS + tabs."""
    row = evt.row_value
    image_id = int(row[0]) if row else None
    return (*on_open.__wrapped__(svc, state, image_id, order), gr.Tabs(selected="annotate"))
