"""Face detectors on AFLW2000-3D: how often each finds the face, per |yaw| bucket, and the constants that
map its boxes to the 68-point landmark box (``asmnet.inference.detect.DETECTION_TO_FACE``).

    python -m bench.detector_study --split train [--backends mtcnn opencv-haar] \
        [--out bench/results/detector_train.json]

A face counts as found when a detection (after the detector's own score threshold) contains the centre of
the ground-truth landmark box; that detection is the one measured (the largest when several do). The
constants are medians over the found faces of the *train* split: centre offset (dx, dy) and size (w, h)
of the landmark box in units of the detection's larger side. ``extra`` counts detections containing no
ground-truth face (AFLW2000-3D has one annotated face per image, so some may be real unannotated faces).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench import common


def study(split: str, backends: list[str], limit: int | None = None) -> dict:
    from asmnet.inference.crop import landmark_box
    from asmnet.inference.detect import detect_faces_scored
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.images import load_image
    from asmnet_studio.evaluation.pose import yaw_bucket_index

    root = common.aflw_dir()
    if root is None:
        raise SystemExit(common.missing_data_reason())
    ds = read_dataset(root, "aflw2000", split=split)
    samples = ds.samples[:limit] if limit else ds.samples
    out: dict = {"split": split, "images": len(samples), "backends": {}}
    images = [load_image(ds.root / s.image) for s in samples]
    for be in backends:
        found = np.zeros(len(samples), bool)
        bucket = yaw_bucket_index([float(s.pose[0]) for s in samples])
        rel, extra, secs = [], 0, 0.0
        for i, (s, img) in enumerate(zip(samples, images)):
            t0 = time.perf_counter()
            boxes, _ = detect_faces_scored(img, backend=be)
            secs += time.perf_counter() - t0
            gt = landmark_box(s.points).astype(np.float64)
            c = (gt[:2] + gt[2:]) / 2
            inside = [j for j, b in enumerate(boxes) if b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]]
            extra += len(boxes) - len(inside)
            if not inside:
                continue
            found[i] = True
            b = boxes[inside[0]].astype(np.float64)
            d = max(b[2] - b[0], b[3] - b[1])
            bc = (b[:2] + b[2:]) / 2
            rel.append([(c[0] - bc[0]) / d, (c[1] - bc[1]) / d, (gt[2] - gt[0]) / d, (gt[3] - gt[1]) / d])
        rel = np.asarray(rel)
        med = np.median(rel, axis=0) if len(rel) else np.full(4, np.nan)
        out["backends"][be] = {
            "found": float(found.mean()),
            "found_per_bucket": [float(found[bucket == k].mean()) if (bucket == k).any() else None
                                 for k in range(3)],
            "faces_per_bucket": [int((bucket == k).sum()) for k in range(3)],
            "extra_detections": int(extra),
            "ms_per_image": 1000 * secs / max(len(samples), 1),
            "constants": {"dx": round(float(med[0]), 3), "dy": round(float(med[1]), 3),
                          "w": round(float(med[2]), 3), "h": round(float(med[3]), 3)},
            "missed": [samples[i].image for i in np.flatnonzero(~found)],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.detector_study", description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train", help="AFLW2000-3D split (constants: train)")
    ap.add_argument("--backends", nargs="+", default=["mtcnn", "opencv-haar"])
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    ap.add_argument("--out", default=None, help="write the JSON here")
    args = ap.parse_args(argv)
    common.set_threads()
    res = study(args.split, args.backends, args.limit)
    for be, r in res["backends"].items():
        print(f"{be}: found {100 * r['found']:.1f} % ({', '.join(f'{100 * f:.1f}' for f in r['found_per_bucket'])} "
              f"per |yaw| bucket), extra {r['extra_detections']}, {r['ms_per_image']:.0f} ms/image, "
              f"constants {r['constants']}", file=sys.stderr)
    if args.out:
        common.write_json(res, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
