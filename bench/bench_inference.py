"""Landmark inference given a face box: ms/face at batch 1 and 32, with each model's NME beside it.

Models, all on the same AFLW2000-3D test faces and boxes, torch / onnxruntime threads = ``THREADS`` (2):

* ASMNet, the trained checkpoint (shipped one, else ``runs/asmnet68-cpu/best.pt``) through
  ``Predictor.predict_batch`` (crop, network on the face and its mirror image, confidence, uncertainty),
  with each inference backend of ``asmnet.inference.fast`` (``torch`` = the float model as trained).
* The MobileNetV2 baseline (same heads and crop), **untrained** weights: its speed is real, its accuracy
  column reads "not trained".
* dlib's 68-point ERT predictor (``dlib.shape_predictor``, single-threaded, no batch API: "batch 32" is
  32 calls), on (a) the ground-truth landmark box itself as the ``dlib.rectangle`` and (b) that box mapped
  to the frame of dlib's own detector boxes (which its model was trained on; the inverse of
  ``asmnet.inference.detect.face_box_from_detection``).

Face box = the tight ground-truth landmark box (what ``asmnet predict --boxes gt`` uses). NME = box-
normalised, percent, via ``asmnet_studio.evaluation.report.evaluate``; "balanced" = mean of the |yaw| bucket means.
Ratios: ms/face divided by dlib's (a) ms/face measured in the same run (< 1 = faster than dlib).

Batch 1 is also timed in blocks of 100 faces, in alternating order with dlib, for the default backend with and
without the mirrored pass (``plain_pass_only``, a measurement of what that pass costs; nothing ships it), with the
plain pass's NME beside it (``b1_blocks`` in the JSON).
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
           ("plain_ms", "network ms/face (plain pass only)"),
           ("nme_balanced", "NME balanced %"), ("nme", "NME all %"), ("nme_buckets", "NME 0-30 / 30-60 / 60-90"),
           ("dnme", "ΔNME vs float"), ("spearman", "uncertainty ~ NME Spearman"), ("b1_x_dlib", "b1 time × dlib"),
           ("b32_x_dlib", "b32 time × dlib")]

#: issue 18: the default fast backend's per-face time at most dlib's (bar), 0.6x dlib's at batch 1 (goal)
TARGET_GOAL_X_DLIB = 0.6

ASMNET_BACKENDS_FULL = ("torch", "fused", "jit", "int8", "onnx", "onnx-int8")


def _evaluate(preds: np.ndarray, pred_pose: np.ndarray | None, samples) -> dict[str, Any]:
    from asmnet_studio.evaluation.report import evaluate

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
    from asmnet.inference.detect import DETECTION_TO_FACE

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


def plain_pass_only(predictor):
    """A copy of ``predictor`` that runs the plain pass alone (no mirrored crop): what dropping the mirrored
    pass would cost at batch 1. Measurement only: its points are the plain pass's, its flip disagreement is 0
    (so its confidence is 1 and its uncertainty rests on the shape model alone); nothing ships this."""
    import copy
    import functools

    p = copy.copy(predictor)
    p._run = functools.partial(predictor._run, mirrored=False)
    return p


def _dlib_shape_predictor():
    """dlib's 68-point ERT shape predictor, or None when dlib or its model file is not installed."""
    path = common.dlib_model_path()
    try:
        import dlib
    except ImportError:
        return None
    return None if path is None else dlib.shape_predictor(str(path))


def b1_in_blocks(predictor, images, boxes, faces: int, rounds: int) -> dict[str, Any] | None:
    """Batch-1 ms/face in blocks of ``faces`` faces, ``rounds`` rounds in alternating order: ``predictor`` (plain +
    mirrored pass), the same with the plain pass only (``plain_pass_only``) and dlib's ERT (GT landmark box). Blocks,
    not face by face: a face-by-face alternation of two ONNX Runtime sessions lets each one's spinning threads slow
    the other's calls. None without dlib."""
    sp = _dlib_shape_predictor()
    if sp is None:
        return None
    import dlib

    n = min(faces, len(images))
    rects = [dlib.rectangle(*(int(round(float(v))) for v in b)) for b in boxes[:n]]
    plain = plain_pass_only(predictor)

    def block_asmnet(p):
        def run():
            t0 = time.perf_counter()
            for i in range(n):
                p.predict_batch([images[i]], [boxes[i]], batch_size=1)
            return (time.perf_counter() - t0) / n * 1e3
        return run

    def block_dlib():
        t0 = time.perf_counter()
        for i in range(n):
            np.array([[q.x, q.y] for q in sp(images[i], rects[i]).parts()], np.float32)
        return (time.perf_counter() - t0) / n * 1e3

    order = [("both_passes", block_asmnet(predictor)), ("plain_only", block_asmnet(plain)), ("dlib", block_dlib)]
    for _, f in order:  # warm-up
        f()
    ms: dict[str, list[float]] = {k: [] for k, _ in order}
    for r in range(rounds):
        for k, f in (order if r % 2 == 0 else order[::-1]):
            ms[k].append(f())
    med = {k: float(np.median(v)) for k, v in ms.items()}
    return {"faces": n, "rounds": rounds, "ms_per_round": ms, "median_ms": med,
            "both_x_dlib": med["both_passes"] / med["dlib"], "plain_x_dlib": med["plain_only"] / med["dlib"],
            "plain_x_both": med["plain_only"] / med["both_passes"],
            "plain_x_dlib_per_round": [a / b for a, b in zip(ms["plain_only"], ms["dlib"])]}


def interleaved_b1(predictor, images, boxes, faces: int) -> dict[str, Any] | None:
    """Batch-1 ms/face of ``predictor`` and of dlib's ERT (on the GT landmark box) timed face by face in turn, so
    both see the same load on a shared machine (its load drifts within a run); None without dlib."""
    sp = _dlib_shape_predictor()
    if sp is None:
        return None
    import dlib

    ta, td = [], []
    for i in range(min(faces, len(images))):
        b = boxes[i]
        rect = dlib.rectangle(*(int(round(float(v))) for v in b))
        t0 = time.perf_counter()
        predictor.predict_batch([images[i]], [b], batch_size=1)
        t1 = time.perf_counter()
        shape = sp(images[i], rect)
        np.array([[q.x, q.y] for q in shape.parts()], np.float32)
        ta.append(t1 - t0)
        td.append(time.perf_counter() - t1)
    a, d = common.stats(ta), common.stats(td)
    return {"faces": len(ta), "asmnet_ms": a["median"], "dlib_ms": d["median"], "x_dlib": a["median"] / d["median"],
            "asmnet": a, "dlib": d}


def _session_options(graph: bytes, size: int, repeats: int) -> list[dict[str, Any]]:
    """The ONNX Runtime session levers on one graph: ms per face of the plain + mirrored network call at
    batch 1 (2 crops) and batch 32 (64 crops) for each setting."""
    import onnxruntime as ort

    from asmnet.inference.runtime import session_options

    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}
    variants = [("all, 2 threads, sequential, spinning (shipped)", {}),
                ("extended", {"level": "extended"}), ("basic", {"level": "basic"}),
                ("1 thread", {"threads": 1}), ("no spinning", {"spin": False}),
                ("parallel execution mode", {"parallel": True})]
    rng = np.random.default_rng(0)
    x1 = rng.random((2, 3, size, size), dtype=np.float32)
    x32 = rng.random((64, 3, size, size), dtype=np.float32)
    out = []
    for label, v in variants:
        o = session_options(v.get("threads", common.THREADS))
        o.graph_optimization_level = levels[v.get("level", "all")]
        if not v.get("spin", True):
            o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if v.get("parallel"):
            o.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        s = ort.InferenceSession(graph, o, providers=["CPUExecutionProvider"])
        b1 = common.stats(common.time_calls(lambda: s.run(None, {"image": x1}), repeats * 20, warmup=5))["median"]
        b32 = common.stats(common.time_calls(lambda: s.run(None, {"image": x32}), repeats, warmup=2))["median"] / 32
        out.append({"setting": label, "b1_ms": b1, "b32_ms": b32})
        del s
    return out


def run(quick: bool = False) -> dict[str, Any]:
    import os

    common.set_threads()
    os.environ["ASMNET_THREADS"] = str(common.THREADS)  # sessions loaded from a runtime file use the same threads
    loaded = common.load_aflw_test(4 if quick else None)
    if loaded is None:
        return {"rows": [], "columns": COLUMNS, "notes": [], "skipped": common.missing_data_reason()}
    ds, samples = loaded
    from asmnet.inference.crop import landmark_box
    from asmnet.inference.fast import accelerate, onnxruntime_available, resolve_default
    from asmnet.model.network import create_model
    from asmnet.inference.predictor import Predictor
    from asmnet.inference.runtime import find_runtime
    from asmnet_studio.datasets.images import load_image
    from asmnet_studio.evaluation.metrics import nme, spearman

    images = [load_image(ds.root / s.image) for s in samples]
    boxes = [landmark_box(s.points) for s in samples]
    gt = np.stack([s.points for s in samples])
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
    default = resolve_default(ckpt)
    notes.append(f"Network input {size} px (the checkpoint's config); every face runs twice (plain + mirrored: the "
                 f"confidence and flip averaging; one network call on a batch of 2B), flip_tta={base.flip_tta}. "
                 f"'network ms/face' times that call alone on random input; 'plain pass only' times a batch of B "
                 f"(what dropping the mirrored pass would save; it would also drop the confidence).")

    backends = list(ASMNET_BACKENDS_FULL)
    if quick:
        backends = ["torch", default]
    if not onnxruntime_available():
        backends = [b for b in backends if not b.startswith("onnx")]
        notes.append("onnxruntime is not installed: no ONNX rows (pip install onnxruntime).")
    if "onnx-int8" in backends and (ckpt is None or find_runtime(ckpt, "onnx-int8", base.sha256) is None):
        backends.remove("onnx-int8")
        notes.append("No calibrated onnx-int8 runtime for this checkpoint (`asmnet runtime` makes it): no int8 row.")

    rows: list[dict] = []
    float_acc = None
    for be in backends:
        p = Predictor(base.model, base.config, base.shape_model, name=base.name, sha256=base.sha256, card=base.card)
        p.checkpoint_path = ckpt
        if be != "torch":
            accelerate(p, "fused" if be == "fused-nchw" else be, channels_last=be != "fused-nchw")
        r = _time_predictor(p, images, boxes, batch, b1_faces, passes)
        net = _time_network(p, size, batch, net_repeats)
        x = np.random.default_rng(1).random((batch, 3, size, size), dtype=np.float32)
        plain = common.stats([t / batch for t in common.time_calls(lambda: p._forward(x), net_repeats)])
        preds = r["preds"]
        pts = np.stack([q.points for q in preds])
        acc = _evaluate(pts, np.stack([q.pose for q in preds]), samples)
        rho = (spearman([q.uncertainty for q in preds], nme(pts, gt, base.schema, "box"))
               if len(preds) >= 3 else None)
        if be == "torch":
            float_acc = acc
        row = {"model": "ASMNet" + ("" if ckpt is not None else " (untrained)"),
               "backend": be + (" (default)" if be == default else ""),
               "b1_ms": r["b1"]["median"], "b32_ms": r["b32"]["median"], "b32_fps": 1e3 / r["b32"]["median"],
               "net_ms": net["median"], "plain_ms": plain["median"], "nme_balanced": acc["nme_balanced"],
               "nme": acc["nme"], "nme_buckets": _bucket_text(acc["buckets"]), "spearman": rho,
               "dnme": None if float_acc is None or acc["nme_balanced"] is None or float_acc["nme_balanced"] is None
               else acc["nme_balanced"] - float_acc["nme_balanced"], "backend_name": be,
               "timing": {"batch1": r["b1"], "batch32": r["b32"], "network_pair": net, "network_plain": plain},
               "accuracy": acc}
        rows.append(row)
        if be.startswith("onnx") and not quick and getattr(p.model, "onnx_bytes", None) is not None:
            opts = _session_options(p.model.onnx_bytes, size, net_repeats)
            row["session_options"] = opts
            notes.append(f"Session options ({be} graph; ms/face of the plain + mirrored network call at batch 1 / 32): "
                         + "; ".join(f"{o['setting']} {o['b1_ms']:.3f} / {o['b32_ms']:.3f}" for o in opts) + ".")

    # MobileNetV2 baseline: untrained weights, timed with the float model and the float onnx backend
    mb = create_model("mobilenetv2", num_points=base.schema.num_points).eval()
    for be in ["torch"] if quick else ["torch", "onnx"]:
        p = Predictor(mb, base.config, base.shape_model, name="mobilenetv2 (untrained)", sha256="-")
        if be != "torch":
            accelerate(p, be)
        r = _time_predictor(p, images, boxes, batch, b1_faces, passes)
        net = _time_network(p, size, batch, net_repeats)
        rows.append({"model": "MobileNetV2 baseline", "backend": be, "b1_ms": r["b1"]["median"],
                     "b32_ms": r["b32"]["median"], "b32_fps": 1e3 / r["b32"]["median"], "net_ms": net["median"],
                     "nme_balanced": "not trained", "nme": "not trained", "nme_buckets": None, "dnme": None,
                     "backend_name": be, "timing": {"batch1": r["b1"], "batch32": r["b32"], "network_pair": net}})
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
    from asmnet.inference.fast import NME_TOLERANCE

    asm_rows = [r for r in rows if r["model"].startswith("ASMNet")]
    ref_row = next((r for r in asm_rows if r["backend_name"] == "torch"), None)
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
                 f"such backend here: {best['backend_name'] if best else 'none'} (the default for this checkpoint: "
                 f"{default}).")
    for r in asm_rows:
        if r.get("verdict") and r["verdict"] != "ok":
            notes.append(f"backend {r['backend_name']}: rejected ({r['verdict']}).")
    default_row = next((r for r in asm_rows if r["backend_name"] == default), None)
    inter = None
    if default_row is not None and drows:
        p = Predictor(base.model, base.config, base.shape_model, name=base.name, sha256=base.sha256, card=base.card)
        p.checkpoint_path = ckpt
        inter = interleaved_b1(accelerate(p, default), images, boxes, b1_faces)
    if inter is not None:
        notes.append(f"Interleaved batch 1 ({inter['faces']} faces, {default} and dlib (GT landmark box) timed face by "
                     f"face in turn, so both see the same load): {inter['asmnet_ms']:.3f} vs {inter['dlib_ms']:.3f} "
                     f"ms/face, {inter['x_dlib']:.2f}x dlib.")
    blocks = None
    if default_row is not None and drows:
        p = Predictor(base.model, base.config, base.shape_model, name=base.name, sha256=base.sha256, card=base.card)
        p.checkpoint_path = ckpt
        p = accelerate(p, default)
        blocks = b1_in_blocks(p, images, boxes, b1_faces, 3 if quick else 7)
    if blocks is not None:
        plain_preds = plain_pass_only(p).predict_batch(images, boxes, batch_size=batch)
        plain_acc = _evaluate(np.stack([q.points for q in plain_preds]), np.stack([q.pose for q in plain_preds]),
                              samples)
        blocks["plain_only_nme_balanced"] = plain_acc["nme_balanced"]
        blocks["both_passes_nme_balanced"] = default_row["nme_balanced"]
        m = blocks["median_ms"]
        notes.append(f"Batch 1 in blocks of {blocks['faces']} faces ({blocks['rounds']} rounds, alternating order): "
                     f"{default} {m['both_passes']:.3f} ms/face ({blocks['both_x_dlib']:.2f}x dlib), the same with the "
                     f"plain pass only (no mirrored pass, no flip confidence; measurement only) {m['plain_only']:.3f} "
                     f"({blocks['plain_x_dlib']:.2f}x dlib; per round "
                     + ", ".join(f"{v:.2f}" for v in blocks["plain_x_dlib_per_round"])
                     + f"), dlib {m['dlib']:.3f}; balanced NME of the plain pass only "
                     f"{blocks['plain_only_nme_balanced']:.3f} vs {blocks['both_passes_nme_balanced']:.3f} with both.")
    targets = None
    if default_row is not None and drows:
        d1, d32 = drows[0]["b1_ms"], drows[0]["b32_ms"]
        targets = {"bar_b1": default_row["b1_ms"] <= d1, "bar_b32": default_row["b32_ms"] <= d32,
                   "goal_b1_0.6x": default_row["b1_ms"] <= TARGET_GOAL_X_DLIB * d1,
                   "b1_x_dlib": default_row["b1_ms"] / d1, "b32_x_dlib": default_row["b32_ms"] / d32,
                   "dnme": default_row["dnme"], "dnme_met": default_row["dnme"] is not None
                   and abs(default_row["dnme"]) <= NME_TOLERANCE}
        notes.append(f"Targets (issue 18, one run): per-face time <= dlib's at batch 1 — {default} "
                     f"{default_row['b1_ms']:.3f} ms vs {d1:.3f} ms ({targets['b1_x_dlib']:.2f}x): "
                     f"{'met' if targets['bar_b1'] else 'NOT met'}; batched — {default_row['b32_ms']:.3f} vs {d32:.3f} "
                     f"ms ({targets['b32_x_dlib']:.2f}x): {'met' if targets['bar_b32'] else 'NOT met'}; goal "
                     f"{TARGET_GOAL_X_DLIB}x dlib at batch 1: {'met' if targets['goal_b1_0.6x'] else 'NOT met'}; "
                     f"|ΔNME balanced| <= {NME_TOLERANCE}: "
                     f"{'met' if targets['dnme_met'] else 'NOT met'} ({default_row['dnme']:+.3f}).")
    return {"rows": rows, "columns": COLUMNS, "notes": notes, "faces": len(images), "batch": batch, "targets": targets,
            "interleaved_b1": inter, "b1_blocks": blocks,
            "input_size": size, "checkpoint": None if ckpt is None else str(ckpt), "checkpoint_choice": how,
            "checkpoint_sha256": base.sha256, "default_backend": default,
            "best_backend": best["backend_name"] if best else None}
