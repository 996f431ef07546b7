"""Range checks of a loaded checkpoint's content (issue 17, item 9), before anything is built from it.

A file with the right format tag can still hold a config that would crash or exhaust the machine
(``num_points`` a list, negative or 3,000,000; ``input_size`` 200,000), weights that are not tensors, a broken
shape model or a ``card`` that is not a mapping. :func:`validate_checkpoint` checks every field against sane
ranges and raises ``CheckpointError`` naming the file and the field. It needs no torch: tensors and numpy
arrays are both read through ``shape`` / ``dtype`` / ``numel``-like attributes, so a torch-free loader can use
it too.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: Sane ranges of the config fields (inclusive).
NUM_POINTS_RANGE = (3, 1000)
INPUT_SIZE_RANGE = (32, 1024)
CROP_MARGIN_RANGE = (0.5, 4.0)
#: Most weights (elements) a checkpoint may hold: ~50x the shipped model's 1.4 M.
MAX_WEIGHTS = 80_000_000
#: Most shape-model components.
MAX_COMPONENTS = 2000


def _error(path, message: str):
    from asmnet.model.checkpoint import CheckpointError

    return CheckpointError(path, message)


def _int_in(cfg: dict, key: str, lo: int, hi: int, path) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _error(path, f"config '{key}' must be an integer in {lo}..{hi}, found {type(v).__name__} {v!r:.60}")
    if not lo <= v <= hi:
        raise _error(path, f"config '{key}' = {v} is out of range {lo}..{hi}")
    return v


def _shape(value) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    if shape is None or getattr(value, "dtype", None) is None:
        return None
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        return None


def _is_numeric(value) -> bool:
    kind = str(getattr(value, "dtype", ""))
    return any(t in kind for t in ("float", "int", "bool", "uint")) and "complex" not in kind


def _finite_array(value, what: str, path) -> tuple[int, ...]:
    shape = _shape(value)
    if shape is None or not _is_numeric(value):
        raise _error(path, f"{what} must be a numeric tensor, found {type(value).__name__}")
    import numpy as np

    arr = value.detach().cpu().double().numpy() if hasattr(value, "detach") else np.asarray(value, np.float64)
    if not np.isfinite(arr).all():
        raise _error(path, f"{what} holds non-finite values")
    return shape


def validate_config(cfg: Any, path) -> None:
    """The config fields: model (a registered name when ``asmnet.model.network`` is importable), num_points,
    input_size, crop_margin, schema."""
    if not isinstance(cfg, dict):
        raise _error(path, f"checkpoint config must be a mapping, found {type(cfg).__name__}")
    model = cfg.get("model")
    if not isinstance(model, str) or not model:
        raise _error(path, f"config 'model' must be a model name, found {model!r:.60}")
    try:
        from asmnet.model.network import list_models as model_names
    except Exception:  # torch-free use: the name is checked when the network is built
        pass
    else:
        if model not in model_names():
            raise _error(path, f"config 'model' {model!r:.60} is not one of {model_names()}")
    k = _int_in(cfg, "num_points", *NUM_POINTS_RANGE, path)
    _int_in(cfg, "input_size", *INPUT_SIZE_RANGE, path)
    m = cfg.get("crop_margin")
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) \
            or not CROP_MARGIN_RANGE[0] <= m <= CROP_MARGIN_RANGE[1]:
        raise _error(path, f"config 'crop_margin' must be a number in {CROP_MARGIN_RANGE[0]}..{CROP_MARGIN_RANGE[1]}"
                           f", found {m!r:.60}")
    schema = cfg.get("schema")
    if not isinstance(schema, str):
        raise _error(path, f"config 'schema' must be a schema name, found {schema!r:.60}")
    from asmnet_studio.datasets.schemas import SCHEMAS

    if schema not in SCHEMAS:
        raise _error(path, f"config 'schema' {schema!r:.60} is not one of {sorted(SCHEMAS)}")
    if SCHEMAS[schema].num_points != k:
        raise _error(path, f"config 'num_points' {k} does not match schema {schema!r} "
                           f"({SCHEMAS[schema].num_points} points)")


def validate_state_dict(state: Any, path) -> None:
    """Names to numeric tensors, ``MAX_WEIGHTS`` elements at most in all."""
    if not isinstance(state, dict) or not state:
        raise _error(path, "checkpoint state_dict must be a non-empty mapping of names to tensors")
    total = 0
    for name, value in state.items():
        shape = _shape(value)
        if not isinstance(name, str) or shape is None or not _is_numeric(value):
            raise _error(path, f"state_dict entry {str(name)[:80]!r} is not a numeric tensor "
                               f"({type(value).__name__})")
        total += math.prod(shape)
        if total > MAX_WEIGHTS:
            raise _error(path, f"state_dict holds more than {MAX_WEIGHTS} weights")


def validate_shape_model(d: Any, num_points: int, path) -> None:
    """mean (K, 2), components (C, 2K), eigenvalues (C,) >= 0, all finite, K = num_points; variances >= 0."""
    if d is None:
        return
    if not isinstance(d, dict):
        raise _error(path, f"shape_model must be a mapping, found {type(d).__name__}")
    for key in ("mean", "components", "eigenvalues"):
        if key not in d:
            raise _error(path, f"shape_model lacks '{key}'")
    mean = _finite_array(d["mean"], "shape_model mean", path)
    comp = _finite_array(d["components"], "shape_model components", path)
    eig = _finite_array(d["eigenvalues"], "shape_model eigenvalues", path)
    k = num_points
    if mean != (k, 2) or len(comp) != 2 or comp[1] != 2 * k or not 0 < comp[0] <= MAX_COMPONENTS \
            or eig != (comp[0],):
        raise _error(path, f"shape_model arrays do not fit {k} points: mean {mean}, components {comp}, "
                           f"eigenvalues {eig} (expected ({k}, 2), (C, {2 * k}), (C,) with 1 <= C <= {MAX_COMPONENTS})")
    import numpy as np

    ev = d["eigenvalues"]
    ev = ev.detach().cpu().double().numpy() if hasattr(ev, "detach") else np.asarray(ev, np.float64)
    if (ev < 0).any():
        raise _error(path, "shape_model eigenvalues must be >= 0")
    for key in ("total_variance", "residual_variance"):
        v = d.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise _error(path, f"shape_model '{key}' must be a finite number >= 0, found {v!r:.60}")
    if "schema" in d and not isinstance(d["schema"], str):
        raise _error(path, f"shape_model 'schema' must be a name, found {type(d['schema']).__name__}")


def validate_checkpoint(obj: dict[str, Any], path: str | Path) -> None:
    """Every field of a loaded checkpoint (config, state_dict, shape_model, card, train_state) in its sane
    range; ``CheckpointError`` naming ``path`` and the field otherwise."""
    validate_config(obj.get("config"), path)
    validate_state_dict(obj.get("state_dict"), path)
    validate_shape_model(obj.get("shape_model"), int(obj["config"]["num_points"]), path)
    for key in ("card", "train_state"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            raise _error(path, f"checkpoint '{key}' must be a mapping, found {type(obj[key]).__name__}")
