"""Evaluation metrics on 100k faces (ms) against a naive per-face Python loop (on 1k faces, scaled).

Faces: AFLW2000-3D test ground truth tiled to 100,000 faces (synthetic shapes without the data),
predictions = ground truth + Gaussian noise (3 px). Measured:

* ``asmnet_studio.evaluation.metrics``: NME with each of the four normalisers (interocular, interpupil, box,
  diagonal) + CED (1001 thresholds) + failure rate + AUC at 10 %, vectorised numpy over (N, 68, 2).
* ``asmnet_studio.evaluation.report.evaluate``: the whole report (per-image table, |yaw| buckets, per-landmark NME,
  mean shape), box normaliser, with ground-truth pose.
* naive: the same numbers from plain Python loops over faces and points (``math.hypot``), CED by counting
  per threshold, on 1,000 faces, scaled linearly to 100,000 (every part is linear in N). The results are
  checked equal to the vectorised ones on those 1,000 faces.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from bench import common

NAME = "evaluation"
TITLE = "Metrics for 100k faces (NME × 4 normalisers + CED + FR + AUC), ms"
COLUMNS = [("method", "method"), ("faces", "faces timed"), ("ms", "ms (measured)"), ("ms_100k", "ms per 100k faces"),
           ("ratio", "× vectorised")]


def _faces(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    loaded = common.load_aflw_test()
    if loaded is not None:
        gt0 = np.stack([s.points for s in loaded[1]]).astype(np.float64)
        pose0 = np.stack([s.pose for s in loaded[1]]).astype(np.float64)
    else:
        t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
        base = np.stack([np.cos(t), 1.3 * np.sin(t)], 1) * 60 + 200
        gt0 = base[None] + rng.normal(scale=4, size=(400, 68, 2))
        pose0 = rng.uniform(-90, 90, size=(400, 3))
    idx = np.arange(n) % len(gt0)
    gt = gt0[idx]
    pred = gt + rng.normal(scale=3.0, size=gt.shape)
    return pred, gt, pose0[idx]


def vectorised(pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    from asmnet_studio.evaluation import metrics

    out = {}
    for name in metrics.NORMALISERS:
        out[f"nme_{name}"] = metrics.nme(pred, gt, "ibug68", name)
    e = out["nme_box"]
    out["ced"] = metrics.ced(e, max_threshold=10.0, num=1001)[1]
    out["fr"] = metrics.failure_rate(e, 10.0)
    out["auc"] = metrics.auc(e, 10.0)
    return out


def naive(pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    """The same figures with per-face, per-point Python loops (no numpy in the inner loops)."""
    from asmnet_studio.datasets.schemas import IBUG68

    io_i, io_j = IBUG68.interocular
    right, left = IBUG68.pupils
    P, G = pred.tolist(), gt.tolist()
    res: dict[str, list] = {f"nme_{n}": [] for n in ("interocular", "interpupil", "box", "diagonal")}
    for p, g in zip(P, G):
        err = 0.0
        for (px, py), (gx, gy) in zip(p, g):
            err += math.hypot(px - gx, py - gy)
        err /= len(g)
        xs = [q[0] for q in g]
        ys = [q[1] for q in g]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        io = math.hypot(g[io_i][0] - g[io_j][0], g[io_i][1] - g[io_j][1])
        rx = sum(g[i][0] for i in right) / len(right)
        ry = sum(g[i][1] for i in right) / len(right)
        lx = sum(g[i][0] for i in left) / len(left)
        ly = sum(g[i][1] for i in left) / len(left)
        ip = math.hypot(rx - lx, ry - ly)
        res["nme_interocular"].append(100 * err / io)
        res["nme_interpupil"].append(100 * err / ip)
        res["nme_box"].append(100 * err / math.sqrt(w * h))
        res["nme_diagonal"].append(100 * err / math.sqrt(w * w + h * h))
    e = res["nme_box"]
    thresholds = [10.0 * i / 1000 for i in range(1001)]
    ced = []
    for t in thresholds:
        c = 0
        for v in e:
            if v <= t:
                c += 1
        ced.append(100.0 * c / len(e))
    fr = 100.0 * sum(1 for v in e if v > 10.0) / len(e)
    auc = 100.0 * sum(min(1.0, max(0.0, 1.0 - v / 10.0)) for v in e) / len(e)
    out: dict[str, Any] = {k: np.array(v) for k, v in res.items()}
    out.update(ced=np.array(ced), fr=fr, auc=auc)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n_big = 2_000 if quick else 100_000
    n_naive = 100 if quick else 1_000
    repeats = 1 if quick else 3
    pred, gt, pose = _faces(n_big, rng)

    def best_of(fn, r):
        ts = []
        for _ in range(r):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts)) * 1e3

    vectorised(pred[:100], gt[:100])  # warm up imports
    t_vec = best_of(lambda: vectorised(pred, gt), repeats)
    from asmnet_studio.evaluation.report import evaluate

    t_rep = best_of(lambda: evaluate(pred, gt, schema="ibug68", normaliser="box", gt_pose=pose), repeats)
    t_naive = best_of(lambda: naive(pred[:n_naive], gt[:n_naive]), 1)

    a, b = vectorised(pred[:n_naive], gt[:n_naive]), naive(pred[:n_naive], gt[:n_naive])
    max_diff = max(float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)))) for k in a)
    scale = 100_000 / n_big
    rows = [
        {"method": "asmnet_studio.evaluation.metrics (vectorised numpy)", "faces": n_big, "ms": t_vec,
         "ms_100k": t_vec * scale, "ratio": 1.0},
        {"method": "asmnet_studio.evaluation.report.evaluate (whole report, box NME)", "faces": n_big, "ms": t_rep,
         "ms_100k": t_rep * scale, "ratio": t_rep / t_vec},
        {"method": "naive per-face Python loop (scaled)", "faces": n_naive, "ms": t_naive,
         "ms_100k": t_naive * 100_000 / n_naive, "ratio": (t_naive * 100_000 / n_naive) / (t_vec * scale)},
    ]
    notes = [f"Median of {repeats} runs; naive loop timed once on {n_naive:,} faces and scaled linearly to 100k.",
             f"Vectorised and naive results agree on those faces: max |difference| {max_diff:.2e} (NME %, CED %).",
             "ms per 100k faces of the vectorised rows = measured (quick mode: scaled from its smaller N)."]
    return {"rows": rows, "columns": COLUMNS, "notes": notes, "max_abs_difference": max_diff}
