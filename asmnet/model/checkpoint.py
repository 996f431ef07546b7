"""Checkpoint files: save and load ASMNet weights safely.

A checkpoint is a ``torch.save``d dict loaded with ``torch.load(..., weights_only=True)`` (no pickled code)::

    {"format": "asmnet-checkpoint", "version": 1,
     "config": {"model": "asmnet", "num_points": 68, "input_size": 128, "crop_margin": 1.3, "schema": "ibug68"},
     "state_dict": {name: tensor},              # fp32, or fp16 for shipped files
     "shape_model": {"mean", "components", "eigenvalues": tensors, "total_variance", "residual_variance": float},
     "card": {...},                             # JSON-compatible training settings and metrics
     "train_state": {...}}                      # only in resumable training files (optimizer, epoch, rng)

Anything else (a foreign .pt, a truncated file, a pickle) is refused with ``CheckpointError`` naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from asmnet.model.asm import ShapeModel
from asmnet.inference.runtime import file_sha256  # noqa: F401  (re-exported: the one file hash, torch-free)
from asmnet_studio.datasets.errors import DataError

FORMAT_TAG = "asmnet-checkpoint"
FORMAT_VERSION = 1
REQUIRED_CONFIG = ("model", "num_points", "input_size", "crop_margin", "schema")


class CheckpointError(DataError, ValueError):
    """A file is not a usable ASMNet checkpoint."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


def shape_model_to_dict(model: ShapeModel) -> dict[str, Any]:
    return {"mean": torch.tensor(model.mean), "components": torch.tensor(model.components),
            "eigenvalues": torch.tensor(model.eigenvalues), "total_variance": float(model.total_variance),
            "residual_variance": float(model.residual_variance), "schema": model.schema}


def shape_model_from_dict(d: dict[str, Any]) -> ShapeModel:
    return ShapeModel(d["mean"].double().numpy(), d["components"].double().numpy(), d["eigenvalues"].double().numpy(),
                      total_variance=float(d["total_variance"]), residual_variance=float(d["residual_variance"]),
                      schema=str(d.get("schema", "ibug68")))


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: dict[str, Any], *,
                    shape_model: ShapeModel | None = None, card: dict[str, Any] | None = None,
                    train_state: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write a checkpoint atomically (temp file, then rename).

    Args:
        model: the network (its ``state_dict`` is saved; DDP wrappers are unwrapped).
        config: must hold ``REQUIRED_CONFIG`` keys.
        half: store floating-point weights as fp16 (about half the size; loaded back as fp32).
    """
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise ValueError(f"checkpoint config lacks {missing}; required keys are {list(REQUIRED_CONFIG)}")
    net = getattr(model, "module", model)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu().clone())
             for k, v in net.state_dict().items()}
    obj: dict[str, Any] = {"format": FORMAT_TAG, "version": FORMAT_VERSION, "config": dict(config),
                           "state_dict": state, "card": dict(card or {})}
    if shape_model is not None:
        obj["shape_model"] = shape_model_to_dict(shape_model)
    if train_state is not None:
        obj["train_state"] = train_state
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; CheckpointError naming the file when it is not ours or is broken."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        # TorchVersion is a plain str subclass that early checkpoints carried in their card
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors, zip errors, truncated files, forbidden globals ...
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else type(exc).__name__)
        raise CheckpointError(path, f"not a readable ASMNet checkpoint ({detail[:300]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_TAG:
        raise CheckpointError(path, f"not an ASMNet checkpoint (no '{FORMAT_TAG}' format tag; was it saved by "
                                    f"`asmnet train`?)")
    if int(obj.get("version", -1)) > FORMAT_VERSION:
        raise CheckpointError(path, f"checkpoint format version {obj.get('version')} is newer than this code "
                                    f"supports ({FORMAT_VERSION})")
    cfg = obj.get("config")
    if not isinstance(cfg, dict) or any(k not in cfg for k in REQUIRED_CONFIG):
        raise CheckpointError(path, f"checkpoint config must hold {list(REQUIRED_CONFIG)}")
    if not isinstance(obj.get("state_dict"), dict):
        raise CheckpointError(path, "checkpoint has no state_dict")
    from asmnet.model.checkpoint_checks import validate_checkpoint  # every field in its sane range (issue 17)

    validate_checkpoint(obj, path)
    return obj


def build_model(obj: dict[str, Any], path: str | Path = "<checkpoint>") -> torch.nn.Module:
    """The network described by a loaded checkpoint, weights restored as fp32, in eval mode."""
    from asmnet.model.network import create_model

    cfg = obj["config"]
    model = create_model(cfg["model"], num_points=int(cfg["num_points"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in obj["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(path, f"weights do not fit model {cfg['model']!r}: {str(exc).splitlines()[0]}") from None
    return model.eval()


def load_shape_model(obj: dict[str, Any]) -> ShapeModel | None:
    """The shape model embedded in a loaded checkpoint, or None."""
    d = obj.get("shape_model")
    return shape_model_from_dict(d) if d else None


def numpy_rng_state(rng: np.random.Generator) -> str:
    """A numpy Generator's state as a JSON string (safe for weights_only checkpoints)."""
    import json

    return json.dumps(rng.bit_generator.state)


def restore_numpy_rng(state: str) -> np.random.Generator:
    import json

    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state)
    return rng
