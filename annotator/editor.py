"""The draggable landmark editor: a ``gr.HTML`` component whose value is an SVG drawn here in Python.

Python renders the whole SVG (image, face box, edges, one ``<circle data-index=i>`` per landmark) as the
component's value; the JavaScript in ``editor_assets.JS_ON_LOAD`` is attached once to the component's root element
and survives every re-render. It

* drags a point locally (no round trip while the mouse moves) and on pointer-up calls
  ``trigger('drag_end', {index, x, y})`` with image-pixel coordinates from ``svg.getScreenCTM()``,
* turns a click on a point into ``trigger('select_point', {index})``,
* lets the face box's corners be dragged: ``trigger('box_end', {x0, y0, x1, y1})`` on release,
* opens each face zoomed to its face box (``data-face``), zooms with the wheel or the +/−/face/fit buttons
  and pans by dragging the background (view state lives in the page, so a zoom costs no round trip and
  survives redraws),
* shows the hovered point's index and name, and
* maps keyboard shortcuts to the buttons of the page (see :data:`SHORTCUTS`).

Every render carries a new ``data-version`` on ``svg#landmark-editor`` so that tests and benchmarks can
wait for the redraw. Coordinates: 0-based pixels with pixel centres at integers, so the image spans
-0.5 .. W-0.5 and the SVG's user space *is* image pixels.
"""
from __future__ import annotations

import html
import itertools
from typing import Sequence

import gradio as gr
import numpy as np

from asmnet_studio.annotator.editor_assets import CSS, JS_ON_LOAD
from asmnet_studio.datasets.sample import OCCLUDED, OUTSIDE

_versions = itertools.count(1)

#: model points with a confidence below this, and below half the face's median, are outlined in red
#: ("check me"): the relative part keeps the marks selective when a face's confidence is low overall
LOW_CONFIDENCE = 0.5


def low_confidence(confidence: Sequence[float]) -> np.ndarray:
    """(K,) bool: the points to mark as doubtful, given the model's (K,) confidences in [0, 1]."""
    c = np.asarray(confidence, np.float64).reshape(-1)
    if c.size == 0:
        return np.zeros(0, bool)
    return c < min(LOW_CONFIDENCE, 0.5 * float(np.median(c)))

#: (keys, what they do, elem_id of the button they press)
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("N  or  →", "save and open the next face", "btn-next"),
    ("P  or  ←", "save and open the previous face", "btn-prev"),
    ("Ctrl+Z", "undo", "btn-undo"),
    ("Ctrl+Y  or  Ctrl+Shift+Z", "redo", "btn-redo"),
    ("Ctrl+S", "save", "btn-save"),
    ("D", "save, mark done and open the next face", "btn-done"),
    ("M", "mirror mode on / off", "chk-mirror"),
    ("V", "selected point: visible → occluded → outside", "radio-visibility"),
    ("H", "hide / show the points and lines (look at the image)", ""),
    ("G", "go to face number … (type it, then Enter)", "goto-number"),
    ("[  /  ]", "image darker / brighter", ""),
    ("{  /  }", "image contrast lower / higher", ""),
    ("\\", "image brightness and contrast back to normal", ""),
    ("+ / − / F / 0", "zoom in / out / to the face / whole image", ""),
)


def next_version() -> int:
    """A process-wide increasing number for ``data-version``."""
    return next(_versions)


def render(*, image_url: str | None, width: int, height: int, points: np.ndarray | None = None,
           visibility: np.ndarray | None = None, touched: Sequence[int] = (), selected: int | None = None,
           names: Sequence[str] = (), edges: Sequence[tuple[int, int]] = (), box: np.ndarray | None = None,
           confidence: Sequence[float] | None = None,
           image_id: int | None = None, caption: str = "", status_html: str = "",
           version: int | None = None, origin: str = "model prediction") -> str:
    """The editor's HTML for one face.

    Args:
        image_url: URL of the image (served from a static path), or None for an empty editor.
        width, height: image size in pixels.
        points: (K, 2) float landmarks, x, y pixels; None or empty draws no points.
        visibility: (K,) int8, 2 visible / 1 occluded / 0 outside (drawn hollow / crossed out).
        touched: indices placed by hand (drawn in a different colour from the model's points).
        selected: the point the visibility control acts on (drawn with a ring).
        names: K point names for the hover titles.
        edges: (i, j) pairs drawn as thin lines.
        box: (4,) x0, y0, x1, y1 face box in pixels, drawn dashed.
        confidence: (K,) the model's per-point confidence in [0, 1], shown in the hover title; model points
            :func:`low_confidence` calls doubtful get a red outline.
        origin: what the points not placed by hand are (hover titles), e.g. "imported ground truth".
        image_id: stored as ``data-image-id`` (the page resets zoom when it changes).
        caption: a short line shown above the image.
        status_html: a line of (already escaped) HTML under the toolbar, e.g. the plausibility readout;
            it is redrawn with the points, so it costs no extra event.
        version: ``data-version``; a fresh one when None.
    """
    version = next_version() if version is None else version
    w, h = max(int(width), 1), max(int(height), 1)
    face = ""
    if box is not None and len(box) == 4 and np.all(np.isfinite(box)):
        face = " ".join(f"{float(v):.1f}" for v in box)
    parts = [
        '<div class="lm-root">',
        '<div class="lm-bar">'
        '<button type="button" class="lm-zoom" data-zoom="in" title="Zoom in (+ or mouse wheel)">+</button>'
        '<button type="button" class="lm-zoom" data-zoom="out" title="Zoom out (−)">−</button>'
        '<button type="button" class="lm-zoom" data-zoom="face" title="Zoom to the face (F)">face</button>'
        '<button type="button" class="lm-zoom" data-zoom="fit" title="Fit the whole image (0)">fit</button>'
        f'<span class="lm-caption">{html.escape(caption)}</span>'
        '<span class="lm-look"></span>'
        '<span class="lm-hover" aria-live="polite"></span>'
        '</div>',
        f'<div class="lm-status">{status_html}</div>',
        f'<svg id="landmark-editor" data-version="{version}" data-image-id="{"" if image_id is None else int(image_id)}"'
        f' data-width="{w}" data-height="{h}" data-face="{face}" viewBox="-0.5 -0.5 {w} {h}"'
        ' preserveAspectRatio="xMidYMid meet"'
        f' xmlns="http://www.w3.org/2000/svg" role="img" aria-label="face image with draggable landmarks">',
    ]
    if image_url:
        parts.append(f'<image href="{html.escape(image_url, quote=True)}" x="-0.5" y="-0.5" width="{w}" '
                     f'height="{h}" preserveAspectRatio="none"/>')
    else:
        parts.append(f'<text x="{w / 2:.1f}" y="{h / 2:.1f}" class="lm-empty" text-anchor="middle">'
                     'No image open: pick one in the Queue tab (or add images there)</text>')
    if box is not None and len(box) == 4 and np.all(np.isfinite(box)):
        x0, y0, x1, y1 = (float(v) for v in box)
        parts.append(f'<rect class="lm-box" x="{x0:.2f}" y="{y0:.2f}" width="{max(x1 - x0, 0):.2f}" '
                     f'height="{max(y1 - y0, 0):.2f}"><title>face box the model used</title></rect>')
        for corner, (cx, cy) in enumerate(((x0, y0), (x1, y0), (x1, y1), (x0, y1))):
            parts.append(f'<circle class="lm-handle" data-corner="{corner}" cx="{cx:.2f}" cy="{cy:.2f}" r="3">'
                         '<title>drag this corner of the face box; the model runs again in the new box</title>'
                         '</circle>')
    pts = np.zeros((0, 2)) if points is None else np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts):
        if edges:
            d = " ".join(f"M{pts[a, 0]:.2f},{pts[a, 1]:.2f}L{pts[b, 0]:.2f},{pts[b, 1]:.2f}"
                         for a, b in edges if a < len(pts) and b < len(pts))
            parts.append(f'<path class="lm-edges" d="{d}"/>')
        vis = np.full(len(pts), 2, np.int8) if visibility is None else np.asarray(visibility).reshape(-1)
        touched_set = set(int(i) for i in touched)
        doubtful = low_confidence(confidence) if confidence is not None else np.zeros(len(pts), bool)
        parts.append('<g class="lm-points">')
        for i, (x, y) in enumerate(pts):
            cls = ["lm-pt", "lm-touched" if i in touched_set else "lm-pred"]
            state = "visible"
            if vis[i] == OCCLUDED:
                cls.append("lm-occluded")
                state = "occluded"
            elif vis[i] == OUTSIDE:
                cls.append("lm-outside")
                state = "outside"
            if selected is not None and i == selected:
                cls.append("lm-selected")
            name = names[i] if i < len(names) else f"point {i}"
            origin_i = "placed by you" if i in touched_set else origin
            if confidence is not None and i < len(confidence) and i not in touched_set:
                origin_i += f" (confidence {float(confidence[i]):.2f})"
                if i < len(doubtful) and doubtful[i]:
                    cls.append("lm-lowconf")
                    origin_i += ", doubtful: check it"
            parts.append(f'<circle data-index="{i}" data-name="{html.escape(name)}" class="{" ".join(cls)}" '
                         f'cx="{x:.2f}" cy="{y:.2f}" r="3"><title>{i} · {html.escape(name)} · {state} · {html.escape(origin_i)}'
                         f'</title></circle>')
        parts.append('</g>')
    parts.append('</svg></div>')
    return "".join(parts)


def shortcuts_markdown() -> str:
    """The keyboard shortcuts as a Markdown table for the page."""
    rows = "\n".join(f"| `{k}` | {what} |" for k, what, _ in SHORTCUTS)
    return ("| keys | action |\n|---|---|\n" + rows +
            "\n\nDrag a point to move it · click a point to select it · wheel to zoom · drag the background "
            "to pan when zoomed · hover a point for its name · drag a yellow corner of the face box to run the "
            "model again in a new box.")


def landmark_editor(value: str | None = None, **kwargs) -> gr.HTML:
    """The ``gr.HTML`` editor component; bind ``.drag_end``, ``.select_point`` and ``.box_end`` on it."""
    return gr.HTML(value=value or render(image_url=None, width=640, height=480), html_template="${value}",
                   css_template=CSS, js_on_load=JS_ON_LOAD, elem_id="landmark-editor-root", **kwargs)
