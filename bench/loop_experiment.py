"""The correction loop on real data: corrections -> fine-tuned model -> better pre-labels, least-certain first.

    python -m bench.loop_experiment            # or: python bench/loop_experiment.py [--quick] [--no-control]

On AFLW2000-3D (``$ASMNET_DATA_DIR/aflw2000-3d``, default ``../shared/data/aflw2000-3d``), with its
``split.csv`` (train 1200 / test 400):

1. **Base model**: ASMNet trained from scratch on ``--n-base`` (300) train-split faces
   (``asmnet.training.train.train``).
2. **Workspace**: those base faces imported with their ground truth marked done (accepted); ``--n-corrections``
   (400) *other* train faces and the 400 test faces added as plain images (face box = the ground-truth
   landmark box, as ``asmnet predict --boxes gt``), all pre-labelled by the base model (``asmnet prelabel``).
3. **Corrections**: each of the 400 faces gets its ground truth saved as a correction, status done (what
   a person fixing the pre-labels ends with); ``--n-pin`` (20) further train faces get an *in-progress*
   correction where the "person" moved 6 points (eye corners, nose tip, chin) onto the ground truth.
4. **Fine-tune**: ``asmnet train --from-workspace WS --init base.pt ...`` (the CLI itself), which registers
   a model version; then ``asmnet prelabel WS --model-id NEW --only-not-done``.
5. **Figures**: box-normalised NME (percent, ``asmnet_studio.evaluation.metrics``) of the stored pre-labels of the 400
   held-out test faces, base vs fine-tuned; Spearman correlation of each model's per-face ``uncertainty``
   (``PredictionRow.uncertainty``, the predictor's score) with the per-face NME, and of the per-point
   confidence with the point error; the in-progress faces' hand-placed points kept exactly.
   Control (``--control``, default on): the base model fine-tuned for the same number of steps on its own
   300 faces only (same code path), to separate "more corrected data" from "more training".
   Reference: the shipped checkpoint (else ``runs/asmnet68-cpu/best.pt``), trained on the whole train
   split, on the same test faces.

Writes ``bench/results/loop.json`` and ``bench/LOOP.md``. Everything is seeded (``--seed``); on a shared CPU
the timings vary, the metrics should not (up to thread-order float noise).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from asmnet_studio.datasets.formats import read_dataset  # noqa: E402
from asmnet_studio.datasets.sample import Dataset  # noqa: E402
from asmnet_studio.datasets.schemas import IBUG68  # noqa: E402
from asmnet_studio.datasets.store import Workspace  # noqa: E402
from asmnet_studio.evaluation.metrics import spearman  # noqa: E402

#: points the simulated annotator drags in the in-progress corrections (outer/inner eye corners, nose tip, chin)
PIN_POINTS = (36, 39, 42, 45, 30, 8)


def data_root() -> Path:
    return Path(os.environ.get("ASMNET_DATA_DIR", REPO.parent / "shared" / "data")) / "aflw2000-3d"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-base", type=int, default=300)
    p.add_argument("--n-corrections", type=int, default=400)
    p.add_argument("--n-pin", type=int, default=20)
    p.add_argument("--n-test", type=int, default=None, help="only the first N test faces (smoke runs)")
    p.add_argument("--model", default="asmnet")
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--base-epochs", type=int, default=30)
    p.add_argument("--base-lr", type=float, default=2e-3)
    p.add_argument("--ft-epochs", type=int, default=10)
    p.add_argument("--ft-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--reference", default=None, help="reference checkpoint (default: shipped, else runs/asmnet68-cpu)")
    p.add_argument("--base", default=None, help="use this base checkpoint instead of training one")
    p.add_argument("--reuse-base", action="store_true", help="reuse WORK/base/best.pt from an earlier run if present")
    p.add_argument("--quick", action="store_true", help="tiny smoke settings (asmnet_tiny, few faces, 1 epoch)")
    p.add_argument("--markdown-only", action="store_true", help="rewrite --md from an existing --out JSON")
    p.add_argument("--work", default=str(REPO / ".cache" / "loop_experiment"))
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "loop.json"))
    p.add_argument("--md", default=str(REPO / "bench" / "LOOP.md"))
    a = p.parse_args(argv)
    if a.quick:
        a.model, a.input_size, a.n_base, a.n_corrections, a.n_pin, a.n_test = "asmnet_tiny", 64, 40, 40, 4, 40
        a.base_epochs, a.ft_epochs, a.batch_size = 2, 1, 8
        a.out = str(Path(a.work) / "loop.json")
        a.md = str(Path(a.work) / "LOOP.md")
    return a


def log(msg: str) -> None:
    print(f"[loop {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- metrics
def face_nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) box-normalised NME, percent (the AFLW2000-3D convention), via asmnet_studio.evaluation.metrics."""
    from asmnet_studio.evaluation.metrics import nme

    return nme(np.asarray(pred, np.float64), np.asarray(gt, np.float64), IBUG68, "box")


def point_errors_norm(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, K) point error / box normaliser, percent."""
    from asmnet_studio.evaluation.metrics import normaliser, point_errors

    return 100.0 * point_errors(pred, gt) / normaliser(gt, IBUG68, "box")[:, None]


def ranking_figures(score: np.ndarray, nme: np.ndarray) -> dict:
    """How well ``score`` (higher = less certain) finds the high-error faces."""
    n = len(nme)
    top = max(n // 10, 1)
    by_score = np.argsort(-score, kind="stable")[:top]
    worst = set(np.argsort(-nme, kind="stable")[:top].tolist())
    return {"spearman": spearman(score, nme),
            "nme_mean": float(nme.mean()),
            "nme_top10pct_uncertain": float(nme[by_score].mean()),
            "nme_bottom50pct_uncertain": float(nme[np.argsort(score, kind="stable")[: n // 2]].mean()),
            "worst10pct_found_in_top10pct": float(len(worst & set(by_score.tolist())) / top)}


def uncertainty_analysis(rows, gt: np.ndarray, shape_model) -> dict:
    """Per-face and per-point figures of stored predictions ``rows`` against ``gt`` (N, K, 2)."""
    from asmnet.inference.uncertainty import CONFIDENCE_SCALE

    pred = np.stack([r.points for r in rows]).astype(np.float64)
    nme = face_nme(pred, gt)
    unc = np.array([r.uncertainty for r in rows], np.float64)
    conf = np.stack([r.confidence for r in rows]).astype(np.float64)
    flip = (-CONFIDENCE_SCALE * np.log(np.clip(conf, 1e-30, 1.0))).mean(1)  # mean flip disagreement / face size
    maha = np.array([shape_model.mahalanobis(p) for p in pred])
    yaw = np.array([abs(float(r.pose[0])) if r.pose is not None else np.nan for r in rows])
    perr = point_errors_norm(pred, gt)
    out = {"nme": float(nme.mean()), "nme_median": float(np.median(nme)),
           "fr_10": float((nme > 10).mean() * 100), "uncertainty": ranking_figures(unc, nme),
           "components_spearman": {"flip_disagreement": spearman(flip, nme), "mahalanobis": spearman(maha, nme),
                                   "predicted_abs_yaw": spearman(yaw, nme)},
           "point_confidence_spearman": spearman(-conf.ravel(), perr.ravel())}
    return out, nme, unc


# ------------------------------------------------------------------------------------------- steps
def subset(ds: Dataset, samples) -> Dataset:
    return Dataset(root=ds.root, format=ds.format, schema=ds.schema, samples=list(samples))


def train_base(args, base_ds: Dataset, out: Path) -> Path:
    from asmnet.training.train import TrainConfig, train

    cfg = TrainConfig(data=f"{data_root()} (train split, {len(base_ds)} faces, seed {args.seed})", format="aflw2000",
                      split="train", out=str(out), model=args.model, input_size=args.input_size,
                      epochs=args.base_epochs, batch_size=args.batch_size, lr=args.base_lr, seed=args.seed,
                      device=args.device, threads=args.threads, progress=False,
                      cache_dir=str(REPO / ".cache" / "asmnet"))
    res = train(cfg, dataset=base_ds)
    return Path(res.best_checkpoint)


def cli(argv: list[str]) -> None:
    from asmnet.cli import main

    log("asmnet " + " ".join(argv))
    rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"asmnet {argv[0]} failed with exit status {rc}")


def predictions_of(ws: Workspace, ids: list[int], model_id: int):
    rows = [ws.latest_prediction(i, model_id=model_id) for i in ids]
    missing = [i for i, r in zip(ids, rows) if r is None]
    if missing:
        raise RuntimeError(f"no prediction of model {model_id} for images {missing[:5]}")
    return rows


def predict_direct(checkpoint: Path, samples, root: Path, args, with_extras: bool = False):
    """PredictionRow-like objects from running a checkpoint directly on samples (face box = GT landmark box)."""
    import torch

    from asmnet.inference.crop import landmark_box
    from asmnet.inference.predictor import Predictor
    from asmnet_studio.datasets.images import load_image
    from asmnet_studio.datasets.store import PredictionRow

    torch.set_num_threads(args.threads)
    pr = Predictor.from_checkpoint(checkpoint, args.device)
    rows, extras = [], []
    for start in range(0, len(samples), 32):
        chunk = samples[start:start + 32]
        preds = pr.predict_batch([load_image(root / s.image) for s in chunk], [landmark_box(s.points) for s in chunk])
        rows += [PredictionRow(0, 0, p.points, p.pose, p.confidence, p.box, p.uncertainty) for p in preds]
        extras += [p.extras for p in preds]
    if with_extras:
        return pr, rows, extras
    return pr, rows


def calibration(ref_path: Path, root: Path, args) -> dict:
    """Spearman(score, NME) of uncertainty variants on the reference checkpoint's *validation* faces (the
    part of the train split its training held out), for choosing
    ``asmnet.inference.uncertainty.IMPLAUSIBILITY_POWER``."""
    from asmnet.model.checkpoint import load_checkpoint
    from asmnet.training.data import split_validation, usable_pose
    from asmnet.inference.uncertainty import MIN_DISAGREEMENT, typical_mahalanobis

    tc = (load_checkpoint(ref_path).get("card") or {}).get("train_config") or {}
    ds = read_dataset(root, "aflw2000", split="train")

    class _Poses:  # what split_validation reads of FaceArrays
        def __init__(self, pose):
            self.pose = pose

        def __len__(self):
            return len(self.pose)

    pose = np.array([s.pose if usable_pose(s.pose) else np.zeros(3) for s in ds.samples], np.float32)
    _, val = split_validation(_Poses(pose), float(tc.get("val_fraction", 0.1)), int(tc.get("seed", 0)))
    samples = [ds.samples[i] for i in val]
    _, rows, extras = predict_direct(ref_path, samples, root, args, with_extras=True)
    gt = np.stack([s.points for s in samples]).astype(np.float64)
    nme = face_nme(np.stack([r.points for r in rows]), gt)
    flip = np.array([e["flip_nme"] for e in extras])
    maha = np.array([e["mahalanobis"] for e in extras]) / typical_mahalanobis(68)
    out = {"faces": len(samples), "nme": float(nme.mean()),
           "stored_uncertainty": spearman([r.uncertainty for r in rows], nme),
           "flip_only": spearman(flip, nme), "mahalanobis_only": spearman(maha, nme)}
    for g in (0.5, 1.0, 2.0, 3.0):
        out[f"power_{g:g}"] = spearman(np.maximum(flip, MIN_DISAGREEMENT) * maha ** g, nme)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown_only:
        Path(args.md).write_text(markdown(json.loads(Path(args.out).read_text())))
        return 0
    t0 = time.time()
    root = data_root()
    if not root.is_dir():
        print(f"AFLW2000-3D not found at {root}; set ASMNET_DATA_DIR to the shared data folder", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from asmnet.model.checkpoint import file_sha256, load_checkpoint, load_shape_model
    from asmnet.inference.crop import landmark_box

    work = Path(args.work)
    keep_base = args.reuse_base and (work / "base" / "best.pt").is_file()
    if keep_base:
        args.base = str(work / "base" / "best.pt")
        for name in ("loop.db", "loop.db-wal", "loop.db-shm", "control.db", "control.db-wal", "control.db-shm",
                     "finetuned", "control"):
            target = work / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    train_ds = read_dataset(root, "aflw2000", split="train")
    test_ds = read_dataset(root, "aflw2000", split="test")
    train_s = sorted(train_ds.samples, key=lambda s: s.image)
    test_s = sorted(test_ds.samples, key=lambda s: s.image)[: args.n_test]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(train_s))
    nb, nc, npin = args.n_base, args.n_corrections, args.n_pin
    base_s = [train_s[i] for i in order[:nb]]
    corr_s = [train_s[i] for i in order[nb:nb + nc]]
    pin_s = [train_s[i] for i in order[nb + nc:nb + nc + npin]]
    log(f"data {root}: base {len(base_s)}, corrections {len(corr_s)}, in-progress {len(pin_s)}, test {len(test_s)}")

    # ---- 1. base model
    t = time.time()
    if args.base:
        base_ckpt = Path(args.base)
        timing = base_ckpt.parent / "train_s.txt"
        base_train_s = float(timing.read_text()) if timing.is_file() else float("nan")
    else:
        log(f"training the base model ({args.model}, {args.base_epochs} epochs on {len(base_s)} faces)")
        base_ckpt = train_base(args, subset(train_ds, base_s), work / "base")
        base_train_s = time.time() - t
        (work / "base" / "train_s.txt").write_text(f"{base_train_s:.1f}")

    # ---- 2. workspace: accepted base faces, plain images for corrections / in-progress / test
    ws_path = work / "loop.db"
    ws = Workspace(ws_path)
    ws.import_dataset(subset(train_ds, base_s), status="done", dataset="aflw2000-3d")

    def add(samples):
        return [ws.add_image(root / s.image, dataset="aflw2000-3d", split=s.split, box=landmark_box(s.points))
                for s in samples]

    corr_ids, pin_ids, test_ids = add(corr_s), add(pin_s), add(test_s)
    cli(["prelabel", str(ws_path), "--checkpoint", str(base_ckpt), "--only-not-done", "--no-progress"])
    base_id = ws.models()[-1].id
    # ---- 3. corrections (done) and in-progress corrections with hand-placed points
    moved_px = []
    for i, s in zip(corr_ids, corr_s):
        pred = ws.latest_prediction(i, model_id=base_id)
        moved_px.append(float(np.linalg.norm(pred.points - s.points, axis=1).mean()))
        ws.save_annotation(i, s.points, author="loop-experiment", base_version=None, source="correction",
                           status="done", pose=s.pose, pose_source="none" if s.pose is None else "ground_truth")
    pins = list(PIN_POINTS)
    for i, s in zip(pin_ids, pin_s):
        pts = ws.latest_prediction(i, model_id=base_id).points.copy()
        pts[pins] = s.points[pins]
        ws.save_annotation(i, pts, author="loop-experiment", base_version=None, source="correction",
                           status="in_progress", placed=sorted(pins))
    base_test = predictions_of(ws, test_ids, base_id)
    gt_test = np.stack([s.points for s in test_s]).astype(np.float64)
    base_sm = load_shape_model(load_checkpoint(base_ckpt))
    base_fig, base_nme, base_unc = uncertainty_analysis(base_test, gt_test, base_sm)
    log(f"base: test NME {base_fig['nme']:.2f}, uncertainty Spearman {base_fig['uncertainty']['spearman']:.3f}")

    # ---- 4. fine-tune from the workspace (the CLI), re-pre-label
    ft_out = work / "finetuned"
    ft_args = ["train", "--from-workspace", str(ws_path), "--init", str(base_ckpt), "--epochs", str(args.ft_epochs),
               "--lr", str(args.ft_lr), "--warmup-epochs", "1", "--batch-size", str(args.batch_size),
               "--seed", str(args.seed),
               "--threads", str(args.threads), "--device", args.device, "--out", str(ft_out),
               "--model-name", "loop-finetuned", "--no-progress"]
    t = time.time()
    cli(ft_args)
    ft_train_s = time.time() - t
    ft_rec = ws.models()[-1]
    cli(["prelabel", str(ws_path), "--model-id", str(ft_rec.id), "--only-not-done", "--no-progress"])
    ft_test = predictions_of(ws, test_ids, ft_rec.id)
    ft_sm = load_shape_model(load_checkpoint(ft_rec.checkpoint))
    ft_fig, ft_nme, ft_unc = uncertainty_analysis(ft_test, gt_test, ft_sm)
    log(f"fine-tuned: test NME {ft_fig['nme']:.2f}, uncertainty Spearman {ft_fig['uncertainty']['spearman']:.3f}")

    # ---- in-progress faces: hand-placed points kept exactly; the rest refitted around them
    gt_pin = np.stack([s.points for s in pin_s]).astype(np.float64)
    stored = np.stack([r.points for r in predictions_of(ws, pin_ids, ft_rec.id)]).astype(np.float64)
    user = np.stack([ws.latest(i).points for i in pin_ids]).astype(np.float64)
    _, raw_rows = predict_direct(Path(ft_rec.checkpoint), pin_s, root, args)
    raw = np.stack([r.points for r in raw_rows]).astype(np.float64)
    base_pin = np.stack([r.points for r in predictions_of(ws, pin_ids, base_id)]).astype(np.float64)
    others = [k for k in range(68) if k not in pins]
    err = point_errors_norm
    pin_fig = {"faces": len(pin_ids), "pinned_points_per_face": len(pins),
               "max_abs_diff_pinned_px": float(np.abs(stored[:, pins] - user[:, pins]).max()) if len(pin_ids) else None,
               "other_points_nme": {"base_prelabel": float(err(base_pin, gt_pin)[:, others].mean()),
                                    "finetuned_raw": float(err(raw, gt_pin)[:, others].mean()),
                                    "finetuned_kept_user_points": float(err(stored, gt_pin)[:, others].mean())}}

    # ---- control: same number of steps on the base faces only (same code path)
    control = None
    if args.control:
        cws_path = work / "control.db"
        cws = Workspace(cws_path)
        cws.import_dataset(subset(train_ds, base_s), status="done", dataset="aflw2000-3d")
        cws.close()
        steps_ft = max(int(round((1 - 0.1) * (nb + nc))) // args.batch_size, 1)
        steps_c = max(int(round((1 - 0.1) * nb)) // args.batch_size, 1)
        c_epochs = max(int(round(args.ft_epochs * steps_ft / steps_c)), 1)
        c_args = list(ft_args)
        c_args[c_args.index("--from-workspace") + 1] = str(cws_path)
        c_args[c_args.index("--epochs") + 1] = str(c_epochs)
        c_args[c_args.index("--out") + 1] = str(work / "control")
        c_args[c_args.index("--model-name") + 1] = "loop-control"
        cli(c_args)
        cws = Workspace(cws_path)
        c_ckpt = Path(cws.models()[-1].checkpoint)
        cws.close()
        _, c_rows = predict_direct(c_ckpt, test_s, root, args)
        c_fig, _, _ = uncertainty_analysis(c_rows, gt_test, load_shape_model(load_checkpoint(c_ckpt)))
        control = {"epochs": c_epochs, "faces": nb, "test": c_fig}
        log(f"control: test NME {c_fig['nme']:.2f}")

    # ---- reference: the full-train-split checkpoint
    reference = None
    ref_path = Path(args.reference) if args.reference else None
    if ref_path is None:
        from asmnet.inference.predictor import DEFAULT_CHECKPOINT

        for cand in (DEFAULT_CHECKPOINT, REPO / "runs" / "asmnet68-cpu" / "best.pt"):
            if cand.is_file():
                ref_path = cand
                break
    if ref_path is not None and ref_path.is_file() and not args.quick:
        ref_pred, r_rows = predict_direct(ref_path, test_s, root, args)
        r_fig, _, _ = uncertainty_analysis(r_rows, gt_test, ref_pred.shape_model)
        card = ref_pred.card
        reference = {"checkpoint": str(ref_path.relative_to(REPO) if ref_path.is_relative_to(REPO) else ref_path),
                     "sha256": file_sha256(ref_path), "epochs_trained": card.get("epochs_trained"),
                     "train_faces": (card.get("dataset") or {}).get("train_faces"), "test": r_fig}
        reference["calibration_on_validation_faces"] = calibration(ref_path, root, args)
        log(f"reference {ref_path}: test NME {r_fig['nme']:.2f}, "
            f"uncertainty Spearman {r_fig['uncertainty']['spearman']:.3f}; "
            f"calibration {reference['calibration_on_validation_faces']}")

    result = {
        "command": " ".join(["python -m bench.loop_experiment", *(sys.argv[1:] if argv is None else argv)]),
        "data": {"root": "aflw2000-3d (../shared/data, $ASMNET_DATA_DIR)", "base_faces": nb,
                 "corrected_faces": len(corr_s), "in_progress_faces": len(pin_s), "test_faces": len(test_s),
                 "selection": f"train split sorted by file name, permuted with numpy default_rng({args.seed}): "
                              f"first {nb} base, next {nc} corrected, next {npin} in progress; test = test split",
                 "face_box": "ground-truth landmark box (as asmnet predict --boxes gt)"},
        "settings": {"seed": args.seed, "model": args.model, "input_size": args.input_size,
                     "base_epochs": args.base_epochs, "base_lr": args.base_lr, "ft_epochs": args.ft_epochs,
                     "ft_lr": args.ft_lr, "batch_size": args.batch_size, "threads": args.threads,
                     "device": args.device, "finetune_command": "asmnet " + " ".join(
                         a if not a.startswith(str(work)) else "<work>/" + Path(a).name for a in ft_args)},
        "base": {"checkpoint_sha256": file_sha256(base_ckpt), "train_s": round(base_train_s, 1),
                 "test": base_fig, "mean_correction_px": float(np.mean(moved_px)) if moved_px else None},
        "finetuned": {"model_id": ft_rec.id, "card_metrics": ft_rec.card.get("metrics"),
                      "train_s": round(ft_train_s, 1), "test": ft_fig},
        "test_nme_drop": base_fig["nme"] - ft_fig["nme"],
        "uncertainty_formula": uncertainty_formula(),
        "in_progress": pin_fig,
        "control": control,
        "reference": reference,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "note": "shared CPU: timings are indicative only"},
        "wall_s": round(time.time() - t0, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    Path(args.md).write_text(markdown(result))
    log(f"wrote {out} and {args.md} ({result['wall_s']:.0f} s)")
    ws.close()
    return 0


def uncertainty_formula() -> str:
    """The per-face uncertainty the predictor stores (asmnet.inference.uncertainty's, when the predictor uses it)."""
    import inspect

    from asmnet.inference.predictor import Predictor

    src = inspect.getsource(Predictor._uncertainty)
    if "face_uncertainty" in src:
        from asmnet.inference.uncertainty import FORMULA

        return FORMULA
    return "asmnet.inference.predictor built-in: " + " ".join((inspect.getdoc(Predictor._uncertainty) or "").split())


def markdown(r: dict) -> str:
    b, f = r["base"]["test"], r["finetuned"]["test"]
    s = r["settings"]
    d = r["data"]
    lines = [
        "# The correction loop on AFLW2000-3D",
        "",
        f"Reproduce: `{r['command']}` (figures in `bench/results/loop.json`; about {r['wall_s'] / 60:.0f} min on "
        f"{r['machine']['cpus']} shared CPU cores).",
        "",
        f"Data: AFLW2000-3D `split.csv`. Base model trained on {d['base_faces']} train faces; "
        f"{d['corrected_faces']} other "
        f"train faces corrected (their ground truth saved as corrections, status done); held out: the "
        f"{d['test_faces']} test-split faces. Selection: {d['selection']}. Face box: {d['face_box']}.",
        "",
        f"Settings: seed {s['seed']}, `{s['model']}` at {s['input_size']} px, base {s['base_epochs']} epochs from "
        f"scratch (lr {s['base_lr']}), fine-tune {s['ft_epochs']} epochs (lr {s['ft_lr']}), batch {s['batch_size']}, "
        f"{s['threads']} CPU threads. Fine-tune command: `{s['finetune_command']}`.",
        "",
        "| held-out test faces (box NME %) | mean | median | FR@10 % | Spearman(uncertainty, NME) "
        "| NME of the 10 % least certain |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def row(label, t):
        u = t["uncertainty"]
        return (f"| {label} | {t['nme']:.2f} | {t['nme_median']:.2f} | {t['fr_10']:.1f} | {u['spearman']:.2f} | "
                f"{u['nme_top10pct_uncertain']:.2f} |")

    lines.append(row(f"base ({d['base_faces']} faces)", b))
    lines.append(row(f"fine-tuned on the workspace (+{d['corrected_faces']} corrections)", f))
    if r.get("control"):
        lines.append(row(f"control: base fine-tuned {r['control']['epochs']} epochs on its own {d['base_faces']} faces",
                         r["control"]["test"]))
    if r.get("reference"):
        ref = r["reference"]
        lines.append(row(f"reference: `{ref['checkpoint']}` (whole train split)", ref["test"]))
    p = r["in_progress"]
    cal = (r.get("reference") or {}).get("calibration_on_validation_faces")
    lines += [
        "",
        f"Pre-label NME on held-out faces: {b['nme']:.2f} → {f['nme']:.2f} (drop {r['test_nme_drop']:.2f} points).",
        f"Uncertainty ranking (fine-tuned model): Spearman {f['uncertainty']['spearman']:.2f} with the per-face NME; "
        f"the 10 % least certain faces average NME {f['uncertainty']['nme_top10pct_uncertain']:.2f} vs "
        f"{f['uncertainty']['nme_mean']:.2f} overall, and hold "
        f"{100 * f['uncertainty']['worst10pct_found_in_top10pct']:.0f} % of the 10 % worst faces. "
        f"Components (Spearman with NME): flip disagreement {f['components_spearman']['flip_disagreement']:.2f}, "
        f"Mahalanobis {f['components_spearman']['mahalanobis']:.2f}. Per-point confidence vs point error: "
        f"{f['point_confidence_spearman']:.2f}.",
        "",
        f"Per-face uncertainty stored by the predictor: `{r['uncertainty_formula']}`."
        + (f" The power 2 was chosen on the validation faces of an early checkpoint of the reference's training run; "
           f"re-checked on the reference checkpoint's validation faces ({cal['faces']} train-split faces its training "
           f"held out; Spearman with NME): flip only {cal['flip_only']:.2f}, Mahalanobis only "
           f"{cal['mahalanobis_only']:.2f}, product with power 1 {cal['power_1']:.2f}, power 2 {cal['power_2']:.2f}, "
           f"power 3 {cal['power_3']:.2f}." if cal else ""),
        "",
        f"In-progress faces ({p['faces']}, {p['pinned_points_per_face']} hand-placed points each): "
        f"after re-pre-labelling "
        f"the hand-placed points are unchanged (max difference {p['max_abs_diff_pinned_px']} px); NME of the other "
        f"points: base pre-label {p['other_points_nme']['base_prelabel']:.2f}, new model alone "
        f"{p['other_points_nme']['finetuned_raw']:.2f}, new model fitted around the hand-placed points "
        f"{p['other_points_nme']['finetuned_kept_user_points']:.2f}.",
        "",
        "Notes:",
        f"- The fine-tune trains on every accepted face of the workspace: the {d['base_faces']} base faces (imported "
        f"ground truth marked done) and the {d['corrected_faces']} corrections; the loop holds 10 % of them out for "
        f"model selection. Held-out workspace faces (card): init NME {_ws_nme(r, 'init')} → fine-tuned "
        f"{_ws_nme(r, 'finetuned')} (some of those faces were base training faces, so the init figure is "
        f"optimistic; the test split above is the clean comparison).",
        f"- The base model is deliberately small-data (ASMNet from scratch, no ImageNet weights, on "
        f"{d['base_faces']} faces), so its absolute NME is far from the reference's; the loop's effect is the drop.",
        f"- Mean distance the \"person\" moved the base pre-labels of the corrected faces: "
        f"{r['base']['mean_correction_px']:.1f} px.",
        f"- Wall time: base training {r['base']['train_s'] / 60:.0f} min, "
        f"fine-tune {r['finetuned']['train_s'] / 60:.0f} min "
        f"on a CPU shared with other jobs (indicative only).",
    ]
    if not r.get("control"):
        lines.append("- The control (same steps on the base faces only) was not run in this recording "
                     "(`--no-control`, CPU time); without that flag the script runs it. So the drop mixes more data "
                     "with more steps; the base's own validation NME had stopped improving over its last epochs.")
    ref = r.get("reference") or {}
    if ref.get("checkpoint") == "runs/asmnet68-cpu/best.pt":
        lines.append("- Reference: `runs/asmnet68-cpu/best.pt` (sha256 " + str(ref.get("sha256", ""))[:12] + ", epoch "
                     + str(ref.get("epochs_trained")) + "), the checkpoint shipped as `asmnet/weights/asmnet68.pt` "
                     "(stored there in fp16; the shipped file had not landed when this ran).")
    if "--reuse-base" in r["command"]:
        lines.append("- `--reuse-base` reused the base checkpoint of an identical earlier run of this script "
                     "(interrupted after the base training to leave out the control); without it the base is trained "
                     "first, with the same settings and seed.")
    lines.append("")
    return "\n".join(lines)


def _ws_nme(r: dict, which: str) -> str:
    held = ((r["finetuned"].get("card_metrics") or {}).get("held_out_workspace") or {})
    v = (held.get(which) or {}).get("nme")
    return "n/a" if v is None else f"{v:.2f} ({held.get('faces')} faces)"


if __name__ == "__main__":
    sys.exit(main())
