"""The validation faces a checkpoint was chosen on, by image name, so that later checks never use its training faces.

Drawing the set again with ``asmnet.training.data.split_validation`` is only right while the bucket rule, the
pose preparation and the data stay exactly as they were when the checkpoint was trained; a recorded list of
names does not drift. A checkpoint's validation set is, in this order (``checkpoint_split``):

1. its card's ``validation_names`` (training records them, ``asmnet.training.train_setup``; the release keeps
   them in the shipped card);
2. the names in ``<checkpoint stem>.validation.txt`` beside it (one image path per line, relative to the dataset
   root; ``#`` starts a comment line). The shipped ``asmnet/weights/asmnet68.validation.txt`` holds the 120 faces
   the shipped model was chosen on (its card predates recorded names);
3. otherwise drawn again: ``split_validation`` with the card's ``val_fraction`` and ``seed`` on the poses as
   training prepares them (``training_poses``: a pose beyond ``POSE_LIMIT_DEG`` counts as 0 deg), which
   reproduces the run's draw only while that rule is unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from asmnet.training.data import FaceArrays, split_by_names, split_validation, usable_pose

#: the file beside a checkpoint that lists its validation faces (``asmnet68.pt`` -> ``asmnet68.validation.txt``)
VALIDATION_SUFFIX = ".validation.txt"


def validation_file(checkpoint: str | Path) -> Path:
    """``<checkpoint stem>.validation.txt`` beside ``checkpoint``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + VALIDATION_SUFFIX)


def read_names(path: str | Path) -> list[str]:
    """Image names listed in ``path`` (blank lines and ``#`` comment lines skipped); ValueError naming the file
    and line of a repeated name or when it lists none."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name in seen:
            raise ValueError(f"{path}:{no}: {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = no
        names.append(name)
    if not names:
        raise ValueError(f"{path}: lists no validation face")
    return names


def write_names(path: str | Path, names: Sequence[str], comment: str) -> Path:
    """Write ``names`` one per line under ``comment`` (each of its lines prefixed with ``# ``), through a
    temporary file renamed into place."""
    path = Path(path)
    text = "".join(f"# {c}\n" for c in comment.splitlines()) + "".join(f"{n}\n" for n in names)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def recorded_names(checkpoint: str | Path | None, card: dict[str, Any]) -> tuple[list[str], str] | None:
    """(names, where they were found) of a checkpoint's recorded validation faces: its card's
    ``validation_names``, else the ``.validation.txt`` beside it; None when neither exists."""
    names = card.get("validation_names")
    if names:
        return [str(n) for n in names], "the checkpoint card's validation_names"
    if checkpoint is not None and validation_file(checkpoint).is_file():
        path = validation_file(checkpoint)
        return read_names(path), str(path)
    return None


def training_poses(samples: Sequence) -> np.ndarray:
    """(N, 3) float32 yaw, pitch, roll degrees of ``samples`` as training prepares them
    (``asmnet.training.data.decode_faces``): 0 where the pose is missing or not ``usable_pose``."""
    return np.stack([np.asarray(s.pose, np.float32) if usable_pose(s.pose) else np.zeros(3, np.float32)
                     for s in samples])


def checkpoint_split(names: Sequence[str], pose: np.ndarray, checkpoint: str | Path | None, card: dict[str, Any],
                     fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(train indices, validation indices, where the set came from) of a checkpoint's training data.

    Args:
        names: N image names of the data the checkpoint was trained on, in reading order.
        pose: (N, 3) poses in degrees as training prepared them (``training_poses``; only for the fallback draw).
        checkpoint: the checkpoint file (its ``.validation.txt`` is looked for beside it), or None.
        card: its card.
        fraction, seed: the run's validation fraction and seed (only for the fallback draw).
    Raises:
        ValueError naming the first recorded names that are not in ``names``.
    """
    found = recorded_names(checkpoint, card)
    if found is None:
        n = len(names)
        stub = FaceArrays(np.zeros((n, 1, 1, 3), np.uint8), np.zeros((n, 1, 2), np.float32),
                          np.asarray(pose, np.float32), np.ones(n, bool), list(names), "")
        train, val = split_validation(stub, fraction, seed)
        return train, val, f"drawn again by split_validation (fraction {fraction}, seed {seed})"
    val_names, source = found
    train, val, missing = split_by_names(names, val_names)
    if missing:
        raise ValueError(f"{source}: {len(missing)} of its {len(val_names)} validation faces are not in the data "
                         f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}); is it the checkpoint's "
                         f"training data?")
    return train, val, source
