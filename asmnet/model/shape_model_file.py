"""The shape model's file: an ``.npz`` of plain arrays (no pickle) with a format tag, read back with every
field checked. ``ShapeModel.save`` / ``ShapeModel.load`` are the callers."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

FORMAT_TAG = "asmnet-shape-model"
FORMAT_VERSION = 1

Model = TypeVar("Model")


class _NotOurs(Exception):
    pass


def write(model, path: str | Path) -> Path:
    """Write ``model`` (a ``ShapeModel``: mean, components, eigenvalues, total and residual variance, schema,
    plausibility thresholds or None) to ``path``; returns the path numpy wrote (``.npz`` added if missing)."""
    path = Path(path)
    np.savez(path, format=np.array(FORMAT_TAG), version=np.array(FORMAT_VERSION), mean=model.mean,
             components=model.components, eigenvalues=model.eigenvalues,
             total_variance=np.array(model.total_variance), residual_variance=np.array(model.residual_variance),
             schema=np.array(model.schema),
             **({} if model.plausibility_thresholds is None else
                {"plausibility_thresholds": np.asarray(model.plausibility_thresholds, np.float64)}))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def read(path: str | Path, make: Callable[..., Model]) -> Model:
    """The model written by :func:`write` at ``path``, built by ``make(mean, components, eigenvalues, *,
    total_variance, residual_variance, schema)`` (the ``ShapeModel`` class); FileNotFoundError when the file
    is missing, ValueError naming the file when it is not a readable shape model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shape model file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z or str(z["format"]) != FORMAT_TAG:
                raise _NotOurs(f"{path}: not an ASMNet shape model (no '{FORMAT_TAG}' tag)")
            model = make(z["mean"], z["components"], z["eigenvalues"], total_variance=float(z["total_variance"]),
                         residual_variance=float(z["residual_variance"]), schema=str(z["schema"]))
            if "plausibility_thresholds" in z:
                t = np.asarray(z["plausibility_thresholds"], np.float64).ravel()
                if t.shape != (2,) or not np.isfinite(t).all() or not 0 < t[0] <= t[1]:
                    raise _NotOurs(f"{path}: plausibility_thresholds must be two increasing positive numbers, "
                                   f"found {t.tolist()}")
                model.plausibility_thresholds = (float(t[0]), float(t[1]))
            return model
    except _NotOurs as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # zipfile / numpy errors on corrupt files
        raise ValueError(f"{path}: not a readable shape model ({exc})") from None
