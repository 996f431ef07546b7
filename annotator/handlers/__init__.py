"""One plain function per UI event (``on_*``), one module per part of the page.

The functions take and return plain values (an :class:`asmnet_studio.annotator.editing.EditState`, numbers, strings,
DataFrames), so they can be called in tests without a browser; ``ui.py`` only wires them, binding the
:class:`asmnet_studio.annotator.session.Services` with :func:`bind`. The project's errors become ``gr.Error`` in exactly
one place, :func:`user_errors`.

* :mod:`.wiring` — :func:`bind`, :func:`user_errors`
* :mod:`.view` — what the Annotate tab shows for one face (``view``, ``VIEW_OUTPUTS``, the panels' texts)
* :mod:`.navigate` — the Queue tab and moving between faces (load, open, next, go to, done, remove)
* :mod:`.edit` — changing the open face (drag, select, visibility, undo, save, reload, re-run in a box)
* :mod:`.files` — upload (and its report), pre-label, export
* :mod:`.evaluate` — the Evaluate tab

This package's namespace lists every event, so ``ui.py`` and the tests reach them as ``handlers.on_*``.
"""
from asmnet_studio.annotator.handlers.edit import (on_box_end, on_detect, on_drag, on_edit, on_point_panel,
                                                   on_reload, on_rerun, on_save, on_select_point, on_visibility)
from asmnet_studio.annotator.handlers.evaluate import on_compare, on_compare_models, on_evaluate, on_gallery_select
from asmnet_studio.annotator.handlers.files import on_export, on_prelabel, on_upload, offered_report, on_upload_report
from asmnet_studio.annotator.handlers.navigate import (on_done, on_face_step, on_goto, on_leave, on_load, on_open,
                                                       on_queue, on_queue_select, on_remove, on_remove_ask, on_step,
                                                       queue_rows)
from asmnet_studio.annotator.handlers.view import (ORIGINS, STATUS_LABELS, VIEW_OUTPUTS, info_markdown, point_markdown,
                                                   readout_html, render, view, with_origin)
from asmnet_studio.annotator.handlers.wiring import bind, user_errors

__all__ = [
    "bind", "user_errors", "ORIGINS", "STATUS_LABELS", "VIEW_OUTPUTS", "info_markdown", "point_markdown",
    "readout_html", "render", "view", "with_origin", "queue_rows", "on_load", "on_open", "on_face_step", "on_step",
    "on_leave", "on_goto", "on_done", "on_queue", "on_remove_ask", "on_remove", "on_queue_select", "on_drag",
    "on_select_point", "on_visibility", "on_edit", "on_point_panel", "on_save", "on_reload", "on_rerun",
    "on_box_end", "on_detect", "on_prelabel", "on_upload", "on_upload_report", "offered_report", "on_export",
    "on_evaluate", "on_compare", "on_compare_models", "on_gallery_select",
]
