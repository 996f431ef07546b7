"""``asmnet predict``: landmarks and pose for every face of a dataset folder, written as a flat CSV.

On the CPU (``--backend auto``) the model is the checkpoint's ONNX runtime (``asmnet.inference.runtime``), loaded
without importing torch. With ground-truth boxes, ``--workers`` threads (default: one per CPU) each decode and
predict whole batches at once, each ONNX Runtime call on one thread: on 2 cores this beats one batch at a time
with two intra-op threads plus a decoding thread (``bench/RESULTS.md``). Rows are written in input order.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HELP = "predict landmarks + pose for a dataset folder and write a flat CSV (image, x0, y0, ..., yaw, pitch, roll)"
BOX_MODES = ("gt", "detect")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument("--format", required=True,
                        help="dataset format (see asmnet_studio.datasets.formats.format_names())")
    parser.add_argument("--split", default=None, help="only this split (e.g. test)")
    parser.add_argument("--boxes", default="gt", choices=BOX_MODES,
                        help="gt: crop from the ground-truth landmark box (fixed margin); detect: the face detector "
                             "(asmnet.inference.detect, the largest face), the box refined by the model (--refine)")
    parser.add_argument("--refine", type=int, default=None,
                        help="with --boxes detect: network passes per face, each re-cropped from the previous "
                             "pass's landmark box (default: asmnet.inference.refine.REFINE_PASSES; 1 = no refinement)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped asmnet68.pt)")
    parser.add_argument("--out", required=True, help="output CSV path")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--backend", default="auto",
                        help="inference backend: auto (the fast CPU path on the CPU, else torch), torch (the float "
                             "model), fast (onnx-int8 where `asmnet runtime` made it for the checkpoint, else onnx), "
                             "or one of asmnet.inference.runtime.BACKENDS")
    parser.add_argument("--flip-tta", choices=("auto", "on", "off"), default="auto",
                        help="average with the mirrored pass (auto: as the checkpoint card says)")
    parser.add_argument("--extra", action="store_true",
                        help="also write per-face uncertainty and mean confidence columns")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces (after --split)")
    parser.add_argument("--workers", type=int, default=None,
                        help="batches decoded and predicted at once with --boxes gt (default: one per CPU, "
                             "$ASMNET_THREADS or the CPUs this process may use); each ONNX Runtime call then runs "
                             "on one thread. --boxes detect runs one batch at a time")
    parser.add_argument("--no-progress", action="store_true")


def csv_header(num_points: int, extra: bool = False) -> list[str]:
    """``image, x0, y0, ..., x{K-1}, y{K-1}, yaw, pitch, roll`` (+ ``uncertainty, confidence``)."""
    cols = ["image"]
    for i in range(num_points):
        cols += [f"x{i}", f"y{i}"]
    cols += ["yaw", "pitch", "roll"]
    if extra:
        cols += ["uncertainty", "confidence"]
    return cols


def run(args: argparse.Namespace) -> int:
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.images import load_image

    from asmnet.inference.crop import landmark_box
    from asmnet.inference.predictor import Predictor

    if args.boxes not in BOX_MODES:
        raise ValueError(f"unknown --boxes {args.boxes!r}; choose one of {list(BOX_MODES)}")
    flip = {"auto": None, "on": True, "off": False}[args.flip_tta]
    workers = _workers(args)
    threads = 1 if workers > 1 else None  # parallel batches, one ONNX Runtime thread each
    if args.checkpoint:
        predictor = Predictor.from_checkpoint(args.checkpoint, args.device, flip_tta=flip, backend=args.backend,
                                              threads=threads)
    else:
        predictor = Predictor.default(args.device, backend=args.backend, threads=threads)
        if flip is not None:
            predictor.flip_tta = flip
    ds = read_dataset(args.data, args.format, split=args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be >= 1, found {args.limit}")
        ds.samples = ds.samples[:args.limit]
    if len(ds) == 0:
        raise ValueError(f"{args.data}: no samples (format {args.format}, split {args.split!r})")
    k = predictor.schema.num_points
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    from tqdm import tqdm

    from asmnet.inference.refine import REFINE_PASSES

    passes = REFINE_PASSES if args.refine is None else args.refine
    if passes < 1:
        raise ValueError(f"--refine must be >= 1, found {passes}")
    missed: list[str] = []
    bar = tqdm(total=len(ds), desc="predicting", unit="face", disable=args.no_progress or None, file=sys.stderr)
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(csv_header(k, args.extra))
        samples = ds.samples
        chunks = [samples[i:i + args.batch_size] for i in range(0, len(samples), args.batch_size)]

        def work(chunk):
            images = [load_image(Path(ds.root) / s.image) for s in chunk]
            if args.boxes == "gt":
                return predictor.predict_batch(images, [landmark_box(s.points) for s in chunk],
                                               batch_size=args.batch_size)
            return _detected(predictor, images, passes, args.batch_size)

        # `workers` batches in flight (decoding, OpenCV and ONNX Runtime release the GIL); this thread writes rows
        with ThreadPoolExecutor(max_workers=workers) as pool:
            queue, pending = iter(chunks), deque()
            for chunk in queue:
                pending.append((chunk, pool.submit(work, chunk)))
                if len(pending) > workers:
                    break
            while pending:
                chunk, future = pending.popleft()
                preds = future.result()
                following = next(queue, None)
                if following is not None:
                    pending.append((following, pool.submit(work, following)))
                if args.boxes == "detect":
                    missed += [s.image for s, p in zip(chunk, preds) if p.extras.get("no_face")]
                pts = np.stack([p.points for p in preds]).reshape(len(preds), -1)
                pose = np.stack([p.pose for p in preds])
                for j, (s, p) in enumerate(zip(chunk, preds)):
                    row = [s.image] + [f"{v:.3f}" for v in pts[j].tolist()] + [f"{v:.3f}" for v in pose[j].tolist()]
                    if args.extra:
                        row += [f"{p.uncertainty:.5f}", f"{float(p.confidence.mean()):.4f}"]
                    w.writerow(row)
                bar.update(len(chunk))
    bar.close()
    tmp.replace(out)
    print(f"wrote {len(ds)} predictions to {out} (model {predictor.name}, sha256 {predictor.sha256[:12]}, "
          f"boxes {args.boxes}{f', {passes} pass(es)' if args.boxes == 'detect' else ''})", file=sys.stderr)
    if args.boxes == "detect":
        found = len(ds) - len(missed)
        print(f"face found in {found} of {len(ds)} images ({100 * found / len(ds):.1f} %); the other "
              f"{len(missed)} were predicted from the whole image (counted in any evaluation)"
              f"{': ' if missed else ''}{', '.join(missed[:10])}{' ...' if len(missed) > 10 else ''}", file=sys.stderr)
    return 0


def _workers(args: argparse.Namespace) -> int:
    """Batches run at once: ``--workers`` (>= 1), else one per CPU with ground-truth boxes; 1 with ``--boxes detect``
    (the detectors are not shared across threads)."""
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, found {args.workers}")
    if args.boxes == "detect":
        return 1
    from asmnet.inference.runtime import default_threads

    return int(args.workers or default_threads())


def _detected(predictor, images: list, passes: int, batch_size: int) -> list:
    """Predictions from the detector's largest face, refined (``asmnet.inference.refine``); where no face is found,
    from the whole image (``Predictor.face_box``'s fallback, refined the same way), marked ``extras["no_face"]``."""
    from asmnet.inference.detect import face_boxes
    from asmnet.inference.refine import predict_refined

    boxes = [face_boxes(im)[:1] for im in images]
    out: list = [None] * len(images)
    hit = [i for i, b in enumerate(boxes) if len(b)]
    miss = [i for i, b in enumerate(boxes) if not len(b)]
    if hit:
        refined = predict_refined(predictor, [images[i] for i in hit], [boxes[i][0] for i in hit], passes=passes,
                                  batch_size=batch_size)
        for i, p in zip(hit, refined):
            out[i] = p
    if miss:
        whole = predict_refined(predictor, [images[i] for i in miss], [predictor.face_box(images[i]) for i in miss],
                                passes=passes, batch_size=batch_size)
        for i, p in zip(miss, whole):
            p.extras["no_face"] = True
            out[i] = p
    return out
