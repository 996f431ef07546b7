"""Plotly figures drawn from :class:`asmnet_studio.evaluation.report.Report` objects only.

Nothing here computes a metric: every number comes from the report (its table, summary, per-landmark
NME, mean shape, or its ``ced`` / ``failure_curve`` / ``pose_ced`` methods). NME, failure rates and AUC
are percentages; angles are degrees. Face drawings use image orientation (y down: the y axis is
reversed) with equal x / y scales.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from asmnet_studio.evaluation.report import Report

ANGLES = ("yaw", "pitch", "roll")
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")


def _reports(reports: Report | Mapping[str, Report]) -> dict[str, Report]:
    if isinstance(reports, Report):
        return {"model": reports}
    if not isinstance(reports, Mapping) or not reports:
        raise ValueError("reports must be a Report or a non-empty {label: Report} mapping")
    for label, r in reports.items():
        if not isinstance(r, Report):
            raise ValueError(f"reports[{label!r}] is a {type(r).__name__}, not a Report")
    return dict(reports)


def _threshold_keys(report: Report) -> tuple[str, str, float]:
    t = report.failure_threshold
    suffix = "10" if t == 10.0 else f"{t:g}"
    return f"fr_{suffix}", f"auc_{suffix}", t


def _legend_label(label: str, report: Report) -> str:
    fr_key, auc_key, t = _threshold_keys(report)
    fr, auc = report.summary.get(fr_key), report.summary.get(auc_key)
    fr_s = "n/a" if fr is None else f"{fr:.2f}%"
    auc_s = "n/a" if auc is None else f"{auc:.2f}"
    return f"{label} (FR@{t:g}% {fr_s}, AUC@{t:g}% {auc_s})"


#: above this many points a scatter is drawn with WebGL (go.Scattergl); below it, as SVG (works without WebGL)
WEBGL_ABOVE = 5000


def _scatter(n: int):
    return go.Scattergl if n > WEBGL_ABOVE else go.Scatter


def _face_axes(fig: go.Figure, row: int | None = None, col: int | None = None) -> None:
    """Image orientation: y down, equal scales."""
    kw = {} if row is None else {"row": row, "col": col}
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, **kw)


def landmark_nme_figure(report: Report, mean_shape: np.ndarray | None = None, *,
                        title: str = "Per-landmark NME on the mean face") -> go.Figure:
    """The mean face with each landmark coloured by its NME (percent); hover shows index, name, region.

    Args:
        report: an evaluation report.
        mean_shape: (K, 2) x, y to draw the points at; default ``report.mean_shape`` (normalised units).
    """
    shape = np.asarray(report.mean_shape if mean_shape is None else mean_shape, dtype=np.float64)
    k = report.schema.num_points
    if shape.shape != (k, 2):
        raise ValueError(f"mean_shape must be ({k}, 2) for schema {report.schema.name!r}, found {shape.shape}")
    table = report.region_nme()
    ex, ey = [], []
    for i, j in report.schema.edges:
        ex += [shape[i, 0], shape[j, 0], None]
        ey += [shape[i, 1], shape[j, 1], None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#bbbbbb", "width": 1},
                             hoverinfo="skip", showlegend=False, name="edges"))
    custom = np.stack([table["index"].to_numpy(), table["name"].to_numpy(), table["region"].to_numpy()], axis=1)
    fig.add_trace(go.Scatter(
        x=shape[:, 0], y=shape[:, 1], mode="markers", name="landmarks", showlegend=False,
        marker={"size": 11, "color": table["nme"].to_numpy(), "colorscale": "Turbo", "showscale": True,
                "colorbar": {"title": {"text": "NME %"}}, "line": {"width": 0.5, "color": "#333"}},
        customdata=custom, text=[f"{v:.2f}" for v in table["nme"]],
        hovertemplate="#%{customdata[0]} %{customdata[1]}<br>%{customdata[2]}<br>NME %{text}%<extra></extra>",
    ))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="x (normalised)", yaxis_title="y (normalised)")
    _face_axes(fig)
    return fig


def region_nme_figure(report: Report, *, title: str = "Per-landmark NME by face region") -> go.Figure:
    """Bars of per-landmark NME (percent), one colour (and legend entry) per face region of the schema."""
    table = report.region_nme()
    fig = go.Figure()
    for c, (region, grp) in enumerate(table.groupby("region", sort=False)):
        fig.add_trace(go.Bar(
            x=grp["index"], y=grp["nme"], name=region, marker_color=_PALETTE[c % len(_PALETTE)],
            customdata=grp["name"], hovertemplate="#%{x} %{customdata}<br>NME %{y:.2f}%<extra>" + region + "</extra>",
        ))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="landmark index",
                      yaxis_title="NME (%)", bargap=0.15, legend_title_text="region")
    return fig


def ced_figure(reports: Report | Mapping[str, Report], *, max_threshold: float | None = None,
               title: str = "Cumulative error distribution") -> go.Figure:
    """CED curves (percent of images with NME <= x) of one or several reports, overlaid.

    Args:
        reports: a Report or ``{label: Report}``; each legend entry shows its failure rate and AUC at its
            failure threshold (from the report's summary).
        max_threshold: right end of the x axis in NME percent (default 1.5 x the largest failure threshold).
    """
    return _threshold_curves(reports, lambda r, hi: r.ced(max_threshold=hi), max_threshold=max_threshold,
                             title=title, hover="NME ≤ %{x:.2f}%: %{y:.1f}% of images<extra></extra>",
                             xaxis_title="NME (%)", yaxis_title="images (%)", legend_at_top=False)


def failure_rate_figure(reports: Report | Mapping[str, Report], *, max_threshold: float | None = None,
                        title: str = "Failure rate vs threshold") -> go.Figure:
    """Failure rate (percent of images with NME > x) against the threshold x, reports overlaid."""
    return _threshold_curves(reports, lambda r, hi: r.failure_curve(max_threshold=hi), max_threshold=max_threshold,
                             title=title, hover="NME > %{x:.2f}%: %{y:.1f}% of images<extra></extra>",
                             xaxis_title="threshold: NME (%)", yaxis_title="failure rate (%)", legend_at_top=True)


def _threshold_curves(reports, curve, *, max_threshold: float | None, title: str, hover: str, xaxis_title: str,
                      yaxis_title: str, legend_at_top: bool) -> go.Figure:
    """One line per report of ``curve(report, hi) -> (thresholds, percent)`` over NME thresholds [0, hi]
    (hi: ``max_threshold`` or 1.5 x the largest failure threshold), with each failure threshold dashed."""
    reps = _reports(reports)
    hi = max_threshold if max_threshold is not None else 1.5 * max(r.failure_threshold for r in reps.values())
    fig = go.Figure()
    for c, (label, r) in enumerate(reps.items()):
        t, y = curve(r, hi)
        fig.add_trace(go.Scatter(x=t, y=y, mode="lines", name=_legend_label(label, r),
                                 line={"color": _PALETTE[c % len(_PALETTE)], "width": 2}, hovertemplate=hover))
    for t in sorted({r.failure_threshold for r in reps.values()}):
        fig.add_vline(x=t, line_dash="dash", line_color="#888")
    legend = ({"yanchor": "top", "y": 0.98, "xanchor": "right", "x": 0.98} if legend_at_top
              else {"yanchor": "bottom", "y": 0.02, "xanchor": "right", "x": 0.98})
    fig.update_layout(title=title, template="plotly_white", xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      yaxis_range=[0, 100], xaxis_range=[0, hi], showlegend=True, legend=legend)
    return fig


def _need_pose(report: Report) -> pd.DataFrame:
    if not report.has_pose:
        raise ValueError("this report has no pose errors (evaluate it with pred_pose and gt_pose)")
    return report.per_image


def pose_error_figure(report: Report, *, title: str = "Pose error vs ground-truth angle") -> go.Figure:
    """Absolute error of yaw, pitch and roll (degrees) against the ground-truth angle, one panel each."""
    df = _need_pose(report)
    mae = report.summary.get("pose_mae", {})
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{a} (MAE {mae.get(a, float('nan')):.2f}°)" for a in ANGLES])
    for i, a in enumerate(ANGLES, start=1):
        fig.add_trace(_scatter(len(df))(
            x=df[f"{a}_gt"], y=df[f"{a}_err"], mode="markers", name=a, showlegend=False,
            marker={"size": 5, "opacity": 0.6, "color": _PALETTE[i - 1]}, text=df["image"],
            hovertemplate="%{text}<br>true %{x:.1f}°, error %{y:.1f}°<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text=f"true {a} (°)", row=1, col=i)
    fig.update_yaxes(title_text="absolute error (°)", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def pose_scatter_figure(report: Report, *, title: str = "Predicted vs true pose") -> go.Figure:
    """Predicted against true yaw, pitch and roll (degrees), with the identity line, one panel each."""
    df = _need_pose(report)
    fig = make_subplots(rows=1, cols=3, subplot_titles=list(ANGLES))
    for i, a in enumerate(ANGLES, start=1):
        x, y = df[f"{a}_gt"].to_numpy(), df[f"{a}_pred"].to_numpy()
        both = np.concatenate([x, y])
        lo, hi = (float(np.nanmin(both)), float(np.nanmax(both))) if both.size else (-90.0, 90.0)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "#888", "dash": "dash"},
                                 hoverinfo="skip", showlegend=False), row=1, col=i)
        fig.add_trace(_scatter(len(df))(
            x=x, y=y, mode="markers", name=a, showlegend=False, text=df["image"],
            marker={"size": 5, "opacity": 0.6, "color": _PALETTE[i - 1]},
            hovertemplate="%{text}<br>true %{x:.1f}°, predicted %{y:.1f}°<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text=f"true {a} (°)", row=1, col=i)
        fig.update_yaxes(title_text=f"predicted {a} (°)", row=1, col=i)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def pose_ced_figure(report: Report, *, max_threshold: float = 30.0,
                    title: str = "Cumulative pose error distribution") -> go.Figure:
    """CED of the absolute yaw, pitch, roll errors and the geodesic error (degrees)."""
    _need_pose(report)
    fig = go.Figure()
    mae = report.summary.get("pose_mae", {})
    for c, a in enumerate((*ANGLES, "geodesic")):
        t, y = report.pose_ced(a, max_threshold=max_threshold)
        name = f"{a} (MAE {mae[a]:.2f}°)" if a in mae else a
        fig.add_trace(go.Scatter(x=t, y=y, mode="lines", name=name, line={"color": _PALETTE[c], "width": 2},
                                 hovertemplate="error ≤ %{x:.1f}°: %{y:.1f}% of images<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="absolute error (°)",
                      yaxis_title="images (%)", yaxis_range=[0, 100], xaxis_range=[0, max_threshold])
    return fig


def nme_vs_yaw_figure(report: Report, *, title: str = "NME vs |yaw|") -> go.Figure:
    """Per-image NME (percent) against the ground-truth |yaw| (degrees), with each bucket's mean NME."""
    df = report.per_image
    if not report.has_gt_pose:
        raise ValueError("this report has no ground-truth pose (evaluate it with gt_pose)")
    x = df["yaw_gt"].abs()
    fig = go.Figure()
    fig.add_trace(_scatter(len(df))(x=x, y=df["nme"], mode="markers", name="images", text=df["image"],
                               marker={"size": 5, "opacity": 0.55, "color": _PALETTE[0]},
                               hovertemplate="%{text}<br>|yaw| %{x:.1f}°, NME %{y:.2f}%<extra></extra>"))
    buckets = report.summary.get("nme_buckets") or {}
    right = max(90.0, float(x.max()) if len(x) else 90.0)
    spans = {"0-30": (0.0, 30.0), "30-60": (30.0, 60.0), "60-90": (60.0, right)}
    for name, (a, b) in spans.items():
        m = buckets.get(name)
        if m is not None:
            fig.add_trace(go.Scatter(x=[a, b], y=[m, m], mode="lines", name=f"mean {name}: {m:.2f}%",
                                     line={"color": _PALETTE[1], "width": 3}))
    for edge in (30, 60, 90):
        fig.add_vline(x=edge, line_dash="dot", line_color="#aaa")
    bal = report.summary.get("nme_balanced")
    fig.update_layout(title=title if bal is None else f"{title} (balanced mean {bal:.2f}%)",
                      template="plotly_white", xaxis_title="|yaw| ground truth (°)", yaxis_title="NME (%)")
    return fig


def worst_faces(report: Report, n: int = 20) -> pd.DataFrame:
    """Gallery data: the ``n`` images with the highest NME, columns rank (1 = worst), image, nme (+ bucket,
    subset when known)."""
    return report.worst(n)
