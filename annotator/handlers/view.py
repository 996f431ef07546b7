"""What the Annotate tab shows for one face: the editor's HTML, the image panel, the point panel and the
readout line; :func:`view` returns them all in the order of ``VIEW_OUTPUTS``."""
from __future__ import annotations

import dataclasses
import html
import math

import numpy as np

from asmnet_studio.annotator import editing, editor, queue as queue_view
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.messages import plain
from asmnet_studio.annotator.session import NO_FACE_NOTICE, Services

STATUS_LABELS = queue_view.STATUS_LABELS

#: outputs of every event that (re)opens a face, in this order
VIEW_OUTPUTS = ("editor", "state", "info", "point", "visibility", "x0", "y0", "x1", "y1")


#: annotation source -> what the editor calls the points it opened with
ORIGINS = {"prediction": "model prediction", "ground_truth": "imported ground truth", "correction": "saved version"}


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

