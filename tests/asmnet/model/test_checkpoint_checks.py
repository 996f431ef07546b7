"""Issue 17, item 9: a checkpoint with the right format tag but malformed content is refused with an error
naming the file and the field, before anything is allocated or built from it (and ``app.py --weights``
says so in one line, no traceback)."""
from __future__ import annotations

import copy

import pytest
import torch

from asmnet.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from asmnet.model.network import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": 64, "crop_margin": 1.3, "schema": "ibug68"}


@pytest.fixture(scope="module")
def good(tmp_path_factory, synthetic_model):
    path = tmp_path_factory.mktemp("ck") / "good.pt"
    save_checkpoint(path, create_model("asmnet_tiny"), CONFIG, shape_model=synthetic_model, card={"a": 1})
    return torch.load(path, weights_only=True)


def _set(obj, dotted: str, value):
    obj = copy.deepcopy(obj)
    *parents, last = dotted.split(".")
    d = obj
    for p in parents:
        d = d[p]
    d[last] = value
    return obj


BAD = [
    ("config.num_points", [68], "config 'num_points' must be an integer"),
    ("config.num_points", -5, r"config 'num_points' = -5 is out of range"),
    ("config.num_points", 3_000_000, r"config 'num_points' = 3000000 is out of range"),
    ("config.num_points", True, "config 'num_points' must be an integer"),
    ("config.input_size", 200_000, r"config 'input_size' = 200000 is out of range 32..1024"),
    ("config.input_size", 64.5, "config 'input_size' must be an integer"),
    ("config.crop_margin", float("nan"), "config 'crop_margin' must be a number"),
    ("config.crop_margin", "1.3", "config 'crop_margin' must be a number"),
    ("config.model", ["asmnet"], "config 'model' must be a model name"),
    ("config.model", "nosuch", "config 'model' 'nosuch' is not one of"),
    ("config.schema", "nosuch", "config 'schema' 'nosuch' is not one of"),
    ("config.num_points", 98, "does not match schema 'ibug68'"),
    ("config", [1, 2], "config must hold|config must be a mapping"),
    ("state_dict", {"w": "not a tensor"}, "state_dict entry 'w' is not a numeric tensor"),
    ("state_dict", {}, "state_dict must be a non-empty mapping"),
    ("shape_model.mean", torch.zeros(5, 2), "shape_model arrays do not fit 68 points"),
    ("shape_model.components", "x", "shape_model components must be a numeric tensor"),
    ("shape_model.eigenvalues", torch.full((16,), float("nan")), "shape_model eigenvalues holds non-finite"),
    ("shape_model.total_variance", [1.0], "shape_model 'total_variance' must be a finite number"),
    ("shape_model", [1], "shape_model must be a mapping"),
    ("card", [1, 2], "checkpoint 'card' must be a mapping"),
]


@pytest.mark.parametrize("field,value,message", BAD, ids=[f"{f}={v!r:.20}" for f, v, _ in BAD])
def test_malformed_fields_are_refused_naming_the_file_and_field(tmp_path, good, field, value, message):
    path = tmp_path / "bad.pt"
    obj = _set(good, field, value)
    if field == "shape_model.eigenvalues":  # keep the shape consistent so the finiteness check is what fails
        obj["shape_model"]["eigenvalues"] = obj["shape_model"]["eigenvalues"] * float("nan")
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    assert e.value.path == str(path) and str(path) in str(e.value)


def test_the_good_file_still_loads(tmp_path, good):
    path = tmp_path / "ok.pt"
    torch.save(good, path)
    assert load_checkpoint(path)["config"] == CONFIG


def test_app_weights_names_the_file_without_a_traceback(tmp_path, good, capsys, monkeypatch):
    import app

    monkeypatch.delenv("ASMNET_AUTH", raising=False)
    path = tmp_path / "huge.pt"
    torch.save(_set(good, "config.num_points", 3_000_000), path)
    rc = app.main([str(tmp_path / "ws.db"), "--weights", str(path)])
    err = capsys.readouterr().err
    assert rc == 1 and "huge.pt" in err and "num_points" in err and "Traceback" not in err
