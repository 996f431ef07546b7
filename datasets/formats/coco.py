"""COCO-keypoints JSON (the layout mmpose and many face tools use for 300-W, WFLW, COFW, AFLW, LaPa ...).

On disk: ``{"images": [{id, file_name, width, height}], "annotations": [{image_id, keypoints: [x, y, v] * K,
bbox: [x, y, w, h], ...}], "categories": [...]}``; ``v`` is COCO's 2 visible / 1 labelled but occluded /
0 not labelled, which is exactly ``sample.visibility``. ``bbox`` becomes ``box`` (x0, y0, x0 + w, y0 + h).
Coordinates are kept as they are (float32): no shift is applied.

Checked on the real files: mmpose's 300-W and 300-VW JSON carry the **.pts values verbatim** (1-based):
``coco points == read_pts(...) + 1`` (== SPIGA's 0-based JSON + 1). Subtract 1 yourself when mixing
them with 0-based sources. mmpose's WFLW / COFW / AFLW / LaPa JSON come from 0-based sources.

The reader takes a folder holding one ``*.json`` (``annotations.json`` preferred when several) or the JSON
file itself; image paths are relative to the JSON's folder. The schema comes from ``info.schema`` when
present, else from the point count (``schema_for_points``); ``read(root, schema=...)`` overrides it.
The writer writes ``annotations.json`` (with ``info.schema``, category keypoint names and a 1-based
skeleton) and copies the images; it also stores ``pose`` (yaw, pitch, roll degrees), ``split``, ``subset``,
``attributes``, ``face`` and ``box`` (the exact x0, y0, x1, y1 corners, preferred to ``bbox`` on reading)
in each annotation so that a round trip is lossless.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from asmnet_studio.datasets.errors import FormatError, ImageError
from asmnet_studio.datasets.images import image_size
from asmnet_studio.datasets.formats._common import (image_name_problem, short, find_single_file, atomic_write_text,
                                                    check_writable, copy_image, flag_points, format_float, problem)
from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.sample import Dataset, Problem, Sample
from asmnet_studio.datasets.schemas import SCHEMAS, get_schema, schema_for_points

NAME = "coco"
FILE_NAME = "annotations.json"


def _json_path(root: Path) -> tuple[Path, Path]:
    """(json file, dataset root) for a folder or a file; FormatError when not exactly one candidate."""
    return find_single_file(root, FILE_NAME, "*.json", "*.json annotation file")


class _LongInt(str):
    """A JSON integer of more than 30 digits, kept as text (never a number: ids and coordinates refuse it)."""


def _parse_int(text: str):
    """JSON integers: a plain int up to 30 digits; longer ones stay text (``_LongInt``), so that neither
    Python's 4,300-digit limit nor a float overflow can stop the whole file."""
    return int(text) if len(text) <= 30 else _LongInt(text)


def _float_list(value, n: int | None, what: str, path: Path, ann: str) -> np.ndarray:
    if not isinstance(value, list) or (n is not None and len(value) != n):
        raise FormatError(path, f"{ann}: '{what}' must be a list of {n} numbers, found {type(value).__name__}"
                                f"{'' if not isinstance(value, list) else f' of length {len(value)}'}")
    for j, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):  # "12.5", true, a 5,000-digit integer
            raise FormatError(path, f"{ann}: '{what}' value {j} is {short(v, 60)}: "
                                    "not a number (a JSON number is needed)")
    try:
        return np.asarray([float(v) for v in value], dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        raise FormatError(path, f"{ann}: '{what}' holds a number too large for a coordinate") from None


def _parse_annotation(a: dict, k: int, path: Path, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ann = f"annotation {idx}" + (f" (id {a['id']})" if isinstance(a, dict) and "id" in a else "")
    if not isinstance(a, dict) or "keypoints" not in a:
        raise FormatError(path, f"{ann}: missing 'keypoints'")
    kp = a["keypoints"]
    if not isinstance(kp, list) or len(kp) != 3 * k:
        n = len(kp) if isinstance(kp, list) else type(kp).__name__
        raise FormatError(path, f"{ann}: expected {3 * k} keypoint values ({k} points x [x, y, v]), found {n}")
    arr = _float_list(kp, 3 * k, "keypoints", path, ann).reshape(k, 3)
    bad = np.where(~np.isfinite(arr[:, :2]).all(axis=1))[0]
    if bad.size:
        raise FormatError(path, f"{ann}: non-finite coordinate", point=int(bad[0]))
    vis = arr[:, 2]
    badv = np.where(~np.isin(vis, (0, 1, 2)))[0]
    if badv.size:
        raise FormatError(path, f"{ann}: visibility must be 0, 1 or 2, found {vis[badv[0]]}", point=int(badv[0]))
    box = None
    if a.get("box") is not None:  # our writer's exact corners (x0, y0, x1, y1); bbox is for other tools
        b = _float_list(a["box"], 4, "box", path, ann)
        if not np.isfinite(b).all():
            raise FormatError(path, f"{ann}: non-finite box {b.tolist()}")
        box = b.astype(np.float32)
    elif a.get("bbox") is not None:
        b = _float_list(a["bbox"], 4, "bbox", path, ann)
        if not np.isfinite(b).all():
            raise FormatError(path, f"{ann}: non-finite bbox {b.tolist()}")
        box = np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], dtype=np.float32)
    return arr[:, :2].astype(np.float32), vis.astype(np.int8), box


def _extras(a: dict, im: dict, path: Path, idx: int):
    """(pose (3,) float32 | None, split, subset, attributes) of one annotation; FormatError when malformed."""
    ann = f"annotation {idx}"
    pose = None
    if a.get("pose") is not None:
        pose = _float_list(a["pose"], 3, "pose", path, ann)
        if not np.isfinite(pose).all():
            raise FormatError(path, f"{ann}: non-finite pose {pose.tolist()}")
        pose = pose.astype(np.float32)
    texts = []
    for key in ("split", "subset"):
        v = a.get(key, im.get(key))
        if v is not None and not isinstance(v, str):
            raise FormatError(path, f"{ann}: '{key}' must be text, found {v!r}")
        texts.append(v or None)
    attrs = a.get("attributes") or {}
    if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in attrs.items()):
        raise FormatError(path, f"{ann}: 'attributes' must map names to integers, found {attrs!r}")
    return pose, texts[0], texts[1], dict(attrs)


def read(root: Path, *, schema: str | None = None) -> Dataset:
    """Read a COCO-keypoints JSON (see the module docstring). Bad annotations become problems."""
    json_path, base = _json_path(Path(root))
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"), parse_int=_parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise FormatError(json_path, f"not a JSON file ({str(exc)[:200]})", line=line) from None
    except RecursionError:
        raise FormatError(json_path, "JSON nested too deeply to be a COCO file") from None
    if (not isinstance(doc, dict) or not isinstance(doc.get("images"), list)
            or not isinstance(doc.get("annotations"), list)):
        raise FormatError(json_path, "not a COCO keypoints file: needs top-level 'images' and 'annotations' lists")
    anns = doc["annotations"]
    if schema is None:
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        if isinstance(info.get("schema"), str) and info["schema"] in SCHEMAS:
            schema = info["schema"]
        else:
            counts = Counter(len(a["keypoints"]) // 3 for a in anns
                             if isinstance(a, dict) and isinstance(a.get("keypoints"), list))
            if not counts:
                raise FormatError(json_path, "no annotation with 'keypoints'; cannot tell the landmark schema")
            try:
                schema = schema_for_points(counts.most_common(1)[0][0])
            except ValueError as exc:
                raise FormatError(json_path, str(exc)) from None
    k = get_schema(schema).num_points
    ds = Dataset(root=base, format=NAME, schema=schema)
    images: dict = {}
    repeated: Counter = Counter()
    for i, im in enumerate(doc["images"]):
        if (not isinstance(im, dict) or isinstance(im.get("id"), bool) or not isinstance(im.get("id"), (int, str))
                or not isinstance(im.get("file_name"), str)):
            ds.problems.append(problem(FormatError(json_path, f"image entry {i}: needs an 'id' (number or text) "
                                                              "and a 'file_name'")))
            continue
        if im["id"] in images:  # which file would its annotations belong to? neither: both are refused
            repeated[im["id"]] += 1
            ds.problems.append(problem(FormatError(json_path, f"image entry {i}: id {short(im['id'], 60)} is "
                                                              f"also the id of {short(images[im['id']]['file_name'])}; "
                                                              "the annotations of that id are not imported")))
            continue
        images[im["id"]] = im
    for image_id in repeated:
        images[image_id] = None
    faces: Counter = Counter()
    for idx, a in enumerate(anns):
        try:
            points, vis, box = _parse_annotation(a, k, json_path, idx)
            image_id = a.get("image_id")
            known = isinstance(image_id, (int, str)) and not isinstance(image_id, bool)
            im = images.get(image_id) if known else None
            if known and image_id in images and im is None:
                raise FormatError(json_path, f"annotation {idx}: image_id {short(image_id, 60)} names several "
                                             "images; not imported")
            if im is None:
                raise FormatError(json_path, f"annotation {idx}: image_id {short(image_id, 60)} is not in 'images'")
            rel = relative_name(im["file_name"], folder=base).as_posix()
            why = image_name_problem(base, rel)
            if why:
                raise FormatError(json_path, f"annotation {idx}: {why}")
            pose, split, subset, attrs = _extras(a, im, json_path, idx)
        except FormatError as exc:
            ds.problems.append(problem(exc))
            continue
        except ValueError as exc:  # unsafe file_name
            ds.problems.append(Problem(str(json_path), f"{json_path}: annotation {idx}: {exc}"))
            continue
        s = Sample(
            image=rel, points=points, schema=schema, visibility=vis, box=box, pose=pose, split=split,
            subset=subset, attributes=attrs, source_file=str(json_path),
            face=a["face"] if isinstance(a.get("face"), int) and a["face"] >= 0 else faces[rel],
        )
        faces[rel] += 1
        img_path = base / rel
        if not img_path.is_file():
            s.flags.append(f"image file not found: {img_path}")
            img_path = None
        flag_points(s, img_path)
        ds.samples.append(s)
    return ds


def _num(v: float) -> float:
    """A float32 value as the float64 of its shortest decimal (short JSON, same float32 on reading)."""
    return float(format_float(v))


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write ``out_dir / annotations.json`` and copies of the images; returns the JSON path."""
    out_dir = Path(out_dir)
    schema = get_schema(dataset.schema)
    check_writable(dataset, NAME, num_points=schema.num_points)
    images: dict[str, dict] = {}
    anns: list[dict] = []
    for s in dataset.samples:
        rel = relative_name(s.image).as_posix()
        if rel not in images:
            dst = copy_image(dataset, s, out_dir)
            entry = {"id": len(images) + 1, "file_name": rel}
            try:
                entry["width"], entry["height"] = image_size(dst)
            except ImageError:  # size is informative only
                pass
            images[rel] = entry
        vis = s.visibility if s.visibility is not None else np.full(len(s.points), 2, dtype=np.int8)
        kp: list[float] = []
        for (x, y), v in zip(np.asarray(s.points, dtype=np.float32), vis):
            kp += [_num(x), _num(y), int(v)]
        a: dict = {"id": len(anns) + 1, "image_id": images[rel]["id"], "category_id": 1, "iscrowd": 0,
                   "num_keypoints": int(np.count_nonzero(vis)), "keypoints": kp, "face": s.face}
        if s.box is not None:
            b = np.asarray(s.box, dtype=np.float32).astype(np.float64)
            a["bbox"] = [_num(b[0]), _num(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
            a["box"] = [_num(v) for v in b]  # exact corners: x + w need not give x1 back bit-exactly
        if s.pose is not None:
            a["pose"] = [_num(v) for v in s.pose]
        for key in ("split", "subset"):
            if getattr(s, key) is not None:
                a[key] = getattr(s, key)
        if s.attributes:
            a["attributes"] = {k: int(v) for k, v in s.attributes.items()}
        anns.append(a)
    doc = {
        "info": {"description": "written by ASMNet Studio", "schema": schema.name},
        "images": list(images.values()),
        "annotations": anns,
        "categories": [{"id": 1, "name": "face", "supercategory": "person", "keypoints": list(schema.names),
                        "skeleton": [[i + 1, j + 1] for i, j in schema.edges]}],
    }
    return atomic_write_text(out_dir / FILE_NAME, json.dumps(doc, indent=1))
