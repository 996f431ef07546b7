"""Correction effort: how many drags a simulated annotator needs to bring the model's pre-label to the truth.

For each face of a split: start from the shipped model's pre-label (crop from the ground-truth landmark box),
then, one drag at a time, drag the currently worst point to its ground-truth position through exactly the
editor's code (``asmnet_studio.annotator.editing.move_point``, with the editor's shape model, its stiffness and the
network's per-point confidence as the page has them; every point placed by hand stays pinned), until the
NME is at most 2.5 % (cap 68 drags). Strategies side by side:

* ``free``: stiffness 0, only the dragged point moves (what CVAT and Label Studio give);
* ``legacy``: the shape constraint before issue 15 (closest plausible shape, stiffness 1, the old default);
* ``constrained``: the editor's default (``editing.DEFAULT_STIFFNESS``, conditional update).

Per strategy: mean drags to NME <= 2.5 %, the share of faces whose NME rose after the first drag, the share
of all drags that raised the NME, the largest move of a point that was already within 2.5 % of the face
size (a "correct" point), per |yaw| bucket, and the mean NME after each drag (a plotly figure,
``OUT/correction.html``).

    python -m bench correction [--data DIR --format aflw2000 --split test] [--subset validation] [--out-dir OUT]
    python -m bench.bench_correction --sweep 0.3,0.5,0.7 --gains 0,1 --split train --subset validation

Pre-labels are cached per checkpoint sha256 and data (``.cache/correction/``), so repeated runs are cheap.
``--subset validation`` keeps the checkpoint's validation faces of the train split (its ``val_fraction``
and ``seed``), the faces the editor's defaults were chosen on.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

NAME = "correction"
TITLE = "Correction effort: drags to NME <= 2.5 % with a simulated annotator"
#: the NME (percent) at which a face counts as corrected, and the most drags a face may take
THRESHOLD = 2.5
CAP = 68
#: a point within this error (percent of the face size) counts as correct (for the "spoiled" figure)
CORRECT_POINT = 2.5
#: what ``python -m bench correction`` accepts besides --quick / --out-dir (forwarded by bench.__main__)
OPTIONS = ("data", "format", "split", "subset", "limit", "normaliser")
CACHE_DIR = common.REPO / ".cache" / "correction"


@dataclasses.dataclass(frozen=True)
class Strategy:
    """How the simulated drags are made: ``stiffness`` and ``method`` for ``editing.move_point``, and
    ``gain`` for the confidence weights (None: the editor's)."""

    name: str
    stiffness: float
    method: str | None = None
    gain: float | None = None


def default_strategies() -> list[Strategy]:
    from asmnet_studio.annotator import editing

    return [Strategy("free", 0.0), Strategy("legacy", 1.0, "legacy"),
            Strategy("constrained", editing.DEFAULT_STIFFNESS)]


# ------------------------------------------------------------------------------------------ data
def load_faces(data: Path, fmt: str, split: str | None, subset: str | None, card: dict, limit: int | None):
    """(dataset, samples) of the split, restricted to the checkpoint's validation faces with
    ``subset="validation"``; ValueError naming what is missing."""
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(data, fmt, split=split)
    samples = list(ds.samples)
    if not samples:
        raise ValueError(f"{data}: no faces in split {split!r} (format {fmt})")
    if subset == "validation":
        from asmnet.model.editor_model import validation_indices

        samples = [samples[i] for i in validation_indices(samples, card)]
    elif subset not in (None, "all"):
        raise ValueError(f"unknown --subset {subset!r}; choose 'validation' or 'all'")
    if limit:
        samples = samples[:limit]
    return ds, samples


def prelabels(root: Path, samples: list, predictor, *, cache_dir: Path | None = CACHE_DIR,
              batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, K, 2), confidence (N, K)) of the predictor from ground-truth landmark boxes, cached in
    ``cache_dir`` per checkpoint sha256 and list of images."""
    from asmnet.inference.crop import landmark_boxes
    from asmnet_studio.datasets.images import load_image

    import asmnet

    sources = sorted(Path(asmnet.__file__).parent.rglob("*.py"))
    code = "".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in sources
                   if f.stem in ("predictor", "crop", "warp", "fast"))  # the pre-label code, not only the weights
    key = hashlib.sha256((str(getattr(predictor, "sha256", "?")) + "|" + code + "|" + str(Path(root).resolve()) + "|"
                          + "|".join(s.image for s in samples)).encode()).hexdigest()[:24]
    path = None if cache_dir is None else Path(cache_dir) / f"prelabels-{key}.npz"
    if path is not None and path.is_file():
        with np.load(path) as z:
            return z["points"], z["confidence"]
    boxes = landmark_boxes(np.stack([s.points for s in samples]).astype(np.float64))
    pts, conf = [], []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        images = [load_image(Path(root) / s.image) for s in chunk]
        for p in predictor.predict_batch(images, list(boxes[start:start + len(chunk)]), batch_size=batch_size):
            pts.append(p.points)
            conf.append(p.confidence)
    points, confidence = np.stack(pts).astype(np.float32), np.stack(conf).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, points=points, confidence=confidence)
        tmp.replace(path)
    return points, confidence


# ------------------------------------------------------------------------------------ simulation
def simulate(gt: np.ndarray, pred: np.ndarray, confidence: np.ndarray | None, norm: float, shape_model,
             strategy: Strategy, *, cap: int = CAP, threshold: float = THRESHOLD) -> dict[str, Any]:
    """Drag the worst point to the truth until NME <= ``threshold`` % (at most ``cap`` drags).

    Args:
        gt, pred: (K, 2) pixels; confidence: (K,) the network's, or None; norm: the NME normaliser, pixels.
    Returns:
        dict: ``nme`` list (before any drag, then after each), ``drags`` (to the threshold; ``cap`` + 1 when
        never reached), ``worst_spoil`` (largest move, percent of ``norm``, of a point that was within
        ``CORRECT_POINT`` % of the truth before a drag and ended further from it).
    """
    from asmnet_studio.annotator import editing

    state = editing.start(0, pred, predicted=pred)
    state = dataclasses.replace(state, confidence=None if confidence is None else tuple(map(float, confidence)))
    err = np.linalg.norm(state.points - gt, axis=1) / norm * 100
    nmes = [float(err.mean())]
    spoil = 0.0
    extra = {} if strategy.gain is None else {"confidence_gain": strategy.gain}
    for _ in range(cap):
        if nmes[-1] <= threshold:
            break
        i = int(np.argmax(err))
        before = err
        state = editing.move_point(state, i, float(gt[i, 0]), float(gt[i, 1]), shape_model=shape_model,
                                   stiffness=strategy.stiffness, method=strategy.method, **extra)
        err = np.linalg.norm(state.points - gt, axis=1) / norm * 100
        worse = (before <= CORRECT_POINT) & (err > before)
        if worse.any():
            spoil = max(spoil, float((err - before)[worse].max()))
        nmes.append(float(err.mean()))
    drags = len(nmes) - 1 if nmes[-1] <= threshold else cap + 1
    return {"nme": nmes, "drags": drags, "worst_spoil": spoil}


def summarise(runs: list[dict], buckets: np.ndarray, cap: int = CAP) -> dict[str, Any]:
    """Per-strategy figures from ``simulate`` runs of every face, overall and per |yaw| bucket."""
    from asmnet_studio.evaluation.pose import YAW_BUCKETS

    def figures(rs: list[dict]) -> dict[str, Any]:
        if not rs:
            return {"faces": 0}
        drags = np.array([min(r["drags"], cap) for r in rs], float)
        first = [r["nme"][1] > r["nme"][0] for r in rs if len(r["nme"]) > 1]
        steps = [b > a for r in rs for a, b in zip(r["nme"][:-1], r["nme"][1:])]
        return {"faces": len(rs), "mean_drags": float(drags.mean()), "median_drags": float(np.median(drags)),
                "not_reached": int(sum(r["drags"] > cap for r in rs)),
                "first_drag_worse": float(np.mean(first)) if first else 0.0,
                "drags_worse": float(np.mean(steps)) if steps else 0.0,
                "spoiled_faces": float(np.mean([r["worst_spoil"] > CORRECT_POINT for r in rs])),
                "worst_spoil": float(max(r["worst_spoil"] for r in rs))}

    out = figures(runs)
    out["buckets"] = {b: figures([r for r, bb in zip(runs, buckets) if bb == b]) for b in YAW_BUCKETS}
    longest = max(len(r["nme"]) for r in runs)
    curve = np.array([r["nme"] + [r["nme"][-1]] * (longest - len(r["nme"])) for r in runs])
    out["mean_nme_after"] = curve.mean(0).tolist()
    out["share_done_after"] = [float(np.mean([min(r["drags"], cap + 1) <= n for r in runs])) for n in range(longest)]
    return out


def figure(results: dict[str, dict], title: str):
    """plotly figure: mean NME (%) against drags per strategy, and the share of faces done."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("mean NME after n drags", "faces at NME <= 2.5 %"))
    colours = {"free": "#888888", "legacy": "#d62728", "constrained": "#1f77b4"}
    for name, r in results.items():
        c = colours.get(name)
        x = list(range(len(r["mean_nme_after"])))
        fig.add_trace(go.Scatter(x=x, y=r["mean_nme_after"], name=f"{name} ({r['mean_drags']:.2f} drags)",
                                 line={"color": c}, legendgroup=name), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=r["share_done_after"], name=name, showlegend=False,
                                 line={"color": c}, legendgroup=name), 1, 2)
    fig.update_xaxes(title_text="drags", range=[0, 40])
    fig.update_yaxes(title_text="NME %", row=1, col=1)
    fig.update_yaxes(title_text="share of faces", range=[0, 1], row=1, col=2)
    fig.update_layout(title=title, template="plotly_white", height=420)
    return fig


# ------------------------------------------------------------------------------------------- run
def evaluate(samples, pred, conf, shape_model, strategies: list[Strategy], normaliser: str = "box",
             schema: str = "ibug68") -> dict[str, dict]:
    """{strategy name: summary} over the faces (``simulate`` + ``summarise``)."""
    from asmnet_studio.evaluation.metrics import normaliser as norm_fn
    from asmnet_studio.evaluation.pose import yaw_bucket

    gt = np.stack([s.points for s in samples]).astype(np.float64)
    norms = norm_fn(gt, schema, normaliser)
    yaw = np.array([np.nan if s.pose is None else float(s.pose[0]) for s in samples])
    buckets = yaw_bucket(yaw)
    out = {}
    for st in strategies:
        t0 = time.perf_counter()
        runs = [simulate(gt[n], pred[n].astype(np.float64), conf[n], float(norms[n]), shape_model, st)
                for n in range(len(samples))]
        out[st.name] = summarise(runs, buckets)
        out[st.name].update(stiffness=st.stiffness, method=st.method or "conditional", seconds=time.perf_counter() - t0)
    return out


def plausibility_shares(samples, pred, shape_model, normaliser: str = "box", schema: str = "ibug68") -> dict:
    """Share of the ground-truth shapes and of the pre-labels with NME > 10 % that the editor's readout flags
    (level other than "plausible", ``ShapeModel.plausibility``)."""
    from asmnet_studio.evaluation.metrics import nme

    gt = np.stack([s.points for s in samples]).astype(np.float64)
    e = nme(pred, gt, schema, normaliser)
    flag = lambda x: shape_model.plausibility(np.asarray(x, np.float64))[1] != "plausible"  # noqa: E731
    bad = [flag(p) for p, v in zip(pred, e) if v > 10]
    return {"gt_flagged": float(np.mean([flag(g) for g in gt])), "prelabels_over_10": len(bad),
            "prelabels_over_10_flagged": float(np.mean(bad)) if bad else None,
            "prelabels_flagged": float(np.mean([flag(p) for p in pred]))}


def run(quick: bool = False, *, data: str | Path | None = None, format: str = "aflw2000", split: str | None = "test",
        subset: str | None = None, limit: int | None = None, normaliser: str = "box", out_dir: Path | None = None,
        strategies: list[Strategy] | None = None) -> dict[str, Any]:
    """The benchmark (see the module docstring); ``quick`` uses 6 faces."""
    from asmnet.inference.predictor import Predictor
    from asmnet.model.shape_prior import editor_shape_model

    root = Path(data) if data else common.aflw_dir()
    if root is None or not Path(root).is_dir():
        return {"skipped": common.missing_data_reason() if data is None else f"{data}: no such folder", "rows": []}
    predictor = Predictor.default(backend="auto")
    ds, samples = load_faces(Path(root), format, split, subset, predictor.card, 6 if quick else limit)
    t0 = time.perf_counter()
    pred, conf = prelabels(ds.root, samples, predictor)
    t_pre = time.perf_counter() - t0
    shape_model = editor_shape_model(predictor.shape_model)
    strategies = strategies or default_strategies()
    results = evaluate(samples, pred, conf, shape_model, strategies, normaliser, ds.schema)
    free = results.get("free", {}).get("mean_drags")
    plaus = plausibility_shares(samples, pred, shape_model, normaliser, ds.schema)
    rows = []
    for name, r in results.items():
        row = {"strategy": name, "stiffness": r["stiffness"], "mean_drags": r["mean_drags"],
               "ratio": None if not free else r["mean_drags"] / free, "first_drag_worse": 100 * r["first_drag_worse"],
               "drags_worse": 100 * r["drags_worse"], "worst_spoil": r["worst_spoil"]}
        for b, f in r["buckets"].items():
            row[f"drags_{b}"] = f.get("mean_drags")
        rows.append(row)
    columns = [("strategy", "strategy"), ("stiffness", "stiffness"), ("mean_drags", "mean drags to NME <= 2.5 %"),
               ("ratio", "x free drag"), ("first_drag_worse", "first drag worse, % faces"),
               ("drags_worse", "drags raising NME, %"), ("worst_spoil", "largest move of a correct point, % size"),
               ("drags_0-30", "drags |yaw| 0-30"), ("drags_30-60", "30-60"), ("drags_60-90", "60-90")]
    title = (f"Correction effort, {Path(root).name} {split or ''}{' ' + subset if subset else ''}, "
             f"{len(samples)} faces, model {predictor.name}")
    result = {"rows": rows, "columns": columns, "strategies": results, "faces": len(samples),
              "data": str(root), "format": format, "split": split, "subset": subset, "normaliser": normaliser,
              "checkpoint_sha256": predictor.sha256, "model": predictor.name,
              "shape_model": getattr(shape_model, "source", "the checkpoint's shape model"),
              "prelabel_seconds": t_pre, "plausibility": plaus,
              "notes": [f"{len(samples)} faces; pre-labels from ground-truth landmark boxes with {predictor.name} "
                        f"(sha256 {predictor.sha256[:12]}); NME normalised by {normaliser}; a face never reaching "
                        f"{THRESHOLD} % counts {CAP} drags.",
                        "first drag worse: share of faces whose NME rose after the first drag; largest move of a "
                        f"correct point: the most a point within {CORRECT_POINT} % of the truth moved away from it "
                        "in one drag (percent of the face size)."]}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        fig = figure(results, title)
        fig.write_html(out_dir / "correction.html", include_plotlyjs=True, full_html=True)
        result["figure"] = str(out_dir / "correction.html")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.bench_correction``: the benchmark with a stiffness / confidence-gain sweep."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_correction", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--format", default="aflw2000")
    ap.add_argument("--split", default="train")
    ap.add_argument("--subset", default="validation")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sweep", default="0.3,0.5,0.7,0.9", help="stiffness values of the conditional update")
    ap.add_argument("--gains", default="0,1", help="confidence gains")
    ap.add_argument("--out", type=Path, default=None, help="write the sweep's JSON here")
    args = ap.parse_args(argv)
    strategies = [Strategy("free", 0.0), Strategy("legacy", 1.0, "legacy")]
    for g in (float(v) for v in args.gains.split(",")):
        for s in (float(v) for v in args.sweep.split(",")):
            strategies.append(Strategy(f"s{s:g}-g{g:g}", s, None, g))
    r = run(data=args.data, format=args.format, split=args.split, subset=args.subset, limit=args.limit,
            strategies=strategies)
    if r.get("skipped"):
        print(r["skipped"], file=sys.stderr)
        return 1
    print(common.markdown_table(r["rows"], r["columns"]))
    if args.out:
        args.out.write_text(json.dumps(common._jsonable(r), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
