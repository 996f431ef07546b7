"""Rows <-> records: the exact blob encoding of arrays and the column dicts of images, annotations and
predictions.

Arrays are stored as little-endian blobs: points / pose / box / confidence float32 (``<f4``), visibility
int8; a float32 array read back is bit-identical to the one saved. Times are ISO-8601 UTC with
microseconds. The ``*_row`` / ``*_columns`` encoders validate their input (``checks``) and raise
ValueError naming the point, element or row at fault.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.store.checks import (check_choice, check_int_id, check_placed, check_points, check_schema,
                                   check_text, check_vector, check_visibility)
from asmnet_studio.datasets.store.records import (BOX_SOURCES, POSE_SOURCES, SOURCES, STATUSES, Annotation, ImageRecord,
                                    PredictionRow)

ANN_COLS = ("id", "image_id", "version", "author", "created_at", "source", "status", "num_points",
            "points", "visibility", "pose", "schema", "note", "base_version", "placed", "pose_source")
IMG_COLS = ("id", "path", "name", "root", "sha256", "width", "height", "dataset", "split", "subset",
            "tags", "box", "face", "box_source")
PRED_COLS = ("id", "image_id", "model_id", "num_points", "points", "pose", "confidence", "box",
             "uncertainty", "created_at")


def now() -> str:
    """The current UTC time, ISO-8601 with microseconds, e.g. "2026-11-24T14:15:26.123456+00:00"."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def f32_blob(a: np.ndarray | None) -> bytes | None:
    """An array as little-endian float32 bytes (None stays None)."""
    return None if a is None else np.ascontiguousarray(a, dtype="<f4").tobytes()


def f32(blob: bytes | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A float32 blob back as a native float32 array of ``shape`` (None stays None)."""
    if blob is None:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(shape)


def i8(blob: bytes | None) -> np.ndarray | None:
    """An int8 blob back as a (K,) int8 array (None stays None)."""
    return None if blob is None else np.frombuffer(blob, dtype="i1").astype(np.int8)


# ---------------------------------------------------------------------------------------------- images


def image_row(file: Path, sha: str, width: int, height: int, *, dataset, split, subset, tags, box, name, root,
              face: int = 0, box_source: str | None = None) -> dict:
    """Validated, encoded columns of an images row (all but id)."""
    tags = [str(t) for t in ([tags] if isinstance(tags, str) else tags)]
    box = check_vector(box, 4, "box")
    if box_source is not None:
        check_choice(box_source, BOX_SOURCES, "box source")
    face = check_int_id(face, "face")
    if face < 0:
        raise ValueError(f"face must be >= 0, found {face}")
    for what, value in (("dataset", dataset), ("split", split), ("subset", subset)):
        check_text(value, what, optional=True)
    if name is not None:
        name = relative_name(name, "image name", Path(root or file.parent)).as_posix()
    return {"path": str(file), "name": name or file.name, "root": str(root or file.parent),
            "sha256": sha, "width": width, "height": height, "dataset": dataset, "split": split,
            "subset": subset, "tags": json.dumps(tags), "box": f32_blob(box), "added_at": now(),
            "face": face, "box_source": box_source}


def image_record(r: dict) -> ImageRecord:
    """An ``ImageRecord`` from an images row (``IMG_COLS``)."""
    return ImageRecord(id=r["id"], path=Path(r["path"]), sha256=r["sha256"], width=r["width"],
                       height=r["height"], dataset=r["dataset"], split=r["split"], subset=r["subset"],
                       tags=list(json.loads(r["tags"])), box=f32(r["box"], (4,)), name=r["name"],
                       root=Path(r["root"]) if r["root"] else None, face=int(r["face"] or 0),
                       box_source=r["box_source"])


# ----------------------------------------------------------------------------------------- annotations


def annotation_row(points, *, author, source, status, visibility, pose, schema, note, placed=None,
                   pose_source: str | None = None) -> dict:
    """Validated, encoded columns of an annotation (all but id, image_id, version, base_version).

    ``placed``: the points a person placed by hand (``check_placed``), stored as a (K,) 0/1 int8 blob (NULL:
    none). ``pose_source`` (``POSE_SOURCES``): "none" without a pose; with a pose, when not given, ground
    truth's is "ground_truth", a prediction's "model", and a correction's is left None for the store to
    infer (``migrations.INFERRED_POSE_SOURCE_SQL``).
    """
    pts = check_points(points)
    k = pts.shape[0]
    source = check_choice(source, SOURCES, "source")
    pose = check_vector(pose, 3, "pose")
    if pose_source is not None:
        check_choice(pose_source, POSE_SOURCES, "pose source")
        if (pose is None) != (pose_source == "none"):
            raise ValueError(f"pose source {pose_source!r} does not fit " + ("no pose" if pose is None else "a pose"))
    elif pose is None:
        pose_source = "none"
    else:
        pose_source = {"ground_truth": "ground_truth", "prediction": "model"}.get(source)
    mask = check_placed(placed, k)
    return {"author": check_text(author, "author"),
            "created_at": now(),
            "source": source,
            "status": check_choice(status, STATUSES, "status"),
            "num_points": k,
            "points": f32_blob(pts),
            "visibility": None if visibility is None else check_visibility(visibility, k).tobytes(),
            "pose": f32_blob(pose),
            "schema": check_schema(schema, k),
            "note": check_text(note, "note", optional=True),
            "placed": None if mask is None else mask.astype(np.int8).tobytes(),
            "pose_source": pose_source}


def annotation(r: dict) -> Annotation:
    """An ``Annotation`` from an annotations row (``ANN_COLS``)."""
    k = r["num_points"]
    return Annotation(id=r["id"], image_id=r["image_id"], version=r["version"], author=r["author"],
                      created_at=r["created_at"], source=r["source"], status=r["status"],
                      points=f32(r["points"], (k, 2)), visibility=i8(r["visibility"]),
                      pose=f32(r["pose"], (3,)), schema=r["schema"], note=r["note"],
                      base_version=r["base_version"], placed=placed_mask(r["placed"], k),
                      pose_source=r["pose_source"])


def placed_mask(blob: bytes | None, k: int) -> np.ndarray:
    """The (K,) bool "placed by hand" mask of a ``placed`` blob (NULL: no point placed)."""
    return np.zeros(k, bool) if blob is None else np.frombuffer(blob, dtype="i1").astype(bool)


# ----------------------------------------------------------------------------------------- predictions


def prediction_columns(i: int, r: PredictionRow) -> dict:
    """Validated, encoded columns of prediction row ``i`` (all but id); ValueError naming the row."""
    try:
        pts = check_points(r.points)
        k = pts.shape[0]
        conf = check_vector(r.confidence, k, "confidence")
        if conf is None:
            raise ValueError("confidence is required, shape (K,)")
        unc = float(r.uncertainty) if r.uncertainty is not None else float("nan")
        return {"image_id": check_int_id(r.image_id, "image_id"),
                "model_id": check_int_id(r.model_id, "model_id"), "num_points": k,
                "points": f32_blob(pts), "pose": f32_blob(check_vector(r.pose, 3, "pose")),
                "confidence": f32_blob(conf), "box": f32_blob(check_vector(r.box, 4, "box")),
                "uncertainty": None if math.isnan(unc) else unc, "created_at": now()}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"prediction row {i}: {exc}") from None


def prediction(r: dict) -> PredictionRow:
    """A ``PredictionRow`` from a predictions row (``PRED_COLS``)."""
    k = r["num_points"]
    unc = r["uncertainty"]
    return PredictionRow(image_id=r["image_id"], model_id=r["model_id"], points=f32(r["points"], (k, 2)),
                         pose=f32(r["pose"], (3,)), confidence=f32(r["confidence"], (k,)),
                         box=f32(r["box"], (4,)), uncertainty=float("nan") if unc is None else float(unc),
                         id=r["id"], created_at=r["created_at"])
