"""Build the annotator's shape model, ``asmnet/weights/editor_shape_model68.npz`` (numpy only).

The checkpoint's shape model knows only AFLW2000-3D's 3-D contour convention; the people using the editor
also label the 2-D contour of 300-W. This model is fitted on both, mirrored, and its plausibility
thresholds are taken from held-out ground-truth faces (``ShapeModel.calibrate``):

* fit: AFLW2000-3D ``train`` less the checkpoint's validation faces, 300-W public test (common +
  challenging, 689) and COFW-68 test (507) from SPIGA's 0-based JSON annotations, all mirrored;
* calibrate: the AFLW2000-3D validation faces and the even-numbered half of the 300-W private test set;
* report (never used for a choice): the odd-numbered half of 300-W private and the AFLW2000-3D ``test``
  ground truth, plus the share of the shipped model's ``test`` pre-labels with NME > 10 % that are flagged.

    python -m asmnet.model.editor_model [--data ../shared/data] [--out asmnet/weights/editor_shape_model68.npz]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from asmnet.model.asm import PLAUSIBILITY_QUANTILES, ShapeModel
from asmnet.model.shape_prior import EDITOR_SHAPE_MODEL
from asmnet_studio.datasets.schemas import IBUG68

#: variance fraction of the editor's model (chosen on the calibration faces, see the model card)
VARIANCE = 0.98
SPIGA = Path("300w-samples") / "annotations_only_spiga"


def spiga_shapes(data_dir: Path, part: str) -> np.ndarray:
    """(N, 68, 2) landmarks of SPIGA's ``<part>/test.json`` (0-based pixels, iBUG 68 order)."""
    path = Path(data_dir) / SPIGA / part / "test.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SPIGA annotations not found (set ASMNET_DATA_DIR)")
    entries = json.loads(path.read_text())
    out = np.array([e["landmarks"] for e in entries], np.float64)
    if out.ndim != 3 or out.shape[1:] != (68, 2) or not np.isfinite(out).all():
        raise ValueError(f"{path}: expected finite (N, 68, 2) landmarks, found {out.shape}")
    return out


def validation_indices(samples: list, card: dict) -> np.ndarray:
    """Indices of the checkpoint's validation faces among ``samples`` (the train split, in reading order):
    ``asmnet.training.data.split_validation`` with the card's ``val_fraction`` and ``seed``."""
    from asmnet.training.data import FaceArrays, split_validation, usable_pose

    cfg = card.get("train_config") or {}
    if "val_fraction" not in cfg:
        raise ValueError("the checkpoint's card has no train_config.val_fraction: its validation faces are unknown")
    n = len(samples)
    pose = np.array([s.pose if usable_pose(s.pose) else np.zeros(3) for s in samples], np.float32)
    faces = FaceArrays(np.zeros((n, 1, 1, 3), np.uint8), np.stack([s.points for s in samples]), pose,
                       np.ones(n, bool), [s.image for s in samples], samples[0].schema)
    _, val = split_validation(faces, float(cfg["val_fraction"]), int(cfg.get("seed", 0)))
    return val


def shape_sets(data_dir: Path, card: dict) -> dict[str, np.ndarray]:
    """{'fit', 'calibrate', 'report_300w', 'report_aflw'}: (N, 68, 2) ground-truth shapes (see the module
    docstring); ``card`` is the checkpoint's card (its validation faces are held out)."""
    from asmnet_studio.datasets.formats import read_dataset

    aflw = Path(data_dir) / "aflw2000-3d"
    train = read_dataset(aflw, "aflw2000", split="train").samples
    test = read_dataset(aflw, "aflw2000", split="test").samples
    val = validation_indices(train, card)
    keep = np.setdiff1d(np.arange(len(train)), val)
    a = np.stack([s.points for s in train]).astype(np.float64)
    private = spiga_shapes(data_dir, "300wprivate")
    return {"fit": np.concatenate([a[keep], spiga_shapes(data_dir, "300wpublic"), spiga_shapes(data_dir, "cofw68")]),
            "calibrate": np.concatenate([a[val], private[0::2]]),
            "report_300w": private[1::2],
            "report_aflw": np.stack([s.points for s in test]).astype(np.float64)}


def build(data_dir: Path, card: dict, variance: float = VARIANCE) -> tuple[ShapeModel, dict]:
    """(calibrated model, {set name: share flagged}) for the shapes of :func:`shape_sets`."""
    sets = shape_sets(data_dir, card)
    model = ShapeModel.fit(sets["fit"], variance, mirror_permutation=IBUG68.flip_permutation())
    model.calibrate(sets["calibrate"], PLAUSIBILITY_QUANTILES)
    report = {"faces": {k: len(v) for k, v in sets.items()}, "components": model.num_components,
              "thresholds": list(model.plausibility_thresholds), "quantiles": list(PLAUSIBILITY_QUANTILES)}
    for name in ("calibrate", "report_300w", "report_aflw"):
        report[f"flagged_{name}"] = float(np.mean([model.plausibility(x)[1] != "plausible" for x in sets[name]]))
    return model, report


def main(argv: list[str] | None = None) -> int:
    from asmnet.inference.predictor import Predictor
    import os

    ap = argparse.ArgumentParser(prog="python -m asmnet.model.editor_model", description=__doc__.splitlines()[0])
    shared_data = Path(__file__).resolve().parents[3] / "shared" / "data"
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("ASMNET_DATA_DIR", shared_data)))
    ap.add_argument("--out", type=Path, default=EDITOR_SHAPE_MODEL)
    args = ap.parse_args(argv)
    card = Predictor.default().card
    model, report = build(args.data, card)
    model.save(args.out)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
