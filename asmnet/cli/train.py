"""``asmnet train``: train ASMNet (or a variant) on a dataset folder, or fine-tune on a workspace.

The flags are generated from ``asmnet.training.train_config.TrainConfig`` and ``FinetuneConfig``
(``asmnet.training.config_flags``): a new setting is a new field there, with its help text, and nothing here.
"""
from __future__ import annotations

import argparse
import json

HELP = ("train a landmark network on a dataset folder (CPU or CUDA; torchrun for several processes), "
        "or fine-tune one on a workspace's accepted corrections (--from-workspace)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from asmnet.training.config_flags import add_flags
    from asmnet.training.train_config import FinetuneConfig, TrainConfig

    add_flags(parser, TrainConfig)
    add_flags(parser.add_argument_group("fine-tuning from a workspace (asmnet.training.finetune)"), FinetuneConfig)


def config_from_args(args: argparse.Namespace):
    """The ``TrainConfig`` the parsed flags describe."""
    from asmnet.training.config_flags import from_flags
    from asmnet.training.train_config import TrainConfig

    return from_flags(TrainConfig, args)


def run_from_workspace(args: argparse.Namespace) -> int:
    """``--from-workspace``: fine-tune --init on the workspace's accepted faces, register the model version."""
    from asmnet.training.config_flags import from_flags
    from asmnet.training.finetune import finetune_from_workspace
    from asmnet.training.train_config import FinetuneConfig

    ft = from_flags(FinetuneConfig, args)
    init = args.init
    if not init:
        from asmnet.inference.predictor import DEFAULT_CHECKPOINT

        if not DEFAULT_CHECKPOINT.is_file():
            raise ValueError("--from-workspace needs --init CHECKPOINT (no shipped checkpoint found)")
        init = str(DEFAULT_CHECKPOINT)
    mix = None
    if ft.mix_data:
        from asmnet_studio.datasets.formats import read_dataset

        mix = read_dataset(ft.mix_data, ft.mix_format, split=ft.mix_split)
    args.data = ft.from_workspace
    res = finetune_from_workspace(ft.from_workspace, init, config_from_args(args), statuses=ft.statuses,
                                  mix=mix, mix_split=ft.mix_split, refit_shape_model=ft.refit_shape_model,
                                  name=ft.model_name)
    if res.model_id < 0:  # a torchrun worker other than rank 0
        return 0
    print(json.dumps({"model_id": res.model_id, "name": res.card["name"], "checkpoint": str(res.checkpoint),
                      "data": {k: v for k, v in res.card["data"].items() if k != "image_ids"},
                      "metrics": res.card["metrics"]}, indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    from asmnet.training.train import train

    if getattr(args, "from_workspace", None):
        return run_from_workspace(args)
    if not args.data:
        raise ValueError("give --data DATASET_FOLDER (or --from-workspace WS.db to fine-tune on corrections)")
    result = train(config_from_args(args))
    print(json.dumps({"best_checkpoint": str(result.best_checkpoint), "last_checkpoint": str(result.last_checkpoint),
                      "log": str(result.log), "best": result.best}, indent=2))
    return 0
