"""Batch pre-labelling throughput, end to end: decode, face box, crop + network, store.

On AFLW2000-3D test images (200; ``--quick``: 6) added to a temporary file workspace (untimed), each
variant runs ``asmnet.inference.prelabel.prelabel_images`` over the image files and stores every batch with
``Workspace.save_predictions`` (one transaction per batch of 32) as it comes:

* ``sequential``: ``workers=0``, decode / detect / infer / store one after the other in one thread
  (the peer: what a plain loop over ``predict_batch`` does).
* ``pipeline``: ``workers=2`` decode + detect threads running ahead of the network (``prefetch`` 2 batches).

Face boxes: ``detector (NAME)`` = none given, the pipeline runs that detector on every image (raw images
pre-labelled end to end: decode, detect every face, landmarks with box refinement, store), for the default
MTCNN and, as the peer of the same run, the Haar cascades that were the default before (fast backend,
pipeline only); ``stored box`` = the box stored with the image in the workspace (here the ground-truth
landmark box, as after an import), so no detection. Backends: ``torch`` (float model) and ``asmnet.inference.fast``'s
default. Ratio = images/s divided by the sequential float-model run of the same box mode (the Haar row:
divided by the MTCNN pipeline row of the same backend, i.e. < 1 means slower than MTCNN).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

NAME = "prelabel"
TITLE = "Batch pre-labelling a folder end to end (images/s)"
COLUMNS = [("boxes", "face boxes"), ("backend", "backend"), ("mode", "pipeline"), ("images", "images"),
           ("faces_found", "faces found"), ("seconds", "seconds"), ("images_per_s", "images/s"),
           ("ratio", "× reference (see notes)")]


def run(quick: bool = False) -> dict[str, Any]:
    common.set_threads()
    loaded = common.load_aflw_test(4 if quick else 200)
    if loaded is None:
        return {"rows": [], "columns": COLUMNS, "notes": [], "skipped": common.missing_data_reason()}
    ds, samples = loaded
    from asmnet.inference.crop import landmark_box
    from asmnet.inference.detect import detector_name
    from asmnet.inference.fast import resolve_default
    from asmnet.model.network import create_model
    from asmnet.inference.predictor import Predictor
    from asmnet.inference.prelabel import prelabel_images
    from asmnet.inference.workspace_prelabel import prediction_row
    from asmnet_studio.datasets.store import Workspace

    ckpt, how = common.checkpoint_path()
    if ckpt is not None:
        base = Predictor.from_checkpoint(ckpt)
    else:
        cfg = {"model": "asmnet", "num_points": 68, "input_size": 128, "crop_margin": 1.3, "schema": "ibug68"}
        base = Predictor(create_model("asmnet").eval(), cfg, None, name="asmnet (untrained)", sha256="-")
    fast_name = resolve_default(ckpt)  # the app's CPU path for this checkpoint (its shipped int8 runtime)
    notes = [f"ASMNet weights: {how}; detector: {detector_name()}; {len(samples)} images "
             f"({'quick' if quick else 'AFLW2000-3D test'}), batch 32, torch/onnxruntime threads {common.THREADS}, "
             f"pipeline workers 2."]
    batch = 32 if not quick else 2
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-prelabel-") as tmp:
        ws = Workspace(Path(tmp) / "ws.db")
        ids, paths, gt_boxes = [], [], []
        for s in samples:
            b = landmark_box(s.points)
            ids.append(ws.add_image(ds.root / s.image, dataset="aflw2000", split="test", box=b))
        recs = {r.id: r for r in ws.images()}
        paths = [recs[i].path for i in ids]
        stored = [recs[i].box for i in ids]
        model_id = ws.register_model(base.name, str(ckpt or "-"), base.sha256, {})
        predictors = {"torch": base}
        if fast_name != "torch":
            from asmnet.inference.fast import accelerate

            p = Predictor(base.model, base.config, base.shape_model, name=base.name, sha256=base.sha256,
                          card=base.card)
            p.checkpoint_path = ckpt  # where accelerate finds the checkpoint's runtime
            predictors[fast_name] = accelerate(p, fast_name)
        for p in predictors.values():  # warm up (first-call allocations, onnxruntime arena)
            prelabel_images(p, paths[:4], stored[:4], batch_size=4, workers=0)

        def store(indices: list[int], preds: list) -> None:
            rowsb = [prediction_row(ids[i], model_id, q) for i, q in zip(indices, preds) if len(q.points)]
            ws.save_predictions(rowsb)

        import os

        from asmnet.inference.detect import available_detectors

        runs = [("detector (mtcnn)", be, mode, w) for be in predictors
                for mode, w in (("sequential", 0), ("pipeline", 2))]
        if "opencv-haar" in available_detectors():
            runs.append(("detector (opencv-haar)", fast_name, "pipeline", 2))
        runs += [("stored box", be, mode, w) for be in predictors for mode, w in (("sequential", 0), ("pipeline", 2))]
        refs: dict[str, float] = {}
        for box_mode, be, mode, workers in runs:
            pred = predictors[be]
            boxes = None if box_mode.startswith("detector") else stored
            done = []
            old = os.environ.get("ASMNET_DETECTOR")
            if box_mode.startswith("detector"):
                os.environ["ASMNET_DETECTOR"] = box_mode[len("detector ("):-1]
            try:
                t0 = time.perf_counter()
                out = prelabel_images(pred, paths, boxes, batch_size=batch, workers=workers,
                                      progress=lambda d, n: done.append(d), on_batch=store)
                dt = time.perf_counter() - t0
            finally:
                if old is None:
                    os.environ.pop("ASMNET_DETECTOR", None)
                else:
                    os.environ["ASMNET_DETECTOR"] = old
            if len(out) != len(paths) or done[-1] != len(paths):
                raise RuntimeError("prelabel_images returned the wrong number of predictions")
            ips = len(paths) / dt
            key = "detector (mtcnn)" if box_mode.startswith("detector") else box_mode
            if "haar" in box_mode:
                ref = refs.get(f"{key}|{be}|pipeline", ips)
            else:
                ref = refs.setdefault(key, ips)
                refs[f"{key}|{be}|{mode}"] = ips
            rows.append({"boxes": box_mode, "backend": be, "mode": mode, "images": len(paths),
                         "seconds": dt, "images_per_s": ips, "ratio": ips / ref,
                         "faces_found": int(sum(len(q.points) > 0 for q in out))})
        n_stored = len(ws.predictions(ids[0])) if hasattr(ws, "predictions") else None
        ws.close()
    notes.append("Ratio: images/s over the sequential float-model run of the same box mode; for the Haar row, over "
                 "the MTCNN pipeline run of the same backend (the peer: the pipeline as it was before MTCNN). "
                 "Faces found: images where the detector found a face (a detected face is refined by the model, "
                 "asmnet.inference.refine; an image without one gets no prediction).")
    notes.append("Every run stores its predictions (one save_predictions transaction per batch); "
                 f"{n_stored} prediction rows per image at the end (one per run)." if n_stored else
                 "Every run stores its predictions (one save_predictions transaction per batch).")
    return {"rows": rows, "columns": COLUMNS, "notes": notes, "checkpoint_choice": how, "backend_fast": fast_name}
