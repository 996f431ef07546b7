"""A self-contained HTML page for a :class:`Report`: summary tables and every applicable plot.

plotly.js is embedded inline once (``include_plotlyjs=True`` on the first figure), so the page opens
offline with no CDN. Figures come from ``asmnet_studio.evaluation.plots``; this module only lays them out.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from asmnet_studio.evaluation import plots
from asmnet_studio.evaluation.report import Report


def report_figures(report: Report) -> dict[str, go.Figure]:
    """Every figure that applies to ``report``, by id (pose figures only with pose, |yaw| with GT pose)."""
    figs: dict[str, go.Figure] = {
        "landmark-nme": plots.landmark_nme_figure(report),
        "region-nme": plots.region_nme_figure(report),
        "ced": plots.ced_figure(report),
        "failure-rate": plots.failure_rate_figure(report),
    }
    if report.has_gt_pose:
        figs["nme-vs-yaw"] = plots.nme_vs_yaw_figure(report)
    if report.has_pose:
        figs["pose-error"] = plots.pose_error_figure(report)
        figs["pose-scatter"] = plots.pose_scatter_figure(report)
        figs["pose-ced"] = plots.pose_ced_figure(report)
    return figs


def thumbnail_data_uri(image: np.ndarray, pred, gt, *, size: int = 160) -> str:
    """A ``data:image/jpeg;base64,...`` square crop around the face with the ground truth (green) and
    the prediction (red) drawn on it.

    Args:
        image: (H, W, 3) uint8 RGB.
        pred, gt: (K, 2) x, y pixels.
        size: output side in pixels.
    """
    from PIL import Image, ImageDraw

    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    both = np.concatenate([p, g])
    lo, hi = both.min(axis=0), both.max(axis=0)
    side = float(max(hi - lo)) * 1.3 + 8.0
    cx, cy = (lo + hi) / 2.0
    x0, y0 = cx - side / 2, cy - side / 2
    crop = Image.fromarray(np.asarray(image, dtype=np.uint8)).crop(
        (int(round(x0)), int(round(y0)), int(round(x0 + side)), int(round(y0 + side))))
    s = size / crop.width
    crop = crop.resize((size, size))
    draw = ImageDraw.Draw(crop)
    for pts, colour in ((g, (40, 200, 60)), (p, (230, 40, 40))):
        for x, y in (pts - [round(x0), round(y0)]) * s:
            draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=colour)
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _gallery(worst: pd.DataFrame, thumbnails: Mapping[str, str]) -> str:
    cards = []
    for row in worst.itertuples(index=False):
        uri = thumbnails.get(str(row.image))
        if uri is None:
            continue
        cards.append(f'<figure class="thumb"><img src="{uri}" alt="{html.escape(str(row.image))}">'
                     f"<figcaption>#{row.rank} {html.escape(str(row.image))}<br>NME {row.nme:.2f}%"
                     "</figcaption></figure>")
    if not cards:
        return ""
    return ('<h3>Worst faces (green: ground truth, red: prediction)</h3><div class="gallery">'
            + "".join(cards) + "</div>")


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return html.escape(str(v))


def _table(df: pd.DataFrame, caption: str) -> str:
    return (f"<h3>{html.escape(caption)}</h3>"
            + df.to_html(float_format=lambda x: f"{x:.3f}", na_rep="—", classes="tbl", border=0, escape=True))


def report_html(report: Report, *, title: str = "Landmark evaluation", worst: int = 20,
                details: dict | None = None, thumbnails: Mapping[str, str] | None = None) -> str:
    """The full HTML document for ``report`` (str).

    Args:
        title: page heading.
        worst: how many of the worst faces to list.
        details: extra key -> value lines shown under the heading (data folder, model, ...).
        thumbnails: image name -> data URI (see :func:`thumbnail_data_uri`) for a gallery of the worst faces.
    """
    figs = report_figures(report)
    parts = []
    for i, (fid, fig) in enumerate(figs.items()):
        div = fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"fig-{fid}",
                          default_width="100%", default_height="480px", config={"displaylogo": False})
        parts.append(f'<section class="fig" data-figure="{fid}">{div}</section>')
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in report.summary.items())
    info = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in (details or {}).items())
    tables = []
    if report.has_gt_pose:
        tables.append(_table(report.by_yaw(), "By ground-truth |yaw| bucket (NME, FR, AUC in %)"))
    if report.by_subset is not None:
        tables.append(_table(report.by_subset, "By subset (NME, FR, AUC in %)"))
    if report.by_attribute is not None:
        tables.append(_table(report.by_attribute, "By attribute (NME, FR, AUC in %)"))
    worst_df = plots.worst_faces(report, worst)
    tables.append(_gallery(worst_df, thumbnails or {}))
    tables.append(_table(worst_df.set_index("rank"), f"The {worst} worst faces"))
    summary_json = html.escape(json.dumps(report.summary))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="asmnet-figures" content="{len(figs)}">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }}
th, td {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }}
section.fig {{ margin: 1rem 0; }}
.note {{ color: #555; font-size: 0.85rem; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 0.5rem; }}
.thumb {{ margin: 0; font-size: 0.75rem; width: 160px; }}
.thumb img {{ width: 160px; height: 160px; display: block; }}
.thumb figcaption {{ overflow-wrap: anywhere; }}
</style></head>
<body data-figures="{len(figs)}">
<h1>{html.escape(title)}</h1>
<table>{info}</table>
<h2>Summary</h2>
<p class="note">NME, failure rate (FR) and AUC are percentages; AUC is the area under the CED on
[0, threshold] divided by the threshold (exact integration); angles are degrees.</p>
<table id="summary" data-summary="{summary_json}">{rows}</table>
{''.join(tables)}
<h2>Plots</h2>
{''.join(parts)}
</body></html>
"""


def write_report_html(report: Report, path: str | Path, **kwargs) -> Path:
    """Write :func:`report_html` to ``path`` (atomically) and return it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report_html(report, **kwargs), encoding="utf-8")
    tmp.replace(path)
    return path
