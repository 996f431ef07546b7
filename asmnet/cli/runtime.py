"""``asmnet runtime``: (re)make the torch-free inference runtime of a checkpoint (ONNX graph + JSON sidecar).

    asmnet runtime                         # the shipped asmnet/weights/asmnet68.pt -> asmnet68.int8.{onnx,json}
    asmnet runtime --checkpoint runs/x/best.pt [--backend onnx]
    asmnet runtime --check                 # exit 1 unless the shipped runtime matches the checkpoint's sha256

For ``onnx-int8`` (the default) the graph is quantised statically (``asmnet.inference.fast.quantise_static``) with
ranges calibrated on the network inputs of ``--calibration-faces`` faces of the checkpoint's *training part*
(its card's data and split less its validation faces: the faces it was trained on, never its validation or
test faces), plain and mirrored exactly as the predictor feeds them. It is then checked on the validation
faces (``asmnet.training.validation_set``: the names in its card, else in ``<stem>.validation.txt`` beside it,
as for the shipped model, else drawn again with the card's fraction and seed) against the float graph through
the whole predictor path: if the balanced NME moves by more than ``asmnet.inference.fast.NME_TOLERANCE`` the int8
runtime is refused (the rank correlations of the face uncertainty and of the per-point confidence with the errors
are recorded beside it, not checked) and the float ``onnx`` runtime is written instead (the sidecar records the figures and where
the validation set came from either way). The release writes beside the checkpoint and removes the
runtime files of the other backend there, so exactly one runtime ships with it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "make the torch-free ONNX runtime of a checkpoint (default: the shipped one), or --check it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (default: the shipped asmnet68.pt)")
    parser.add_argument("--backend", default="onnx-int8", choices=("onnx-int8", "onnx"),
                        help="onnx-int8: static int8, calibrated and checked on the training data (default); "
                             "onnx: the float graph (needs no data)")
    parser.add_argument("--data", default=None,
                        help="the checkpoint's training dataset folder (default: from its card's train_config)")
    parser.add_argument("--format", default=None, help="its format (default: from the card)")
    parser.add_argument("--calibration-faces", type=int, default=200,
                        help="training faces whose plain + mirrored crops calibrate the int8 ranges")
    parser.add_argument("--method", default=None, choices=("MinMax", "Entropy", "Percentile"),
                        help="activation-range calibration (default: asmnet.inference.fast.QUANTISATION)")
    parser.add_argument("--keep-refused", action="store_true",
                        help="with --cache: write the int8 runtime even when the validation check refuses it "
                             "(for benchmarks; it is never shipped)")
    parser.add_argument("--cache", action="store_true",
                        help="write into the runtime cache (keyed by sha256) instead of beside the checkpoint")
    parser.add_argument("--check", action="store_true",
                        help="only check that a runtime beside the checkpoint matches it (exit 1 if not)")


def _train_config(card: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    tc = dict(card.get("train_config") or {})
    data = args.data or tc.get("data")
    fmt = args.format or tc.get("format")
    if not data or not fmt:
        raise ValueError("the checkpoint's card names no training data: pass --data DIR --format NAME (or use "
                         "--backend onnx, which needs none)")
    return {"data": data, "format": fmt, "split": tc.get("split", "train"),
            "val_fraction": float(tc.get("val_fraction", 0.1)), "seed": int(tc.get("seed", 0))}


class _Recorder:
    """Wraps an ``OrtModel``: runs it and keeps every input batch (the calibration data)."""

    def __init__(self, model):
        self.model = model
        self.inputs: list = []

    def to(self, device):
        return self

    def eval(self):
        return self

    def run_numpy(self, x):
        self.inputs.append(x.copy())
        return self.model.run_numpy(x)


def _faces(cfg: dict[str, Any], ckpt: Path, card: dict[str, Any]):
    """(dataset, train indices, validation indices, where the validation set came from) of the checkpoint's
    training split: its recorded validation faces, else drawn again as training drew them
    (``asmnet.training.validation_set.checkpoint_split``)."""
    from asmnet.training.validation_set import checkpoint_split, training_poses
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(cfg["data"], cfg["format"], split=cfg["split"])
    if not ds.samples:
        raise ValueError(f"{cfg['data']}: no samples in split {cfg['split']!r}")
    tr, val, source = checkpoint_split([s.image for s in ds.samples], training_poses(ds.samples), ckpt, card,
                                       cfg["val_fraction"], cfg["seed"])
    return ds, tr, val, source


def _predict(predictor, ds, idx):
    """(points, pose, uncertainty, confidence) of the faces ``idx`` of ``ds`` (ground-truth landmark boxes)."""
    import copy

    from asmnet.training.release import predict_split

    sub = copy.copy(ds)
    sub.samples = [ds.samples[i] for i in idx]
    return predict_split(predictor, sub)


def _check(ckpt: Path) -> int:
    from asmnet.inference.runtime import ORT_BACKENDS, RuntimeFileError, file_sha256, load_runtime, release_paths

    sha = file_sha256(ckpt)
    found = [release_paths(ckpt, b)[0] for b in ORT_BACKENDS if release_paths(ckpt, b)[0].is_file()]
    if not found:
        print(f"{ckpt}: no runtime beside it; run `asmnet runtime --checkpoint {ckpt}`", file=sys.stderr)
        return 1
    bad = 0
    for sidecar in found:
        try:
            rt = load_runtime(sidecar, sha256=sha)
            print(f"{sidecar}: ok ({rt.backend}, checkpoint sha256 {sha[:12]}...)")
        except RuntimeFileError as exc:
            print(f"asmnet runtime: {exc}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def run(args: argparse.Namespace) -> int:
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    ckpt = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: checkpoint file not found")
    if args.check:
        return _check(ckpt)
    if args.calibration_faces < 1:
        raise ValueError(f"--calibration-faces must be >= 1, found {args.calibration_faces}")
    import numpy as np

    from asmnet.model.checkpoint import load_checkpoint
    from asmnet.inference.fast import NME_TOLERANCE, build_runtime
    from asmnet.training.release import metrics
    from asmnet.inference.runtime import ORT_BACKENDS, OrtModel, release_paths

    release = not args.cache
    extra: dict[str, Any] = {}
    backend = args.backend
    calibration = q = None
    if backend == "onnx-int8":
        from asmnet.inference.fast import QUANTISATION, export_onnx, float_nodes, fuse_model, quantise_shipped
        from asmnet.inference.predictor import Predictor

        obj = load_checkpoint(ckpt)
        card = dict(obj.get("card") or {})
        cfg = _train_config(card, args)
        ds, tr, val, val_source = _faces(cfg, ckpt, card)
        rng = np.random.default_rng(cfg["seed"])
        cal_idx = np.sort(rng.choice(tr, min(args.calibration_faces, len(tr)), replace=False))
        print(f"calibrating on {len(cal_idx)} training faces of {cfg['data']} (split {cfg['split']}, validation "
              f"fraction {cfg['val_fraction']}, seed {cfg['seed']}); checking on {len(val)} validation faces "
              f"({val_source})",
              file=sys.stderr)
        pf = Predictor.from_checkpoint(ckpt, backend="torch")
        size = pf.input_size
        graph = export_onnx(fuse_model(pf.model), size)
        rec = _Recorder(OrtModel(graph, size, num_points=pf.schema.num_points))
        pf.model = rec
        _predict(pf, ds, cal_idx)
        calibration = np.concatenate(rec.inputs)
        quant = {**QUANTISATION, "calibration_method": args.method or QUANTISATION["calibration_method"]}
        q = quantise_shipped(graph, calibration, method=quant["calibration_method"])
        quant["float_nodes"] = float_nodes(graph)
        gt = np.stack([ds.samples[i].points for i in val])
        gt_pose = np.stack([np.zeros(3) if ds.samples[i].pose is None else ds.samples[i].pose for i in val])
        check: dict[str, Any] = {"faces": int(len(val)), "split": f"validation part of {cfg['split']}",
                                 "validation_set": val_source}
        for name, g in (("float", graph), ("int8", q)):
            pf.model = OrtModel(g, size, num_points=pf.schema.num_points)
            p, pose, unc, conf = _predict(pf, ds, val)
            m = metrics(p, gt, pose, gt_pose, pf.schema.name, uncertainty=unc, confidence=conf)
            check[name] = {k: m[k] for k in ("nme_balanced", "nme_mean", "pose_mae", "uncertainty_spearman",
                                             "point_confidence_spearman", "point_confidence_spearman_within")}
        delta = check["int8"]["nme_balanced"] - check["float"]["nme_balanced"]
        check["delta_nme_balanced"] = delta
        check["tolerance"] = NME_TOLERANCE
        check["accepted"] = bool(abs(delta) <= NME_TOLERANCE)
        print(f"validation: balanced NME float {check['float']['nme_balanced']:.3f}, int8 "
              f"{check['int8']['nme_balanced']:.3f} (delta {delta:+.3f}, tolerance {NME_TOLERANCE}); uncertainty "
              f"Spearman float {check['float']['uncertainty_spearman']:.3f}, int8 "
              f"{check['int8']['uncertainty_spearman']:.3f}; per-point confidence ~ point error Spearman (all points / "
              f"within faces) float {check['float']['point_confidence_spearman']:.3f} / "
              f"{check['float']['point_confidence_spearman_within']:.3f}, int8 "
              f"{check['int8']['point_confidence_spearman']:.3f} / {check['int8']['point_confidence_spearman_within']:.3f}"
              " (recorded, not a condition)", file=sys.stderr)
        extra = {"quantisation": {**quant, "calibration": {
            "data": str(cfg["data"]), "format": cfg["format"], "split": cfg["split"],
            "part": "training (not validation)",
            "faces": int(len(cal_idx)), "network_inputs": int(len(calibration)), "seed": cfg["seed"],
            "val_fraction": cfg["val_fraction"]}}, "validation": check}
        if not check["accepted"] and not (args.keep_refused and args.cache):
            print(f"int8 refused (|delta| > {NME_TOLERANCE}): writing the float 'onnx' runtime instead",
                  file=sys.stderr)
            backend, calibration = "onnx", None
            extra = {"int8_refused": extra}
    sidecar = build_runtime(ckpt, backend, release=release, calibration=calibration, extra=extra,
                            graph=q if backend == "onnx-int8" else None)
    if release:  # exactly one runtime ships beside the checkpoint
        for other in ORT_BACKENDS:
            if other != backend:
                for f in release_paths(ckpt, other):
                    f.unlink(missing_ok=True)
    print(f"wrote {sidecar} and {sidecar.with_suffix('.onnx').name} ({backend}) for {ckpt}")
    return 0
