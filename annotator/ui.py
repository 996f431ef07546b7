"""``build_app(services) -> gr.Blocks``: the page's layout and its wiring, nothing else.

Every event calls one function of :mod:`asmnet_studio.annotator.handlers` (bound to the services with
``handlers.bind``). A drag updates only the editor (whose status line carries the plausibility
readout) and the state, outside the queue; other panels follow in chained ``.then()`` steps and charts
only when the Evaluate tab is opened or refreshed.
"""
from __future__ import annotations

import gradio as gr

from asmnet_studio.annotator import editing, editor, evaluation_view, handlers as h, queue as queue_view, session
from asmnet_studio.annotator.editing import EditState
from asmnet_studio.datasets.formats import format_names
from asmnet_studio.evaluation.metrics import NORMALISERS

#: page-level CSS (pass to ``launch(css=...)``; the editor's own CSS travels with its component)
CSS = """
.asm-header { margin-bottom: 0 !important; }
.asm-header p { color: var(--body-text-color-subdued); }
#btn-save, #btn-done { min-width: 0; }
.asm-small { font-size: 13px; }
footer { display: none !important; }
#worst-gallery .grid-container { --grid-cols: 6 !important; }  /* Gradio uses one column for a single item */
"""

STATUS_CHOICES = [(label, key) for key, label in queue_view.STATUS_LABELS.items()]


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch`` that the page needs: CSS, no SSR, the upload limit, and no
    run history (Gradio would otherwise copy every event's data into the browser's localStorage: a growing
    cost on every drag, and the workspace's data left in the browser)."""
    from asmnet_studio.annotator.security import app_kwargs  # nosniff + loopback-only Host (app.py adapts it to --host/--auth)

    return {"css": CSS, "ssr_mode": False, "max_file_size": "25mb", "footer_links": [], "run_history": False,
            "share": False, "app_kwargs": app_kwargs()}


def build_app(svc: session.Services, *, title: str = "ASMNet Studio") -> gr.Blocks:
    """The whole app for one workspace. ``svc`` holds the store, predictor and shape model."""
    ws_name = str(svc.store.path) if svc.store.path else "in-memory workspace"
    model_name = getattr(svc.predictor, "name", "model")
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        state = gr.State(EditState())
        order = gr.State([])
        worst_ids = gr.State([])
        leave_target = gr.State(None)
        remove_target = gr.State(None)
        gr.Markdown(f"## ASMNet Studio · 68-point facial landmarks\n"
                    f"Workspace `{ws_name}` · saving as **{svc.author}** · model `{model_name}`",
                    elem_classes="asm-header")
        with gr.Tabs(selected="annotate") as tabs:
            # ------------------------------------------------------------------ Annotate
            with gr.Tab("Annotate", id="annotate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=480):
                        with gr.Row():
                            prev_btn = gr.Button("◀ Previous  (P)", elem_id="btn-prev", size="sm")
                            next_btn = gr.Button("Next ▶  (N)", elem_id="btn-next", size="sm",
                                                 variant="primary")
                            goto = gr.Number(None, label="Go to # in the queue (G)", precision=0, minimum=1,
                                             elem_id="goto-number", min_width=80, scale=0)
                            face_btn = gr.Button("Next face in this picture", elem_id="btn-face", size="sm")
                        with gr.Group(visible=False, elem_id="leave-prompt") as leave_box:
                            gr.Markdown("**This face has unsaved changes.** Save them before moving on?",
                                        padding=True)
                            with gr.Row():
                                leave_save = gr.Button("Save and go", elem_id="btn-leave-save", size="sm",
                                                       variant="primary")
                                leave_discard = gr.Button("Discard and go", elem_id="btn-leave-discard", size="sm",
                                                          variant="stop")
                                leave_stay = gr.Button("Stay on this face", elem_id="btn-leave-stay", size="sm")
                        ed = editor.landmark_editor()
                        gr.Markdown("**Legend** · cyan: the points as opened: the model's prediction, or the "
                                    "imported ground truth / saved version (the line above the image says which; "
                                    "red outline: the model is unsure of its point, check it) · orange: points you "
                                    "placed (kept fixed when you move others) · "
                                    "hollow dashed: occluded · red fill: outside the image · dashed yellow box: the "
                                    "face box the model used (drag its corners to re-run the model).",
                                    elem_classes="asm-small")
                    with gr.Column(scale=1, min_width=320):
                        info = gr.Markdown()
                        with gr.Group():
                            stiffness = gr.Slider(0, 1, value=editing.DEFAULT_STIFFNESS, step=0.05,
                                                  label="Shape constraint",
                                                  info="After a drag, the other points follow it as the shape "
                                                       "model expects (points the model is unsure of more). "
                                                       "0 = free drag (only that point moves).")
                            mirror = gr.Checkbox(False, label="Mirror mode (M): the left/right partner moves "
                                                              "symmetrically", elem_id="chk-mirror")
                        with gr.Row():
                            undo_btn = gr.Button("↶ Undo", elem_id="btn-undo", size="sm", min_width=0)
                            redo_btn = gr.Button("↷ Redo", elem_id="btn-redo", size="sm", min_width=0)
                            reset_btn = gr.Button("Reset to model", elem_id="btn-reset", size="sm", min_width=0)
                        with gr.Group():
                            point = gr.Markdown(padding=True)
                            visibility = gr.Radio(["visible", "occluded", "outside"], label="Selected point is",
                                                  value=None, elem_id="radio-visibility")
                        with gr.Row():
                            save_btn = gr.Button("Save", elem_id="btn-save", variant="primary", size="sm", min_width=0)
                            done_btn = gr.Button("Mark done", elem_id="btn-done", size="sm", min_width=0)
                            reviewed_btn = gr.Button("Mark reviewed", elem_id="btn-reviewed", size="sm",
                                                     min_width=0)
                        reload_btn = gr.Button("Reload saved version (discard unsaved edits)",
                                               elem_id="btn-reload", size="sm", variant="secondary")
                        with gr.Accordion("Face box and model", open=False):
                            gr.Markdown("The model looks inside this box (pixels, the dashed yellow box). When the "
                                        "points are far off, drag its corners on the image, or type it here and "
                                        "re-run the model.", elem_classes="asm-small")
                            with gr.Row():
                                x0 = gr.Number(label="x0 (left)", precision=1, min_width=60)
                                y0 = gr.Number(label="y0 (top)", precision=1, min_width=60)
                            with gr.Row():
                                x1 = gr.Number(label="x1 (right)", precision=1, min_width=60)
                                y1 = gr.Number(label="y1 (bottom)", precision=1, min_width=60)
                            with gr.Row():
                                detect_btn = gr.Button("Detect face", size="sm", elem_id="btn-detect")
                                rerun_btn = gr.Button("Re-run model in box", size="sm", elem_id="btn-rerun")
                        with gr.Accordion("Keyboard shortcuts", open=False):
                            gr.Markdown(editor.shortcuts_markdown(), elem_classes="asm-small")
            # ------------------------------------------------------------------ Queue
            with gr.Tab("Queue", id="queue"):
                with gr.Row():
                    flt = gr.Dropdown(list(queue_view.FILTERS), value=queue_view.DEFAULT_FILTER, label="Show",
                                      elem_id="queue-filter")
                    srt = gr.Dropdown(list(queue_view.SORTS), value=queue_view.DEFAULT_SORT, label="Order",
                                      info="'Next' in the Annotate tab follows this order.", elem_id="queue-sort")
                    refresh_btn = gr.Button("Refresh", size="sm", scale=0)
                counts = gr.Markdown()
                table = gr.Dataframe(interactive=False, wrap=True, elem_id="queue-table", max_height=520,
                                     label="Click a row to open that face")
                with gr.Accordion("Remove an image from the workspace", open=False):
                    with gr.Row():
                        remove_id = gr.Number(None, label="id (the table's first column)", precision=0, minimum=1,
                                              elem_id="remove-id", scale=0, min_width=160)
                        remove_btn = gr.Button("Remove image from workspace…", size="sm", variant="stop",
                                               elem_id="btn-remove")
                    with gr.Group(visible=False, elem_id="remove-prompt") as remove_box:
                        remove_text = gr.Markdown(padding=True)
                        with gr.Row():
                            remove_yes = gr.Button("Yes, remove it", size="sm", variant="stop", elem_id="btn-remove-yes")
                            remove_no = gr.Button("Cancel", size="sm", elem_id="btn-remove-cancel")
                imported = h.offered_report(svc.import_report)  # app.py --import had something to report
                with gr.Accordion("Add images and pre-label", open=imported is not None):
                    uploads = gr.File(file_count="multiple", file_types=["image"], label="Add face images "
                                      "(max 25 MB each; copied into the workspace's image folder)",
                                      elem_id="add-images")
                    with gr.Row():
                        prelabel_btn = gr.Button("Pre-label every image without a prediction", size="sm")
                    add_msg = gr.Markdown()
                    upload_report = gr.File(None, visible=False, interactive=False, elem_id="upload-report",
                                            label="Files the last upload refused, each with its reason (CSV)")
                    gr.File(imported, visible=imported is not None, interactive=False, elem_id="import-report",
                            label="Start-up import (--import): every skipped entry, reader problem and flag (CSV)")
            # ------------------------------------------------------------------ Evaluate
            with gr.Tab("Evaluate", id="evaluate") as eval_tab:
                ref0, norm0 = evaluation_view.default_choices(svc.store, svc.schema)
                with gr.Row():
                    reference = gr.Radio(list(evaluation_view.REFERENCES), value=ref0, elem_id="eval-reference",
                                         label="Compare the model's predictions with")
                    normaliser = gr.Dropdown(list(NORMALISERS), value=norm0, label="NME normalised by",
                                             elem_id="eval-normaliser")
                    eval_btn = gr.Button("Refresh", size="sm", scale=0, elem_id="btn-evaluate")
                eval_summary = gr.Markdown()
                with gr.Row():
                    ced_plot = gr.Plot(label="CED", elem_id="plot-ced")
                    fr_plot = gr.Plot(label="Failure rate", elem_id="plot-fr")
                with gr.Row():
                    lm_plot = gr.Plot(label="Per-landmark NME", elem_id="plot-landmarks")
                    pose_plot = gr.Plot(label="Pose", elem_id="plot-pose")
                gallery = gr.Gallery(label="Worst faces (cyan: model, orange: reference) · click one to open it",
                                     columns=6, height="auto", object_fit="contain", allow_preview=False,
                                     elem_id="worst-gallery")
                with gr.Accordion("Compare model versions", open=False):
                    cmp_choices = evaluation_view.model_choices(svc.store)
                    gr.Markdown("Two model versions' predictions on the **same** faces (those with a prediction "
                                "from both and the reference chosen above), and how far each saved correction "
                                "moved the points from the prediction it started from." +
                                ("" if len(cmp_choices) >= 2 else
                                 f"  \n**This workspace has {len(cmp_choices)} registered model version(s); "
                                 "comparison needs two.**"), elem_classes="asm-small")
                    with gr.Row():
                        model_a = gr.Dropdown(cmp_choices, label="Model A",
                                              value=cmp_choices[-2][1] if len(cmp_choices) >= 2 else None,
                                              elem_id="compare-model-a")
                        model_b = gr.Dropdown(cmp_choices, label="Model B",
                                              value=cmp_choices[-1][1] if len(cmp_choices) >= 2 else None,
                                              elem_id="compare-model-b")
                        compare_btn = gr.Button("Compare", size="sm", scale=0, elem_id="btn-compare")
                    compare_msg = gr.Markdown()
                    with gr.Row():
                        cmp_ced_plot = gr.Plot(label="CED, both models", elem_id="plot-compare-ced")
                        cmp_lm_plot = gr.Plot(label="Per-landmark NME, both models", elem_id="plot-compare-landmarks")
                    effort_plot = gr.Plot(label="Correction effort over time", elem_id="plot-effort")
            # ------------------------------------------------------------------ Export
            with gr.Tab("Export", id="export"):
                gr.Markdown("Writes the refined dataset: for each image its latest correction (or its imported "
                            "ground truth when it has none), with its split.")
                with gr.Row():
                    fmt = gr.Dropdown(format_names(), value="pts" if "pts" in format_names() else None,
                                      label="Format", elem_id="export-format")
                    statuses = gr.CheckboxGroup(STATUS_CHOICES, value=[], label="Only images with status "
                                                "(none ticked = every image)", elem_id="export-status")
                export_btn = gr.Button("Export as zip", variant="primary", elem_id="btn-export")
                export_msg = gr.Markdown()
                export_file = gr.File(label="Download", elem_id="export-file", interactive=False)

        # ---------------------------------------------------------------------- wiring
        view_out = [ed, state, info, point, visibility, x0, y0, x1, y1]
        queue_out = [table, order, counts]
        edit_out = [ed, state]
        def after_edit(ev):
            return ev.then(h.bind(h.on_point_panel, svc), [state], [point, visibility], show_progress="hidden")

        demo.load(h.bind(h.on_load, svc), [flt, srt], view_out + queue_out)

        ed.drag_end(h.bind(h.on_drag, svc), [state, stiffness, mirror], edit_out,
                    show_progress="hidden", trigger_mode="always_last", queue=False)
        after_edit(ed.box_end(h.bind(h.on_box_end, svc), [state], edit_out + [x0, y0, x1, y1]))
        ed.select_point(h.bind(h.on_select_point, svc), [state], edit_out + [point, visibility],
                        show_progress="hidden")
        visibility.input(h.bind(h.on_visibility, svc), [state, visibility], edit_out, show_progress="hidden")
        for btn, action in ((undo_btn, "undo"), (redo_btn, "redo"), (reset_btn, "reset")):
            after_edit(btn.click(h.bind(h.on_edit, svc, action=action), [state], edit_out, show_progress="hidden"))

        refresh_queue = h.bind(h.on_queue, svc)
        for btn, status in ((save_btn, None), (reviewed_btn, "reviewed")):
            btn.click(h.bind(h.on_save, svc, status=status), [state, order], [ed, state, info]) \
                .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        done_btn.click(h.bind(h.on_done, svc), [state, order], view_out) \
            .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        leave_out = view_out + [leave_target, leave_box]
        for btn, action in ((leave_save, "save"), (leave_discard, "discard"), (leave_stay, "stay")):
            btn.click(h.bind(h.on_leave, svc, action=action), [state, order, leave_target], leave_out) \
                .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        goto.submit(h.bind(h.on_goto, svc), [state, order, goto], leave_out)
        reload_btn.click(h.bind(h.on_reload, svc), [state, order], view_out)
        for btn, delta in ((next_btn, 1), (prev_btn, -1)):
            btn.click(h.bind(h.on_step, svc, delta=delta), [state, order], leave_out) \
                .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        face_btn.click(h.bind(h.on_face_step, svc, delta=1), [state, order], view_out) \
            .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        after_edit(rerun_btn.click(h.bind(h.on_rerun, svc), [state, x0, y0, x1, y1], edit_out))
        detect_btn.click(h.bind(h.on_detect, svc), [state], [x0, y0, x1, y1])

        for ev in (flt.change, srt.change, refresh_btn.click):
            ev(refresh_queue, [flt, srt], queue_out)
        table.select(h.bind(h.on_queue_select, svc), [state, order], view_out + [tabs])
        uploads.upload(h.bind(h.on_upload, svc), [uploads], [add_msg]) \
            .then(h.bind(h.on_upload_report, svc), None, [upload_report], show_progress="hidden") \
            .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")
        remove_btn.click(h.bind(h.on_remove_ask, svc), [remove_id], [remove_target, remove_text, remove_box])
        for btn, action in ((remove_yes, "remove"), (remove_no, "cancel")):
            btn.click(h.bind(h.on_remove, svc, action=action), [state, remove_target, flt, srt],
                      view_out + queue_out + [remove_target, remove_box])
        prelabel_btn.click(h.bind(h.on_prelabel, svc), None, [add_msg]) \
            .then(refresh_queue, [flt, srt], queue_out, show_progress="hidden")

        eval_out = [eval_summary, ced_plot, fr_plot, lm_plot, pose_plot, gallery, worst_ids]
        for ev in (eval_tab.select, eval_btn.click, reference.change, normaliser.change):
            ev(h.bind(h.on_evaluate, svc), [reference, normaliser], eval_out)
        eval_tab.select(h.bind(h.on_compare_models, svc), [model_a, model_b], [model_a, model_b],
                        show_progress="hidden")
        compare_btn.click(h.bind(h.on_compare, svc), [model_a, model_b, reference, normaliser],
                          [compare_msg, cmp_ced_plot, cmp_lm_plot, effort_plot])
        gallery.select(h.bind(h.on_gallery_select, svc), [state, worst_ids, order], view_out + [tabs])

        export_btn.click(h.bind(h.on_export, svc), [fmt, statuses], [export_file, export_msg])
    return demo
