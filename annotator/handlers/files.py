"""Events that bring images in and annotations out: upload (and the download of its refusals), pre-label,
export. Outputs as listed in ``ui.py``."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from asmnet_studio.annotator.handlers.view import STATUS_LABELS
from asmnet_studio.annotator.handlers.wiring import user_errors
from asmnet_studio.annotator.session import Services, add_uploads, export_zip, prelabel_new_faces


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


def offered_report(path) -> str | None:
    """The report CSV at ``path`` as the page's ``gr.File`` offers it for download: the resolved path, registered
    as static so that the page may fetch it where it lies (beside the workspace); None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    full = Path(path).resolve()
    gr.set_static_paths([full])
    return str(full)


def on_upload_report(svc: Services):
    """After an upload (also one that added nothing): the full list of the files it refused, for download,
    hidden when it refused none. Outputs: file."""
    path = offered_report(svc.upload_report)
    return gr.update(value=path, visible=path is not None)


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
