"""The Evaluate tab: the model's predictions against the workspace's saved corrections or imported
ground truth, through ``asmnet_studio.evaluation.report.evaluate`` and ``asmnet_studio.evaluation.plots``.

Only the gathering of arrays from the store and the worst-face thumbnails are done here; every metric
comes from the evaluation package.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import plotly.graph_objects as go

from asmnet_studio.datasets.images import load_image
from asmnet_studio.evaluation import plots
from asmnet_studio.evaluation.report import Report, evaluate

#: label in the page -> annotation source used as the reference
REFERENCES: dict[str, str] = {
    "saved corrections": "correction",
    "imported ground truth": "ground_truth",
}
DEFAULT_REFERENCE = "saved corrections"


@dataclass
class Pairs:
    """Predictions and references of the images that have both.

    Attributes:
        ids: (N,) image ids. names: (N,) file names.
        pred, ref: (N, K, 2) float32 pixels. pred_pose, ref_pose: (N, 3) degrees or None.
        visibility: (N, K) int8 of the reference (2 where unknown).
    """

    ids: list[int]
    names: list[str]
    pred: np.ndarray
    ref: np.ndarray
    pred_pose: np.ndarray | None
    ref_pose: np.ndarray | None
    visibility: np.ndarray


def _reference_pose(a) -> np.ndarray | None:
    """(3,) pose of a reference annotation when it is ground truth's (``pose_source``), else None: a model's
    pose saved with a correction is no reference."""
    return a.pose if a.pose_source == "ground_truth" else None


def _reference_visibility(a) -> np.ndarray:
    """(K,) int8 visibility of a reference annotation (2, visible, where it has none)."""
    return a.visibility if a.visibility is not None else np.full(len(a.points), 2, np.int8)


def gather(store, source: str) -> Pairs:
    """The latest prediction and the latest ``source`` annotation of every image that has both (one store
    query, ``Workspace.evaluation_pairs``)."""
    rows = store.evaluation_pairs(source)
    return _pairs([rec.id for rec, _, _ in rows], [rec.name or rec.path.name for rec, _, _ in rows],
                  [p.points for _, _, p in rows], [a.points for _, a, _ in rows], [p.pose for _, _, p in rows],
                  [_reference_pose(a) for _, a, _ in rows], [_reference_visibility(a) for _, a, _ in rows])


def report(pairs: Pairs, schema, normaliser: str = "interocular") -> Report:
    """``asmnet_studio.evaluation.report.evaluate`` of the pairs (names are the image ids, as strings)."""
    pose_differs = (pairs.pred_pose is not None and not np.allclose(pairs.pred_pose, pairs.ref_pose))
    return evaluate(pairs.pred, pairs.ref, schema=schema, normaliser=normaliser,
                    pred_pose=pairs.pred_pose if pose_differs else None,
                    gt_pose=pairs.ref_pose if pose_differs else None,
                    names=[str(i) for i in pairs.ids], visibility=pairs.visibility)


def summary_markdown(rep: Report, label: str, n_images: int) -> str:
    s = rep.summary
    def pct(v):
        return "–" if v is None else f"{v:.2f}%"
    text = (f"**{s['n']} of {n_images} images** have both a model prediction and {label}. "
            f"NME ({rep.normaliser}): **{pct(s['nme'])}** · failure rate (NME > 10%): {pct(s.get('fr_10'))} · "
            f"AUC@10: {pct(s.get('auc_10'))}")
    if not rep.has_pose:
        text += ("  \nPose: the reference has no ground-truth pose (a correction carries only its image's "
                 "imported one, never the model's), so the "
                 "pose chart shows the predicted angles; import a dataset with ground-truth pose "
                 "(e.g. AFLW2000-3D) to see pose errors.")
    if s.get("pose_mae"):
        m = s["pose_mae"]
        text += f"  \nPose MAE: yaw {m['yaw']:.1f}°, pitch {m['pitch']:.1f}°, roll {m['roll']:.1f}°"
    return text


def empty_figure(message: str) -> go.Figure:
    """A blank chart carrying ``message`` (used when there is nothing to plot yet)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#555"})
    fig.update_layout(template="plotly_white", xaxis={"visible": False}, yaxis={"visible": False}, height=360)
    return fig


def pose_figure(rep: Report, pairs: Pairs) -> go.Figure:
    """Pose errors when the reference has its own pose; otherwise the predicted pose of each face."""
    if rep.has_pose:
        return plots.pose_error_figure(rep)
    if pairs.pred_pose is None or len(pairs.pred_pose) == 0:
        return empty_figure("No pose to show: the model gave no pose for these faces")
    fig = go.Figure()
    for i, a in enumerate(("yaw", "pitch", "roll")):
        fig.add_trace(go.Box(y=pairs.pred_pose[:, i], name=a, boxpoints="all", jitter=0.3,
                             text=[f"#{k} {n}" for k, n in zip(pairs.ids, pairs.names)],
                             hovertemplate="%{text}<br>%{y:.1f}°<extra>" + a + "</extra>"))
    fig.update_layout(title="Predicted head pose (no reference pose to compare)", template="plotly_white",
                      yaxis_title="degrees", showlegend=False)
    return fig


def thumbnail(path, pred: np.ndarray, ref: np.ndarray, size: int = 256) -> np.ndarray:
    """(size, size, 3) uint8 crop around the face with the prediction (cyan) and reference (orange)."""
    image = load_image(path)
    pts = np.concatenate([pred, ref])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    side = max(x1 - x0, y1 - y0) * 1.35 + 4
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float64)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderValue=(40, 40, 40))
    for pts_, colour in ((ref, (255, 145, 0)), (pred, (0, 229, 255))):
        q = np.asarray(pts_, np.float64) * s + m[:, 2]
        for x, y in q:
            cv2.circle(crop, (int(round(x)), int(round(y))), 2, colour, -1, cv2.LINE_AA)
    return crop


def worst_gallery(store, rep: Report, pairs: Pairs, n: int = 12) -> tuple[list, list[int]]:
    """(gallery items [(image, caption)], their image ids) of the ``n`` faces with the highest NME."""
    worst = plots.worst_faces(rep, n)
    index = {str(i): j for j, i in enumerate(pairs.ids)}
    items, ids = [], []
    for row in worst.itertuples(index=False):
        j = index[str(row.image)]
        image_id = pairs.ids[j]
        items.append((thumbnail(store.image_path(image_id), pairs.pred[j], pairs.ref[j]),
                      f"#{image_id} {pairs.names[j]} · NME {row.nme:.1f}%"))
        ids.append(image_id)
    return items, ids


# ------------------------------------------------------------------------------ model comparison
def model_choices(store) -> list[tuple[str, int]]:
    """Dropdown choices ``("#id name", id)`` of the registered model versions, oldest first."""
    return [(f"#{m.id} {m.name}", m.id) for m in store.models()]


def _pairs(ids, names, pred, ref, pp, rp, vis) -> Pairs:
    if not ids:
        z = np.zeros((0, 0, 2), np.float32)
        return Pairs([], [], z, z, None, None, np.zeros((0, 0), np.int8))
    k = pred[0].shape[0]
    have_pose = all(x is not None for x in pp) and all(x is not None for x in rp)
    return Pairs(list(ids), list(names), np.asarray(pred, np.float32).reshape(-1, k, 2),
                 np.asarray(ref, np.float32).reshape(-1, k, 2),
                 np.asarray(pp, np.float32) if have_pose else None, np.asarray(rp, np.float32) if have_pose else None,
                 np.asarray(vis, np.int8).reshape(-1, k))


def gather_models(store, source: str, model_a: int, model_b: int) -> tuple[Pairs, Pairs]:
    """(pairs of model A, pairs of model B) on the same images, in the same order: those with a prediction
    from both models and a ``source`` annotation (each model's latest prediction vs the latest annotation);
    one store query per model."""
    by_b = {rec.id: p for rec, _, p in store.evaluation_pairs(source, model_b)}
    rows = [(rec, a, p, by_b[rec.id]) for rec, a, p in store.evaluation_pairs(source, model_a) if rec.id in by_b]
    ids = [rec.id for rec, *_ in rows]
    names = [rec.name or rec.path.name for rec, *_ in rows]
    refs, rposes = [a.points for _, a, _, _ in rows], [_reference_pose(a) for _, a, _, _ in rows]
    vis = [_reference_visibility(a) for _, a, _, _ in rows]
    return (_pairs(ids, names, [p.points for _, _, p, _ in rows], refs, [p.pose for _, _, p, _ in rows], rposes, vis),
            _pairs(ids, names, [p.points for *_, p in rows], refs, [p.pose for *_, p in rows], rposes, vis))


def compare_figures(rep_a: Report, rep_b: Report, label_a: str, label_b: str) -> tuple[go.Figure, go.Figure]:
    """(CED of both reports overlaid, grouped bars of their per-landmark NME by point index).
    Plotting only: every number comes from the reports."""
    if label_a == label_b:
        label_a, label_b = label_a + " (A)", label_b + " (B)"
    ced = plots.ced_figure({label_a: rep_a, label_b: rep_b}, title="CED on the same faces")
    idx = np.arange(rep_a.schema.num_points)
    names = list(rep_a.schema.names)
    regions = [rep_a.schema.group_of(int(i)) for i in idx]
    custom = np.stack([names, regions], axis=1)
    lm = go.Figure()
    for label, rep, colour in ((label_a, rep_a, "#1f77b4"), (label_b, rep_b, "#d62728")):
        lm.add_trace(go.Bar(x=idx, y=np.asarray(rep.landmark_nme, np.float64), name=label, marker_color=colour,
                            customdata=custom,
                            hovertemplate="#%{x} %{customdata[0]}<br>%{customdata[1]}<br>NME %{y:.2f}%<extra>"
                                          + label + "</extra>"))
    lm.update_layout(title="Per-landmark NME", template="plotly_white", barmode="group", bargap=0.15,
                     xaxis_title="landmark index", yaxis_title="NME (%)",
                     legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1})
    return ced, lm


def correction_effort(store) -> list[tuple[str, int, int, float]]:
    """(created_at, image id, version, mean point distance in px from the prediction it was based on) of
    every correction in the history, ordered by time (one store query, ``Workspace.correction_bases``).
    Corrections with no earlier prediction of their image (or a different number of points) are left out."""
    rows = []
    for a, p in store.correction_bases():
        if p is None or p.points.shape != a.points.shape:
            continue
        d = float(np.linalg.norm(a.points.astype(np.float64) - p.points.astype(np.float64), axis=1).mean())
        rows.append((a.created_at, a.image_id, a.version, d))
    rows.sort(key=lambda r: r[0])
    return rows


def effort_figure(store, window: int = 5) -> go.Figure:
    """Correction effort over time: for each saved correction, the mean distance (px) its points moved from
    the prediction it was based on, against when it was saved, with a rolling median of ``window`` saves."""
    import pandas as pd

    rows = correction_effort(store)
    if not rows:
        return empty_figure("No correction effort to show yet: save a corrected face in the Annotate tab")
    df = pd.DataFrame(rows, columns=["created_at", "image", "version", "px"])
    df["time"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
    df = df.sort_values("time", kind="stable").reset_index(drop=True)
    med = df["px"].rolling(window=min(window, len(df)), min_periods=1).median()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=df["time"], y=df["px"], mode="markers", name="correction",
                             marker={"size": 7, "color": "#1f77b4", "opacity": 0.7},
                             customdata=np.stack([df["image"], df["version"]], axis=1),
                             hovertemplate="image #%{customdata[0]} v%{customdata[1]}<br>%{x}<br>"
                                           "mean move %{y:.2f} px<extra></extra>"))
    fig.add_trace(go.Scatter(x=df["time"], y=med, mode="lines", name=f"rolling median ({min(window, len(df))})",
                             line={"color": "#d62728", "width": 2}, hoverinfo="skip"))
    fig.update_layout(title="Correction effort per image over time", template="plotly_white",
                      xaxis_title="saved at (UTC)", yaxis_title="mean point move from the prediction (px)",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1})
    return fig


def default_choices(store, schema) -> tuple[str, str]:
    """(reference label, normaliser) the Evaluate tab opens on, as ``asmnet evaluate`` chooses them: the saved
    corrections when there are any, else the imported ground truth; the normaliser customary for the
    format most of the compared faces were imported from (AFLW2000-3D: box; 300-W, WFLW: inter-ocular)."""
    from collections import Counter

    from asmnet_studio.evaluation.report import default_normaliser

    has = {src: store.latest_annotations(src) for src in ("correction", "ground_truth")}
    source = "correction" if has["correction"] or not has["ground_truth"] else "ground_truth"
    label = next(k for k, v in REFERENCES.items() if v == source)
    from asmnet_studio.datasets.formats import format_names
    from asmnet_studio.evaluation.metrics import normaliser as norm

    formats = Counter(r.dataset for r, _ in has[source] if r.dataset in format_names())
    if formats:
        return label, default_normaliser(formats.most_common(1)[0][0], schema)
    refs = [a.points for _, a in has[source]]
    refs = [p for p in refs if p.shape == (schema.num_points, 2)]
    if not refs or getattr(schema, "interocular", None) is None:
        return label, default_normaliser(None, schema)
    # a folder of unknown format: inter-ocular only when every face shows both eyes well apart (on profile
    # faces, as in AFLW2000-3D, the eye corners nearly meet and the box normaliser is the customary one)
    pts = np.stack(refs).astype(np.float64)
    ratio = norm(pts, schema, "interocular") / norm(pts, schema, "box")
    return label, "interocular" if float(ratio.min()) >= 0.25 else "box"
