"""One plain function per UI event (``on_*``), plus the texts the page shows.

The functions take and return plain values (an :class:`asmnet_studio.annotator.editing.EditState`, numbers, strings,
DataFrames), so they can be called in tests without a browser; ``ui.py`` only wires them, binding the
:class:`asmnet_studio.annotator.session.Services` with :func:`bind`. The project's errors become ``gr.Error`` in exactly
one place, :func:`user_errors`, with messages that say what to do.
"""
from __future__ import annotations

import dataclasses
import functools
import html
import math
from typing import Callable

import gradio as gr
import numpy as np

from asmnet_studio.annotator import editing, editor, queue as queue_view
from asmnet_studio.annotator.messages import plain, toast_text
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.session import (NO_FACE_NOTICE, Services, add_uploads, autosave, ensure_prediction,  # noqa: F401
                               export_zip, face_step, load_state, prelabel_new_faces, save)
from asmnet_studio.datasets.errors import ConflictError, DataError
from asmnet_studio.datasets.images import load_image
from asmnet_studio.evaluation import plots

STATUS_LABELS = queue_view.STATUS_LABELS


def bind(fn: Callable, *args, **kwargs) -> Callable:
    """``fn`` with its first arguments (and some keywords) fixed, keeping the signature and type hints of
    the rest, so Gradio still sees ``gr.EventData`` / ``gr.Progress`` parameters (``functools.partial``
    hides them)."""
    import inspect

    sig = inspect.signature(fn)
    params = [p for p in list(sig.parameters.values())[len(args):] if p.name not in kwargs]

    @functools.wraps(fn)
    def bound(*a, **k):
        return fn(*args, *a, **kwargs, **k)

    bound.__signature__ = sig.replace(parameters=params)
    return bound


# ------------------------------------------------------------------------------------ error mapping
def user_errors(fn: Callable) -> Callable:
    """Turn the project's errors into ``gr.Error`` messages (the one place where this happens)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ConflictError as exc:
            by = f" by {toast_text(exc.author)}" if exc.author else " in another tab or by another person"
            opened = (f"after you opened version {exc.expected}" if exc.expected is not None
                      else "after you opened it (it had no saved version then)")
            raise gr.Error(
                f"Not saved: image {exc.image_id} was saved{by} (version {exc.actual}) {opened}. Nothing was "
                "overwritten. Your edits are still on screen; press 'Reload saved version' to see the other "
                "version.", title="Edit conflict", duration=None, print_exception=False) from None
        except (DataError, ValueError, KeyError) as exc:  # the user's to fix: a message, no server traceback
            msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            raise gr.Error(toast_text(msg), title=type(exc).__name__, print_exception=False) from None

    return wrapper


def render(svc: Services, state: EditState) -> str:
    """The editor's HTML for ``state``."""
    if state.image_id is None:
        return editor.render(image_url=None, width=640, height=480)
    caption = f"{state.name} · {state.width}×{state.height} px · points: {state.origin or ORIGINS['prediction']}"
    return editor.render(image_url=state.url, width=state.width, height=state.height, points=state.points,
                         visibility=state.visibility, touched=state.touched, selected=state.selected,
                         names=svc.schema.names, edges=svc.schema.edges, box=state.box, confidence=state.confidence,
                         image_id=state.image_id, caption=caption, status_html=readout_html(svc, state),
                         origin=state.origin or ORIGINS["prediction"])


def info_markdown(svc: Services, state: EditState, order: list[int] | None = None) -> str:
    """The image panel: name, queue position, status, saved version, the model's confidence and pose."""
    if state.image_id is None:
        return "No image open. Add images in the **Queue** tab."
    lines = []
    pos = ""
    if order and state.image_id in order:
        pos = f" · {order.index(state.image_id) + 1} of {len(order)} in the queue"
    lines.append(f"**{plain(state.name)}** (id {state.image_id}){pos}")
    if state.num_points == 0:
        lines.append(f"⚠ **{NO_FACE_NOTICE}**")
    hist = svc.store.history(state.image_id)
    status = STATUS_LABELS.get(state.status, state.status)
    if hist:
        last = hist[-1]
        lines.append(f"Status **{status}** · version {last.version} ({last.source.replace('_', ' ')}) saved by "
                     f"{plain(last.author)}, {last.created_at[:16].replace('T', ' ')} UTC · {len(hist)} version(s)")
    else:
        lines.append(f"Status **{status}** · not saved yet (showing the model's prediction)")
    pred = svc.store.latest_prediction(state.image_id)
    if pred is not None:
        conf = float(np.mean(pred.confidence)) if pred.confidence is not None else float("nan")
        unc = "–" if math.isnan(pred.uncertainty) else f"{pred.uncertainty:.3f}"
        lines.append(f"Model confidence {conf:.2f} (mean of points) · uncertainty {unc}")
    if state.pose is not None:
        y, p, r = state.pose
        lines.append(f"Head pose: yaw {y:+.0f}°, pitch {p:+.0f}°, roll {r:+.0f}°")
    return "  \n".join(lines)


def readout_html(svc: Services, state: EditState) -> str:
    """One line under the editor's toolbar: plausibility of the shape (Mahalanobis distance with a plain
    label), size of the correction, points placed by hand, and whether everything is saved."""
    if state.image_id is None or state.num_points == 0:
        return ""
    d, level = svc.shape_model.plausibility(state.points)
    level, sentence = editing.plausibility(float(d), level)
    saved = ('<span class="lm-dirty">● unsaved changes</span>' if state.dirty
             else '<span class="lm-clean">✓ saved</span>')
    t = getattr(svc.shape_model, "plausibility_thresholds", None)
    scale = (f"{t[0]:.1f} or less for 97 % of held-out ground-truth faces" if t is not None
             else f"about {math.sqrt(svc.dof):.0f} for a typical face")
    return (f'<span class="lm-level lm-{level}" title="Mahalanobis distance of the shape under the editor\'s '
            f'shape model: {scale}">Shape: {html.escape(sentence)}'
            f' (distance {d:.1f})</span> · correction {editing.correction_px(state):.1f} px from the model · '
            f'{len(state.touched)} placed by hand · {saved}')


def point_markdown(svc: Services, state: EditState) -> tuple[str, str | None]:
    """(text about the selected point, its visibility name) for the point panel."""
    i = state.selected
    if i is None or state.image_id is None:
        return "Click a point to select it, then set its visibility.", None
    x, y = state.points[i]
    vis = editing.VISIBILITY_NAMES[int(state.visibility[i])]
    origin = "placed by you" if i in state.touched else (state.origin or ORIGINS["prediction"])
    return (f"Point **#{i} {svc.schema.names[i]}** ({svc.schema.group_of(i).replace('_', ' ')}) at "
            f"x {x:.1f}, y {y:.1f} px · {origin}", vis)


# ----------------------------------------------------------------------------------------- queue
def queue_rows(svc: Services, filter_label: str, sort_label: str):
    """(display table, order of image ids, status counts line) of the queue."""
    q = svc.store.queue()
    v = queue_view.view(q, filter_label, sort_label)
    return queue_view.table(v), queue_view.order(v), queue_view.counts(q)


# =================================================================================== events (ui.py)
# Each ``on_*`` function is one event. ``svc`` is bound by ui.py; the rest are the event's inputs, and
# the return value matches the outputs listed next to it in ui.py.

#: outputs of every event that (re)opens a face, in this order
VIEW_OUTPUTS = ("editor", "state", "info", "point", "visibility", "x0", "y0", "x1", "y1")


#: annotation source -> what the editor calls the points it opened with
ORIGINS = {"prediction": "model prediction", "ground_truth": "imported ground truth", "correction": "saved version"}


def with_origin(svc: Services, state: EditState) -> EditState:
    """``state`` with ``origin`` looked up once: the model's prediction keeps the model's per-point confidence
    (red outlines, constraint weights); imported ground truth and saved versions have none."""
    if state.image_id is None or state.origin is not None:
        return state
    ann = svc.store.latest(state.image_id)
    origin = ORIGINS.get(ann.source, ann.source) if ann is not None else ORIGINS["prediction"]
    conf = state.confidence if origin == ORIGINS["prediction"] else None
    return dataclasses.replace(state, origin=origin, confidence=conf)


def view(svc: Services, state: EditState, order: list[int] | None) -> tuple:
    """Everything the Annotate tab shows for ``state`` (see ``VIEW_OUTPUTS``)."""
    state = with_origin(svc, state)
    point, vis = point_markdown(svc, state)
    box = state.box if state.box is not None else (None,) * 4
    return (render(svc, state), state, info_markdown(svc, state, order), point, vis, *[None if v is None else round(float(v), 1) for v in box])


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


@user_errors
def on_prelabel(svc: Services, progress=gr.Progress()):
    """Run the model on every image without a prediction. Outputs: message."""
    n = prelabel_new_faces(svc, lambda i, total: progress((i, total), desc="pre-labelling"))
    return f"Pre-labelled {n} image(s); every image now has a model prediction."


@user_errors
def on_upload(svc: Services, files, progress=gr.Progress()):
    """Images were uploaded: add and pre-label them. Outputs: message."""
    paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
    ids = add_uploads(svc, paths, lambda i, total: progress((i, total), desc="adding images"))
    return f"Added {len(ids)} image(s) (ids {', '.join(map(str, ids))}) with model predictions."


@user_errors
def on_evaluate(svc: Services, reference: str, normaliser: str):
    """Evaluate the model against the chosen reference.
    Outputs: summary, CED, failure rate, per-landmark NME, pose, gallery, worst ids."""
    from asmnet_studio.annotator import evaluation_view as ev

    source = ev.REFERENCES[queue_view.check_choice(reference, ev.REFERENCES, "reference")]
    pairs = ev.gather(svc.store, source)
    n_images = len(svc.store.images())
    if len(pairs.ids) == 0:
        what = "saved corrections: save a face in the Annotate tab" if source == "correction" else \
            "imported ground truth: start the app with --import DIR --format NAME"
        msg = f"Nothing to evaluate yet: no image has both a model prediction and {what}."
        e = ev.empty_figure(msg)
        return msg, e, e, e, e, [], []
    rep = ev.report(pairs, svc.schema, normaliser)
    gallery, ids = ev.worst_gallery(svc.store, rep, pairs)
    return (ev.summary_markdown(rep, reference, n_images), plots.ced_figure({"model vs " + reference: rep}),
            plots.failure_rate_figure({"model vs " + reference: rep}), plots.landmark_nme_figure(rep),
            ev.pose_figure(rep, pairs), gallery, ids)


@user_errors
def on_compare(svc: Services, model_a, model_b, reference: str, normaliser: str):
    """Compare two model versions on the same faces (those with a prediction from both and the chosen
    reference), and the correction effort over time. Outputs: message, CED, per-landmark NME, effort."""
    from asmnet_studio.annotator import evaluation_view as ev

    models = {m.id: m for m in svc.store.models()}
    effort = ev.effort_figure(svc.store)
    if len(models) < 2:
        msg = (f"Model comparison needs two registered model versions; this workspace has {len(models)}. "
               "Pre-label with another checkpoint to register a second one.")
        e = ev.empty_figure(msg)
        return msg, e, e, effort
    if model_a is None or model_b is None:
        raise ValueError("Choose two model versions to compare.")
    ids = []
    for what, value in (("first", model_a), ("second", model_b)):
        try:
            mid = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"The {what} model {value!r} is not a model id; choose one of the list.") from None
        if mid not in models:
            raise ValueError(f"No model #{mid} in this workspace; choose one of "
                             f"{', '.join('#%d' % i for i in models)}.")
        ids.append(mid)
    if ids[0] == ids[1]:
        raise ValueError("Choose two different model versions to compare.")
    source = ev.REFERENCES[queue_view.check_choice(reference, ev.REFERENCES, "reference")]
    pa, pb = ev.gather_models(svc.store, source, ids[0], ids[1])
    la, lb = (f"#{m.id} {m.name}" for m in (models[ids[0]], models[ids[1]]))
    if not pa.ids:
        msg = (f"Nothing to compare yet: no image has a prediction from both {la} and {lb} and {reference}.")
        e = ev.empty_figure(msg)
        return msg, e, e, effort
    ra, rb = ev.report(pa, svc.schema, normaliser), ev.report(pb, svc.schema, normaliser)
    ced, lm = ev.compare_figures(ra, rb, la, lb)

    def pct(v):
        return "–" if v is None else f"{v:.2f}%"
    msg = (f"**{len(pa.ids)} image(s)** have a prediction from both models and {reference}. "
           f"NME ({normaliser}): {la} **{pct(ra.summary['nme'])}** · {lb} **{pct(rb.summary['nme'])}**")
    return msg, ced, lm, effort


def on_compare_models(svc: Services, model_a=None, model_b=None):
    """Refresh the two model dropdowns' choices, keeping the chosen versions that still exist (default: the
    two newest). Outputs: model A, model B."""
    from asmnet_studio.annotator import evaluation_view as ev

    choices = ev.model_choices(svc.store)
    known = {c[1] for c in choices}
    a, b = (choices[-2][1], choices[-1][1]) if len(choices) >= 2 else (None, None)
    a = model_a if model_a in known else a
    b = model_b if model_b in known else b
    return gr.Dropdown(choices=choices, value=a), gr.Dropdown(choices=choices, value=b)


@user_errors
def on_gallery_select(svc: Services, state: EditState, worst_ids: list[int], order: list[int], evt: gr.SelectData):
    """A worst face was clicked: open it in the Annotate tab. Outputs: VIEW_OUTPUTS + tabs."""
    image_id = worst_ids[int(evt.index)] if worst_ids and evt.index is not None else None
    return (*on_open.__wrapped__(svc, state, image_id, order), gr.Tabs(selected="annotate"))


@user_errors
def on_export(svc: Services, format: str, statuses: list[str]):
    """Export as a zip. Outputs: file, message."""
    path, n = export_zip(svc, format, statuses)
    which = ", ".join(STATUS_LABELS.get(s, s) for s in statuses) if statuses else "any status"
    cli = (f"asmnet export {svc.store.path or 'WORKSPACE.db'} OUT_DIR --format {format}"
           + (f" --status {','.join(statuses)}" if statuses else ""))
    left = len(svc.store.images()) - len(svc.store.accepted())
    note = (f"  \n{left} image(s) have only the model's prediction (never saved, no imported ground truth) and "
            "are not exported." if left else "")
    return str(path), (f"Exported **{n} image(s)** ({which}) in **{format}** format: `{path.name}`.{note}  \n"
                       f"The same from a terminal: `{cli}`")
