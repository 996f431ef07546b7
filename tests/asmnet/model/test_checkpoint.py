"""Checkpoints: round trip, fp16, and refusal of files that are not ours."""
from __future__ import annotations

import pickle

import pytest
import torch

from asmnet.model.checkpoint import CheckpointError, build_model, load_checkpoint, load_shape_model, save_checkpoint
from asmnet.model.network import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": 64, "crop_margin": 1.3, "schema": "ibug68"}


def test_round_trip_with_shape_model_and_fp16(tmp_path, synthetic_model):
    net = create_model("asmnet_tiny").eval()
    path = save_checkpoint(tmp_path / "a.pt", net, CONFIG, shape_model=synthetic_model, card={"note": "x"}, half=True)
    obj = load_checkpoint(path)
    back = build_model(obj, path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(back(x)[0], net(x)[0], atol=2e-2)
    assert load_shape_model(obj).num_components == synthetic_model.num_components
    assert obj["card"]["note"] == "x"


def test_refuses_foreign_and_broken_files(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": create_model("asmnet_tiny").state_dict()}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not an ASMNet checkpoint"):
        load_checkpoint(foreign)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"format": "asmnet-checkpoint", "x": tmp_path}, fh)  # a PosixPath: not a safe global
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil)
    good = save_checkpoint(tmp_path / "good.pt", create_model("asmnet_tiny"), CONFIG)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)
    wrong = save_checkpoint(tmp_path / "wrong.pt", create_model("asmnet_tiny"), {**CONFIG, "model": "asmnet"})
    with pytest.raises(CheckpointError, match="wrong.pt: weights do not fit"):
        build_model(load_checkpoint(wrong), wrong)
    with pytest.raises(ValueError, match="input_size"):
        save_checkpoint(tmp_path / "x.pt", create_model("asmnet_tiny"), {"model": "asmnet_tiny"})
