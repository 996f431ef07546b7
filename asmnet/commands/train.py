"""``asmnet train``: train ASMNet (or a variant) on a dataset folder."""
from __future__ import annotations

import argparse
import json

HELP = "train a landmark network on a dataset folder (CPU or CUDA; torchrun for several processes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asmnet.train import AMP_MODES, DEVICES, TrainConfig

    d = TrainConfig()
    parser.add_argument("--data", required=True, help="dataset folder")
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
    parser.add_argument("--init", default=None, help="start from the weights of this checkpoint (fine-tuning)")
    parser.add_argument("--max-samples", type=int, default=None, help="use only the first N samples (smoke runs)")
    parser.add_argument("--rotation", type=float, default=d.augment.rotation, help="max rotation, degrees")
    parser.add_argument("--no-flip", action="store_true", help="no mirrored augmentation")
    parser.add_argument("--no-progress", action="store_true")


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


def run(args: argparse.Namespace) -> int:
    from asmnet.train import train

    result = train(config_from_args(args))
    print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "last_checkpoint": str(result.last_checkpoint),
                      "log": str(result.log), "best": result.best}, indent=2))
    return 0
