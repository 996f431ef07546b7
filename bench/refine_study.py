"""Landmarks from detected boxes, with and without box refinement, against ground-truth boxes (AFLW2000-3D).

    python -m bench.refine_study --split val  [--checkpoint CKPT] [--out bench/results/refine_val.json]
    python -m bench.refine_study --split test [--checkpoint CKPT] [--out bench/results/refine_test.json]

``val`` is the validation tenth of the train split the shipped model was selected on (the same
|yaw|-stratified draw as ``asmnet train``: ``asmnet.training.data.split_validation``, fraction 0.1, seed 0): the
settings (number of passes) are chosen there; ``test`` reports. For each image: the ground-truth landmark
box crop (the model's own figure), and the detector's box (``asmnet.inference.detect.face_boxes``, the largest face;
where none is found, the whole image as ``Predictor.face_box`` frames it, counted in the figures) refined by
``asmnet.inference.refine.predict_refined`` with 1..N passes. Box-normalised NME per |yaw| bucket and balanced
(mean of the three buckets), percent.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from bench import common


class _Poses:
    def __init__(self, yaw):
        self.pose = np.stack([yaw, np.zeros_like(yaw), np.zeros_like(yaw)], 1)

    def __len__(self):
        return len(self.pose)


def samples_of(split: str):
    """(dataset, samples) of AFLW2000-3D ``train`` / ``test`` / ``val`` (validation tenth of train)."""
    from asmnet.training.data import split_validation
    from asmnet_studio.datasets.formats import read_dataset

    root = common.aflw_dir()
    if root is None:
        raise SystemExit(common.missing_data_reason())
    ds = read_dataset(root, "aflw2000", split="train" if split == "val" else split)
    samples = ds.samples
    if split == "val":
        _, val = split_validation(_Poses(np.array([float(s.pose[0]) for s in samples])), 0.1, 0)
        samples = [samples[i] for i in val]
    return ds, samples


def balanced(nme: np.ndarray, yaw: np.ndarray) -> dict:
    from asmnet_studio.evaluation.metrics import failure_rate
    from asmnet_studio.evaluation.pose import bucket_means

    per, bal = bucket_means(nme, yaw)
    return {"nme_0_30": per["0-30"], "nme_30_60": per["30-60"], "nme_60_90": per["60-90"], "nme_balanced": bal,
            "nme_mean": float(np.mean(nme)), "fr_10": failure_rate(nme, 10.0) / 100.0}


def study(split: str, checkpoint: str | None, max_passes: int) -> dict:
    from asmnet.inference.crop import landmark_box
    from asmnet.inference.detect import detector_name, face_boxes
    from asmnet.inference.predictor import Predictor
    from asmnet.inference.refine import predict_refined
    from asmnet_studio.datasets.images import load_image
    from asmnet_studio.evaluation.metrics import nme

    ds, samples = samples_of(split)
    pred = (Predictor.from_checkpoint(checkpoint, backend="auto") if checkpoint
            else Predictor.default(backend="auto"))
    images = [load_image(ds.root / s.image) for s in samples]
    gt = np.stack([s.points for s in samples]).astype(np.float64)
    yaw = np.array([float(s.pose[0]) for s in samples])
    out = {"split": split, "faces": len(samples), "model": pred.name, "sha256": pred.sha256,
           "detector": detector_name()}
    p = pred.predict_batch(images, [landmark_box(s.points) for s in samples])
    out["gt_boxes"] = balanced(nme(np.stack([q.points for q in p]), gt, "ibug68", "box"), yaw)
    boxes, found = [], []
    for im in images:
        fb = face_boxes(im)
        found.append(len(fb) > 0)
        if len(fb):
            boxes.append(fb[0])
        else:  # as `asmnet predict --boxes detect`: the predictor's whole-image box
            boxes.append(pred.face_box(im))
    found = np.array(found)
    out["found"] = float(found.mean())
    out["detected"] = {}
    for n in range(1, max_passes + 1):
        q = predict_refined(pred, images, boxes, passes=n)
        e = nme(np.stack([r.points for r in q]), gt, "ibug68", "box")
        out["detected"][n] = dict(balanced(e, yaw), mean_passes=float(np.mean([r.extras["passes"] for r in q])),
                                  nme_found_only=float(np.mean(e[found])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.refine_study", description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val", choices=("val", "test", "train"))
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--passes", type=int, default=4, help="measure 1..N passes")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    common.set_threads()
    res = study(args.split, args.checkpoint, args.passes)
    g = res["gt_boxes"]
    print(f"{res['split']}: {res['faces']} faces, model {res['model']}, detector {res['detector']}, "
          f"found {100 * res['found']:.1f} %", file=sys.stderr)
    print(f"  gt boxes: balanced {g['nme_balanced']:.2f} ({g['nme_0_30']:.2f} / {g['nme_30_60']:.2f} / "
          f"{g['nme_60_90']:.2f})", file=sys.stderr)
    for n, r in res["detected"].items():
        print(f"  detected, {n} pass(es): balanced {r['nme_balanced']:.2f} ({r['nme_0_30']:.2f} / "
              f"{r['nme_30_60']:.2f} / {r['nme_60_90']:.2f}), ratio {r['nme_balanced'] / g['nme_balanced']:.3f}, "
              f"mean passes {r['mean_passes']:.2f}", file=sys.stderr)
    if args.out:
        common.write_json(res, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
