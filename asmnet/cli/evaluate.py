"""``asmnet evaluate``: landmark (and pose) metrics of a model or of another tool's predictions.

Writes ``summary.json``, ``per_image.csv`` and a self-contained ``report.html`` into ``--out`` and prints
the summary. NME, failure rate and AUC are percentages; angles are degrees.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from asmnet_studio.datasets.images import load_image
from asmnet_studio.evaluation.metrics import NORMALISERS

HELP = "evaluate a checkpoint or a predictions file against a dataset's ground truth (NME, FR, AUC, pose MAE)"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="dataset folder (the ground truth)")
    parser.add_argument("--format", required=True, help="dataset format name, e.g. aflw2000, pts, 300w, wflw")
    parser.add_argument("--split", default=None, help="evaluate one split only, e.g. test")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", type=Path, default=None,
                     help="model checkpoint to run (default: the shipped checkpoint when no --predictions)")
    src.add_argument("--predictions", type=Path, default=None,
                     help="another tool's predictions: a CSV image,x0,y0,...[,yaw,pitch,roll] (0-based pixels) "
                          "or a folder of .pts files (1-based)")
    parser.add_argument("--normaliser", choices=NORMALISERS, default=None,
                        help="NME normaliser (default: the format's usual one: aflw2000 box, 300-W/WFLW interocular)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output folder for summary.json, per_image.csv, report.html")
    parser.add_argument("--intersection", action="store_true",
                        help="evaluate only the ground-truth images that have a prediction "
                             "(default: error if any is missing)")
    parser.add_argument("--failure-threshold", type=float, default=10.0,
                        help="NME %% above which a face fails (default 10)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per model batch (checkpoint mode)")
    parser.add_argument("--worst", type=int, default=20,
                        help="how many worst faces to list and show in the report (default 20)")
    parser.add_argument("--title", default=None, help="report title")


def _gt_boxes(gt: np.ndarray) -> np.ndarray:
    """(N, 4) float32 x0, y0, x1, y1 of the ground-truth landmark boxes."""
    lo = np.stack([gt[..., 0].min(axis=1), gt[..., 1].min(axis=1)], axis=1)
    hi = np.stack([gt[..., 0].max(axis=1), gt[..., 1].max(axis=1)], axis=1)
    return np.concatenate([lo, hi], axis=1).astype(np.float32)


def _run_model(checkpoint: Path | None, root: Path, samples, batch_size: int):
    """(points (N, K, 2), pose (N, 3) | None, description) from the predictor on each sample's GT box."""
    from tqdm import tqdm

    from asmnet.inference.predictor import Predictor  # torch is loaded only in this mode

    predictor = Predictor.default() if checkpoint is None else Predictor.from_checkpoint(checkpoint)
    schema_name = getattr(predictor.schema, "name", predictor.schema)
    if samples and schema_name != samples[0].schema:
        raise ValueError(f"the model predicts {schema_name!r} landmarks but the dataset has {samples[0].schema!r}")
    gt = np.stack([s.points for s in samples]).astype(np.float64)
    boxes = _gt_boxes(gt)
    pts, poses = [], []
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, found {batch_size}")
    with tqdm(total=len(samples), desc="predict", unit="img", file=sys.stderr) as bar:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            images = [load_image(Path(root) / s.image) for s in chunk]
            preds = predictor.predict_batch(images, list(boxes[start:start + batch_size]), batch_size=batch_size)
            for p in preds:
                pts.append(np.asarray(p.points, dtype=np.float64))
                poses.append(None if getattr(p, "pose", None) is None else np.asarray(p.pose, dtype=np.float64))
            bar.update(len(chunk))
    pose = np.stack(poses) if poses and all(p is not None and p.size == 3 for p in poses) else None
    sha = str(getattr(predictor, "sha256", ""))[:12]
    desc = f"{getattr(predictor, 'name', 'model')} ({checkpoint or 'shipped default'}, sha256 {sha})"
    return np.stack(pts), pose, desc


def format_summary(summary: dict) -> str:
    """The summary as an aligned two-column text table (percentages and degrees to 2 decimals)."""
    lines = []
    for k, v in summary.items():
        if isinstance(v, dict):
            v = "  ".join(f"{a}={'—' if x is None else f'{x:.2f}'}" for a, x in v.items())
        elif isinstance(v, float):
            v = f"{v:.2f}"
        elif v is None:
            v = "—"
        lines.append(f"{k:<16} {v}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.schemas import get_schema
    from asmnet_studio.evaluation.html import thumbnail_data_uri, write_report_html
    from asmnet_studio.evaluation.predictions import match_predictions, read_predictions
    from asmnet_studio.evaluation.report import default_normaliser, evaluate

    if args.worst < 0:
        raise ValueError(f"--worst must be >= 0, found {args.worst}")
    ds = read_dataset(args.data, args.format, split=args.split)
    if ds.problems:
        print(f"{len(ds.problems)} annotation(s) skipped while reading {args.data}, e.g. {ds.problems[0]}",
              file=sys.stderr)
    samples = list(ds.samples)
    if not samples:
        where = f" (split {args.split!r})" if args.split else ""
        raise ValueError(f"no ground-truth faces in {args.data}{where}; {len(ds.problems)} problem(s) while reading")
    schema = get_schema(ds.schema)
    normaliser = args.normaliser or default_normaliser(args.format, schema)
    details: dict[str, str] = {"data": f"{args.data} (format {args.format}, split {args.split or 'all'})"}

    if args.predictions is not None:
        matched = match_predictions(read_predictions(args.predictions), samples, intersection=args.intersection)
        if matched.missing:
            print(f"evaluating {len(matched.indices)} of {len(samples)} images; {len(matched.missing)} have no "
                  f"prediction (e.g. {', '.join(matched.missing[:3])})", file=sys.stderr)
        if matched.unused:
            print(f"{len(matched.unused)} prediction(s) match no ground-truth image of this selection "
                  f"(e.g. {matched.unused[0]})", file=sys.stderr)
        samples = [samples[i] for i in matched.indices]
        pred, pred_pose = matched.points, matched.pose
        details["predictions"] = str(args.predictions)
    else:
        pred, pred_pose, desc = _run_model(args.checkpoint, ds.root, samples, args.batch_size)
        details["model"] = desc

    gt = np.stack([s.points for s in samples]).astype(np.float64)
    gt_pose = np.stack([s.pose for s in samples]) if all(s.pose is not None for s in samples) else None
    vis = None
    if any(s.visibility is not None for s in samples):
        vis = np.stack([s.visibility if s.visibility is not None else np.full(s.num_points, 2, np.int8)
                        for s in samples])
    subsets = [s.subset for s in samples] if any(s.subset for s in samples) else None
    attributes = [dict(s.attributes) for s in samples] if any(s.attributes for s in samples) else None

    # an image with several faces gets one row per face, named "<image>#<face>"
    counts: dict[str, int] = {}
    for smp in samples:
        counts[smp.image] = counts.get(smp.image, 0) + 1
    names = [smp.image if counts[smp.image] == 1 else f"{smp.image}#{smp.face}" for smp in samples]

    report = evaluate(pred, gt, schema=schema, normaliser=normaliser,
                      pred_pose=pred_pose if gt_pose is not None else None, gt_pose=gt_pose,
                      names=names, visibility=vis, subsets=subsets, attributes=attributes,
                      failure_threshold=args.failure_threshold)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(report.summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    report.per_image.to_csv(out / "per_image.csv", index=False)
    thumbs = {}
    row_of = {name: i for i, name in enumerate(names)}
    for name in report.worst(args.worst)["image"]:
        i = row_of[name]
        try:
            thumbs[name] = thumbnail_data_uri(load_image(Path(ds.root) / samples[i].image), pred[i], gt[i])
        except (OSError, ValueError) as exc:  # a missing / unreadable image only loses its thumbnail
            print(f"no thumbnail for {name}: {exc}", file=sys.stderr)
    write_report_html(report, out / "report.html", title=args.title or f"Evaluation: {args.data.name}",
                      details=details, worst=args.worst, thumbnails=thumbs)
    print(format_summary(report.summary))
    print(f"wrote {out / 'summary.json'}, {out / 'per_image.csv'}, {out / 'report.html'}")
    return 0
