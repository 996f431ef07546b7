"""Landmark inference given a face box: ms/face at batch 1 and 32, with each model's NME beside it.

Models, all on the same AFLW2000-3D test faces and boxes, torch / onnxruntime threads = ``THREADS`` (2):

* ASMNet, the trained checkpoint (shipped one, else ``runs/asmnet68-cpu/best.pt``) through
  ``Predictor.predict_batch`` (crop, network on the face and its mirror image, confidence, uncertainty),
  with each inference backend of ``asmnet.fast`` (``torch`` = the float model as trained).
* The MobileNetV2 baseline (same heads and crop), **untrained** weights: its speed is real, its accuracy
  column reads "not trained".
* dlib's 68-point ERT predictor (``dlib.shape_predictor``, single-threaded, no batch API: "batch 32" is
  32 calls), on (a) the ground-truth landmark box itself as the ``dlib.rectangle`` and (b) that box mapped
  to the frame of dlib's own detector boxes (which its model was trained on; the inverse of
  ``asmnet.detect.face_box_from_detection``).

Face box = the tight ground-truth landmark box (what ``asmnet predict --boxes gt`` uses). NME = box-
normalised, percent, via ``evaluation.report.evaluate``; "balanced" = mean of the |yaw| bucket means.
Ratios: ms/face divided by dlib's (a) ms/face measured in the same run (< 1 = faster than dlib).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench import common

NAME = "inference"
TITLE = "Landmark inference given a face box (ms per face) and accuracy on AFLW2000-3D test"

COLUMNS = [("model", "model"), ("backend", "backend"), ("b1_ms", "batch 1 ms/face"),
           ("b32_ms", "batch 32 ms/face"), ("b32_fps", "batch 32 faces/s"), ("net_ms", "network ms/face (both passes)"),
           ("nme_balanced", "NME balanced %"), ("nme", "NME all %"), ("nme_buckets", "NME 0-30 / 30-60 / 60-90"),
           ("dnme", "ΔNME vs float"), ("b1_x_dlib", "b1 time × dlib"), ("b32_x_dlib", "b32 time × dlib")]

#: issue 7's targets for the default fast backend on the 2-core machine
TARGET_B1_MS = 5.0
TARGET_B32_FPS = 400.0

ASMNET_BACKENDS_FULL = ("torch", "fused", "fused-nchw", "jit", "int8", "onnx")


def _evaluate(preds: np.ndarray, pred_pose: np.ndarray | None, samples) -> dict[str, Any]:
    from evaluation.report import evaluate

    gt = np.stack([s.points for s in samples])
    gt_pose = np.stack([s.pose for s in samples]) if all(s.pose is not None for s in samples) else None
    rep = evaluate(preds, gt, schema="ibug68", normaliser="box", gt_pose=gt_pose,
                   pred_pose=pred_pose if gt_pose is not None else None)
    s = rep.summary
    out = {"nme": s["nme"], "nme_balanced": s["nme_balanced"], "fr_10": s["fr_10"], "auc_10": s["auc_10"],
           "buckets": s["nme_buckets"]}
    if "pose_mae" in s:
        out["pose_mae"] = s["pose_mae"]["mean"]
    return out


def _bucket_text(b: dict | None) -> str | None:
    if not b:
        return None
    return " / ".join("–" if b.get(k) is None else f"{b[k]:.2f}" for k in ("0-30", "30-60", "60-90"))


def _time_predictor(predictor, images, boxes, batch: int, b1_faces: int, passes: int) -> dict[str, Any]:
    """b1 ms/face (median over faces), b32 ms/face (median over full batches), predictions of the batch run."""
    n = len(images)
    # batch 1: one call per face
    for i in range(min(3, n)):
        predictor.predict_batch([images[i]], [boxes[i]], batch_size=1)
    t1 = []
    for i in range(min(b1_faces, n)):
        t0 = time.perf_counter()
        predictor.predict_batch([images[i]], [boxes[i]], batch_size=1)
        t1.append(time.perf_counter() - t0)
    # batch B: full batches only (the last partial one is predicted but not timed)
    predictor.predict_batch(images[:batch], boxes[:batch], batch_size=batch)
    tb: list[float] = []
    preds = None
    for _ in range(passes):
        out = []
        for s in range(0, n, batch):
            t0 = time.perf_counter()
            out += predictor.predict_batch(images[s:s + batch], boxes[s:s + batch], batch_size=batch)
            dt = time.perf_counter() - t0
            if s + batch <= n:
                tb.append(dt / batch)
        preds = preds or out
    return {"b1": common.stats(t1), "b32": common.stats(tb), "preds": preds}


def _time_network(predictor, size: int, batch: int, repeats: int) -> dict[str, float]:
    """One face's share of the network call at ``batch`` faces: the plain and mirrored crops as one batch of
    2 x ``batch`` through ``predictor._forward``, exactly as ``Predictor._run`` calls it."""
    x = np.random.default_rng(0).random((2 * batch, 3, size, size), dtype=np.float32)
    return common.stats([t / batch for t in common.time_calls(lambda: predictor._forward(x), repeats)])


def _dlib_rows(images, boxes, samples, b1_faces: int, quick: bool) -> tuple[list[dict], list[str]]:
    notes: list[str] = []
    path = common.dlib_model_path()
    try:
        import dlib
    except ImportError:
        return [], ["dlib is not installed (pip install dlib-bin face_recognition_models): no dlib row"]
    if path is None:
        return [], ["face_recognition_models (dlib's shape_predictor_68_face_landmarks.dat) not installed: no dlib row"]
    sp = dlib.shape_predictor(str(path))
    from asmnet.detect import DETECTION_TO_FACE

    k = DETECTION_TO_FACE["dlib-hog"]

    def rect_gt(b):
        return dlib.rectangle(int(round(b[0])), int(round(b[1])), int(round(b[2])), int(round(b[3])))

    def rect_det(b):  # inverse of face_box_from_detection for dlib-hog boxes
        d = ((b[2] - b[0]) / k["w"] + (b[3] - b[1]) / k["h"]) / 2
        cx = (b[0] + b[2]) / 2 - k["dx"] * d
        cy = (b[1] + b[3]) / 2 - k["dy"] * d
        return dlib.rectangle(int(round(cx - d / 2)), int(round(cy - d / 2)), int(round(cx + d / 2)),
                              int(round(cy + d / 2)))

    rows = []
    for label, make in (("GT landmark box", rect_gt), ("GT box → dlib detector frame", rect_det)):
        rects = [make(b) for b in boxes]
        imgs = [np.ascontiguousarray(im) for im in images]

        def one(i):
            s = sp(imgs[i], rects[i])
            return np.array([[p.x, p.y] for p in s.parts()], np.float32)

        for i in range(min(3, len(imgs))):
            one(i)
        times, preds = [], []
        for i in range(len(imgs)):
            t0 = time.perf_counter()
            preds.append(one(i))
            times.append(time.perf_counter() - t0)
        st = common.stats(times[:b1_faces] if quick else times)
        acc = _evaluate(np.stack(preds), None, samples)
        rows.append({"model": "dlib ERT 68", "backend": f"dlib {dlib.__version__} ({label})",
                     "b1_ms": st["median"], "b32_ms": st["median"], "b32_fps": 1e3 / st["median"],
                     "net_ms": None, "nme_balanced": acc["nme_balanced"], "nme": acc["nme"],
                     "nme_buckets": _bucket_text(acc["buckets"]), "timing": {"per_face": st}, "accuracy": acc})
    notes.append("dlib: single-threaded and no batch API, so its batch-32 figure is the per-call time; its points "
                 "are integers. Row (a) hands it the tight landmark box, row (b) that box mapped to the frame of "
                 "dlib's own detector (what its model was trained on).")
    return rows, notes


def run(quick: bool = False) -> dict[str, Any]:
    common.set_threads()
    loaded = common.load_aflw_test(4 if quick else None)
    if loaded is None:
        return {"rows": [], "columns": COLUMNS, "notes": [], "skipped": common.missing_data_reason()}
    ds, samples = loaded
    from asmnet.crop import landmark_box
    from asmnet.fast import onnxruntime_available, resolve_default
    from asmnet.network import create_model
    from asmnet.predictor import Predictor
    from datasets.images import load_image

    images = [load_image(ds.root / s.image) for s in samples]
    boxes = [landmark_box(s.points) for s in samples]
    batch = 32 if not quick else min(4, len(images))
    b1_faces = 100 if not quick else 2  # batch 1 timed on the first 100 faces; accuracy on all of them
    passes = 1
    net_repeats = 3 if quick else 8
    notes: list[str] = []

    ckpt, how = common.checkpoint_path()
    notes.append(f"ASMNet weights: {how}.")
    if ckpt is not None:
        base = Predictor.from_checkpoint(ckpt)
    else:
        cfg = {"model": "asmnet", "num_points": 68, "input_size": 128, "crop_margin": 1.3, "schema": "ibug68"}
        base = Predictor(create_model("asmnet").eval(), cfg, None, name="asmnet (untrained)", sha256="-")
    size = base.input_size
    notes.append(f"Network input {size} px (the checkpoint's config); every face runs twice (plain + mirrored: the "
                 f"confidence and flip averaging; one network call on a batch of 2B), flip_tta={base.flip_tta}. "
                 f"'network ms/face' times that call alone on random input.")

    backends = list(ASMNET_BACKENDS_FULL)
    if quick:
        backends = ["torch", resolve_default()]
    if not onnxruntime_available() and "onnx" in backends:
        backends.remove("onnx")
        notes.append("onnxruntime is not installed: no 'onnx' row (pip install onnxruntime).")

    rows: list[dict] = []
    float_acc = None
    from asmnet.fast import accelerate

    from asmnet.fast import similarity_orthogonal

    exact_ok = base.shape_model is not None and similarity_orthogonal(base.shape_model)
    notes.append("Fast backends also compute the uncertainty's shape projection in closed form "
                 f"(asmnet.fast.project_exact) where it equals the alternation: {'yes' if exact_ok else 'no'} for this "
                 "checkpoint's shape model" + ("" if exact_ok else " (not tangent-space: it has a component along the "
                                                                  "mean shape), so every row runs ShapeModel.project")
                 + ".")
    if exact_ok and not quick:
        backends.append(f"{resolve_default()}, alternating projection")
    for be in backends:
        p = Predictor(base.model, base.config, base.shape_model, name=base.name, sha256=base.sha256, card=base.card)
        if be.endswith(", alternating projection"):
            accelerate(p, be.split(",")[0], exact_projection=False)
        elif be != "torch":
            accelerate(p, "fused" if be == "fused-nchw" else be, channels_last=be != "fused-nchw")
        r = _time_predictor(p, images, boxes, batch, b1_faces, passes)
        net = _time_network(p, size, batch, net_repeats)
        preds = r["preds"]
        acc = _evaluate(np.stack([q.points for q in preds]), np.stack([q.pose for q in preds]), samples)
        if be == "torch":
            float_acc = acc
        row = {"model": "ASMNet" + ("" if ckpt is not None else " (untrained)"), "backend": be,
               "b1_ms": r["b1"]["median"], "b32_ms": r["b32"]["median"], "b32_fps": 1e3 / r["b32"]["median"],
               "net_ms": net["median"], "nme_balanced": acc["nme_balanced"], "nme": acc["nme"],
               "nme_buckets": _bucket_text(acc["buckets"]),
               "dnme": None if float_acc is None or acc["nme_balanced"] is None or float_acc["nme_balanced"] is None
               else acc["nme_balanced"] - float_acc["nme_balanced"],
               "timing": {"batch1": r["b1"], "batch32": r["b32"], "network_pair": net}, "accuracy": acc}
        rows.append(row)

    # MobileNetV2 baseline: untrained weights, timed with the float model and the fastest kept backend
    mb = create_model("mobilenetv2", num_points=base.schema.num_points).eval()
    for be in ["torch"] if quick else ["torch", resolve_default()]:
        p = Predictor(mb, base.config, base.shape_model, name="mobilenetv2 (untrained)", sha256="-")
        if be != "torch":
            accelerate(p, be)
        r = _time_predictor(p, images, boxes, batch, b1_faces, passes)
        net = _time_network(p, size, batch, net_repeats)
        rows.append({"model": "MobileNetV2 baseline", "backend": be, "b1_ms": r["b1"]["median"],
                     "b32_ms": r["b32"]["median"], "b32_fps": 1e3 / r["b32"]["median"], "net_ms": net["median"],
                     "nme_balanced": "not trained", "nme": "not trained", "nme_buckets": None, "dnme": None,
                     "timing": {"batch1": r["b1"], "batch32": r["b32"], "network_pair": net}})
    notes.append("MobileNetV2 baseline: untrained weights (speed only), same heads, crop and predictor path.")

    drows, dnotes = _dlib_rows(images, boxes, samples, b1_faces, quick)
    rows += drows
    notes += dnotes
    if drows:
        ref = drows[0]
        for r in rows:
            r["b1_x_dlib"] = r["b1_ms"] / ref["b1_ms"]
            r["b32_x_dlib"] = r["b32_ms"] / ref["b32_ms"]

    # which fast backend would be kept: faster than torch at batch 1 and 32, NME within the tolerance
    from asmnet.fast import NME_TOLERANCE

    asm_rows = [r for r in rows if r["model"].startswith("ASMNet")]
    ref_row = next((r for r in asm_rows if r["backend"] == "torch"), None)
    ok = []
    for r in asm_rows:
        if r is ref_row or ref_row is None:
            continue
        faster = r["b1_ms"] < ref_row["b1_ms"] and r["b32_ms"] < ref_row["b32_ms"]
        close = r["dnme"] is not None and abs(r["dnme"]) <= NME_TOLERANCE
        r["kept"] = bool(faster and close)
        r["verdict"] = ("ok" if faster and close else
                        ("slower than torch" if not faster else f"NME moved {r['dnme']:+.3f} (> {NME_TOLERANCE})"))
        if faster and close:
            ok.append(r)
    best = min(ok, key=lambda r: r["b32_ms"] + r["b1_ms"]) if ok else None
    notes.append(f"Kept rule: faster than torch at batch 1 and 32 and |ΔNME balanced| <= {NME_TOLERANCE}; fastest "
                 f"such backend here: {best['backend'] if best else 'none'} (asmnet.fast default: "
                 f"{resolve_default()}).")
    for r in asm_rows:
        if r.get("verdict") and r["verdict"] != "ok":
            notes.append(f"backend {r['backend']}: rejected ({r['verdict']}).")
    default_row = next((r for r in asm_rows if r["backend"] == resolve_default()), None)
    targets = None
    if default_row is not None:
        targets = {"b1_ms_max": TARGET_B1_MS, "b32_fps_min": TARGET_B32_FPS, "b1_ms": default_row["b1_ms"],
                   "b32_fps": default_row["b32_fps"], "b1_met": default_row["b1_ms"] <= TARGET_B1_MS,
                   "b32_met": default_row["b32_fps"] >= TARGET_B32_FPS}
        notes.append(f"Targets (issue 7, this 2-core machine): ASMNet <= {TARGET_B1_MS:g} ms/face at batch 1 — "
                     f"{resolve_default()} {default_row['b1_ms']:.2f} ms: {'met' if targets['b1_met'] else 'NOT met'}; "
                     f">= {TARGET_B32_FPS:g} faces/s at batch {batch} — {default_row['b32_fps']:.0f} faces/s: "
                     f"{'met' if targets['b32_met'] else 'NOT met'}.")
    return {"rows": rows, "columns": COLUMNS, "notes": notes, "faces": len(images), "batch": batch, "targets": targets,
            "input_size": size, "checkpoint": None if ckpt is None else str(ckpt), "checkpoint_choice": how,
            "best_backend": best["backend"] if best else None}
