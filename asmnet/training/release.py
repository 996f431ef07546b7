"""Package a trained checkpoint for shipping and measure it afresh (``python -m asmnet.training.release``).

Steps:
1. load ``best.pt`` of a training run (selected on validation) and write ``asmnet/weights/asmnet68.pt``
   (fp16 weights, the shape model refitted on the run's training part, the card with the validation faces'
   names), plus ``shape_model68.npz`` and ``asmnet68.validation.txt`` (the run's validation faces: recorded in
   its card, else drawn again, ``asmnet.training.validation_set``);
2. decide flip test-time averaging on the *validation* part (never on test) through the full predictor
   path (image -> crop -> network -> image pixels);
3. evaluate the shipped file with a fresh ``Predictor`` on the chosen split (GT landmark boxes) with the
   project's metrics (``asmnet_studio.evaluation.metrics`` / ``asmnet_studio.evaluation.pose``: box-normalised NME per |yaw| bucket,
   balanced mean, pose MAE, uncertainty Spearman), and write ``metrics.json``;
4. write the torch-free inference runtime beside the shipped file (``asmnet runtime --checkpoint FILE``: static
   int8 when it passes its validation check, else the float ONNX graph; ``<name>.<fp32|int8>.{onnx,json}``),
   so the app and ``asmnet predict`` load the release without torch and never export at start.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def metrics(pred: np.ndarray, gt: np.ndarray, pred_pose: np.ndarray, gt_pose: np.ndarray, schema: str,
            uncertainty: np.ndarray | None = None, confidence: np.ndarray | None = None) -> dict:
    """The model card's figures of (N, K, 2) predicted / ground-truth points and (N, 3) poses (degrees).

    Box NME (percent, ``asmnet_studio.evaluation.metrics.nme`` with the ``box`` normaliser) per |yaw| bucket
    (``asmnet_studio.evaluation.pose``: [0,30], (30,60], beyond 60; None for an empty bucket), their balanced mean, the
    plain mean, the failure rate at 10 % (a fraction, 0..1), and pose MAE (degrees, wrapped) on all faces and
    on the faces whose GT angles are all within +-99 degrees (the usual head-pose protocol). ``uncertainty``
    (N,): adds ``uncertainty_spearman``, its rank correlation with the per-face NME. ``confidence`` (N, K): adds
    ``point_confidence_spearman``, the rank correlation of 1 - confidence with each point's error over all points
    (how well the editor's doubtful marks find the wrong points), and ``point_confidence_spearman_within``, its mean
    over faces of the same within each face.
    """
    from asmnet_studio.evaluation.metrics import failure_rate, nme as nme_of, spearman
    from asmnet_studio.evaluation.pose import angle_errors, bucket_means, yaw_bucket

    nme = nme_of(pred, gt, schema, "box")
    out: dict = {"faces": int(len(nme)), "nme_mean": float(nme.mean()),
                 "failure_rate_10": failure_rate(nme, 10.0) / 100.0}
    per, out["nme_balanced"] = bucket_means(nme, gt_pose[:, 0])
    labels = yaw_bucket(gt_pose[:, 0])
    for name, m in per.items():
        key = name.replace("-", "_")
        out[f"nme_{key}"] = m
        out[f"faces_{key}"] = int((labels == name).sum())
    d = angle_errors(pred_pose, gt_pose)
    keep = (np.abs(gt_pose) <= 99).all(1)
    out["pose_mae_all"] = float(d.mean())
    out["pose_mae"] = float(d[keep].mean())
    out["pose_faces"] = int(keep.sum())
    for i, name in enumerate(("yaw", "pitch", "roll")):
        out[f"{name}_mae"] = float(d[keep, i].mean())
    if uncertainty is not None:
        out["uncertainty_spearman"] = spearman(uncertainty, nme)
    if confidence is not None:
        from asmnet_studio.evaluation.metrics import normaliser, point_errors

        err = point_errors(pred, gt) / normaliser(gt, schema, "box")[:, None]           # (N, K)
        doubt = 1.0 - np.asarray(confidence, np.float64)
        out["point_confidence_spearman"] = spearman(doubt.ravel(), err.ravel())
        out["point_confidence_spearman_within"] = float(np.mean([spearman(d, e) for d, e in zip(doubt, err)]))
    return out


def predict_split(predictor, ds, batch_size: int = 32):
    from asmnet_studio.datasets.images import load_image

    from asmnet.inference.crop import landmark_box

    pts, pose, unc, conf = [], [], [], []
    for start in range(0, len(ds.samples), batch_size):
        chunk = ds.samples[start:start + batch_size]
        imgs = [load_image(Path(ds.root) / s.image) for s in chunk]
        for p in predictor.predict_batch(imgs, [landmark_box(s.points) for s in chunk], batch_size=batch_size):
            pts.append(p.points)
            pose.append(p.pose)
            unc.append(p.uncertainty)
            conf.append(p.confidence)
    return np.stack(pts), np.stack(pose), np.array(unc), np.stack(conf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="training output folder (best.pt, config.json, log.jsonl)")
    ap.add_argument("--weights", default=str(Path(__file__).resolve().parents[1] / "weights"))
    ap.add_argument("--eval-split", default="test")
    ap.add_argument("--name", default="asmnet68")
    ap.add_argument("--shape-variance", type=float, default=0.998,
                    help="variance kept in the shipped shape model (the ASM loss used its own 90%% truncation)")
    args = ap.parse_args(argv)

    import torch

    from asmnet.model.asm import ShapeModel
    from asmnet.model.checkpoint import build_model, load_checkpoint, save_checkpoint
    from asmnet.training.data import cache_size_for, cached_faces
    from asmnet.training.validation_set import checkpoint_split, validation_file, write_names
    from asmnet.inference.predictor import Predictor
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.schemas import get_schema

    torch.set_num_threads(2)
    run = Path(args.run)
    obj = load_checkpoint(run / "best.pt")
    cfg = obj["card"]["train_config"]
    card = dict(obj["card"])
    model = build_model(obj, run / "best.pt")

    # the run's training part (same split and seed as training) for the shape model and validation
    ds_train = read_dataset(cfg["data"], cfg["format"], split=cfg["split"])
    faces = cached_faces(ds_train, cfg["cache_dir"], cache_size_for(int(cfg["input_size"])))
    tr_idx, val_idx, val_source = checkpoint_split(faces.names, faces.pose, run / "best.pt", obj["card"],
                                                   cfg["val_fraction"], cfg["seed"])
    print(f"validation faces: {len(val_idx)}, {val_source}", file=sys.stderr)
    schema = get_schema(ds_train.schema)
    shapes = np.stack([ds_train.samples[i].points for i in tr_idx])
    shape_model = ShapeModel.fit(shapes, args.shape_variance, schema=schema.name,
                                 mirror_permutation=schema.flip_permutation())
    weights = Path(args.weights)
    weights.mkdir(parents=True, exist_ok=True)
    shape_model.save(weights / "shape_model68.npz")

    # flip TTA decided on validation, through the full predictor path, fp16 weights as shipped
    tmp = weights / f".{args.name}.tmp.pt"
    save_checkpoint(tmp, model, obj["config"], shape_model=shape_model, card=card, half=True)
    val_ds = read_dataset(cfg["data"], cfg["format"], split=cfg["split"])
    val_ds.samples = [val_ds.samples[i] for i in val_idx]
    val_gt = np.stack([s.points for s in val_ds.samples])
    val_pose = np.stack([s.pose for s in val_ds.samples])
    val = {}
    for flip in (False, True):
        pr = Predictor.from_checkpoint(tmp, flip_tta=flip)
        p, q, u, _ = predict_split(pr, val_ds)
        val[flip] = metrics(p, val_gt, q, val_pose, schema.name, uncertainty=u)
    flip_tta = val[True]["nme_balanced"] < val[False]["nme_balanced"]
    val_names = [faces.names[i] for i in val_idx]
    card.update({"name": args.name, "flip_tta": bool(flip_tta), "flip_tta_decided_on": "validation (full predictor path)",
                 "validation": {"no_flip": val[False], "flip": val[True]}, "validation_names": val_names})
    tmp.unlink()
    final = weights / f"{args.name}.pt"
    save_checkpoint(final, model, obj["config"], shape_model=shape_model, card=card, half=True)
    write_names(validation_file(final), val_names,
                f"The {len(val_names)} validation faces of {final.name} (split {cfg['split']!r} of {cfg['data']}), "
                f"never trained on: {val_source}.")

    # fresh evaluation of the shipped file
    t0 = time.time()
    pr = Predictor.from_checkpoint(final)
    test_ds = read_dataset(cfg["data"], cfg["format"], split=args.eval_split)
    gt = np.stack([s.points for s in test_ds.samples])
    gt_pose = np.stack([s.pose for s in test_ds.samples])
    p, q, u, conf = predict_split(pr, test_ds)
    res = metrics(p, gt, q, gt_pose, schema.name, uncertainty=u)
    res["seconds"] = round(time.time() - t0, 1)
    out = {"checkpoint": final.name, "sha256": pr.sha256, "split": args.eval_split, "boxes": "gt landmark box",
           "flip_tta": pr.flip_tta, "test": res, "validation": card["validation"],
           "best_epoch": card.get("best", {}).get("epoch"), "epochs_trained": card.get("epochs_trained"),
           "wall_time_s": card.get("wall_time_s")}
    (weights / "metrics.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))

    # the runtime that ships beside it (asmnet.cli.runtime; calibrated on the card's training data)
    from asmnet.cli import main as cli

    if cli(["runtime", "--checkpoint", str(final)]) != 0:
        raise RuntimeError(f"{final}: `asmnet runtime` failed; the release has no torch-free runtime")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
