"""`asmnet train` flags are generated from the config dataclasses: the old spellings still parse to the same
settings, and every setting has a flag with help text (no training here)."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from asmnet.cli import build_parser
from asmnet.cli.train import config_from_args
from asmnet.training.config_flags import add_flags, from_flags, iter_settings, setting
from asmnet.training.data import AugmentConfig
from asmnet.training.train_config import FinetuneConfig, TrainConfig


def _parse(*flags: str) -> argparse.Namespace:
    parser, _ = build_parser(["train"])
    return parser.parse_args(["train", *flags])


def test_old_flag_spellings_give_the_expected_config():
    args = _parse("--data", "d/aflw", "--format", "wflw", "--split", "all", "--out", "runs/x", "--model", "asmnet_tiny",
                  "--input-size", "96", "--epochs", "7", "--batch-size", "16", "--lr", "1e-3", "--weight-decay", "0.05",
                  "--warmup-epochs", "1.5", "--alpha", "off", "--asm-variance", "0.8", "--shape-variance", "0.95",
                  "--pose-weight", "0.25", "--val-fraction", "0.2", "--seed", "3", "--device", "cpu", "--amp", "off",
                  "--threads", "2", "--time-budget-min", "12.5", "--cache-dir", "none", "--resume",
                  "--init", "ckpt.pt", "--max-samples", "40", "--rotation", "10", "--no-flip", "--no-progress")
    assert config_from_args(args) == TrainConfig(
        data="d/aflw", format="wflw", split=None, out="runs/x", model="asmnet_tiny", input_size=96, epochs=7,
        batch_size=16, lr=1e-3, weight_decay=0.05, warmup_epochs=1.5, alpha="off", asm_variance=0.8,
        shape_variance=0.95, pose_weight=0.25, val_fraction=0.2, seed=3, device="cpu", amp="off", threads=2,
        time_budget_min=12.5, cache_dir=None, resume=True, init="ckpt.pt", max_samples=40,
        augment=AugmentConfig(rotation=10.0, flip=0.0), progress=False)


def test_no_flags_give_the_config_defaults():
    assert config_from_args(_parse()) == TrainConfig()
    assert config_from_args(_parse("--split", "test", "--cache-dir", "c")) == TrainConfig(split="test", cache_dir="c")


def test_old_finetune_flag_spellings():
    args = _parse("--from-workspace", "ws.db", "--statuses", "done", "--mix-data", "base", "--mix-format", "csv",
                  "--mix-split", "all", "--refit-shape-model", "--model-name", "round-2")
    assert from_flags(FinetuneConfig, args) == FinetuneConfig(
        from_workspace="ws.db", statuses="done", mix_data="base", mix_format="csv", mix_split=None,
        refit_shape_model=True, model_name="round-2")
    assert from_flags(FinetuneConfig, _parse()) == FinetuneConfig()
    assert FinetuneConfig().statuses == "done,reviewed"


def test_every_setting_has_a_flag_with_help():
    parser, _ = build_parser(["train"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    by_dest = {a.dest: a for a in sub._actions}
    for cls in (TrainConfig, AugmentConfig, FinetuneConfig):
        for f, _, _ in iter_settings(cls):
            action = by_dest.get(f.name)
            assert action is not None, f"{cls.__name__}.{f.name} has no flag"
            assert action.help and len(action.help) > 10, f"--{f.name} has no help text"
            assert any(o.startswith("--") for o in action.option_strings)
    # ... and the new ones: every augmentation setting and the memory format are flags now
    args = _parse("--flip", "0.25", "--grayscale", "0", "--no-channels-last")
    cfg = config_from_args(args)
    assert cfg.augment == AugmentConfig(flip=0.25, grayscale=0.0) and cfg.channels_last is False


def test_types_and_choices_come_from_the_fields():
    with pytest.raises(SystemExit):
        _parse("--epochs", "many")
    with pytest.raises(SystemExit):
        _parse("--device", "tpu")
    assert _parse("--threads", "3").threads == 3 and _parse().threads is None


def test_a_field_without_help_is_refused():
    @dataclasses.dataclass
    class Bad:
        ok: int = setting(1, "an integer setting")
        missing: int = 2

    with pytest.raises(ValueError, match="Bad.missing"):
        add_flags(argparse.ArgumentParser(), Bad)
    with pytest.raises(ValueError, match="help"):
        setting(1, "")
