"""Events of the Evaluate tab: the model against a reference, two model versions compared, and opening
one of the worst faces. Outputs as listed in ``ui.py``."""
from __future__ import annotations

import gradio as gr

from asmnet_studio.annotator import queue as queue_view
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.annotator.handlers.navigate import on_open
from asmnet_studio.annotator.handlers.wiring import user_errors
from asmnet_studio.annotator.session import Services
from asmnet_studio.evaluation import plots


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
