"""WFLW annotation lists (Wu et al., CVPR 2018): one face per line, 207 space-separated fields::

    x0 y0 x1 y1 ... x97 y97   x_min y_min x_max y_max   pose expression illumination make-up occlusion blur   image

i.e. 196 coordinates (0-based pixels, kept as float32), a face box, six 0/1 attribute flags and the image
path relative to ``WFLW_images/``. Official layout::

    WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt   (split "train")
    WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt    (split "test")
    WFLW_images/<event folder>/<image>.jpg

The reader takes the dataset root; it reads every ``list_98pt_rect_attr*.txt`` below it (or, when there is
none, every ``*.txt`` directly in the root), takes the split from the file name (``train`` / ``test``) and
finds each image in ``WFLW_images/`` or in the root. Attributes go to ``sample.attributes`` under
``ATTRIBUTES``. The writer writes the official layout: annotation files per split, images at their
relative paths (``sample.image``), so a round trip returns the same samples.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats._common import (parse_float, short, atomic_write_text, locate_listed_image,
                                                    check_writable, copy_image, flag_points, format_float, problem)
from asmnet_studio.datasets.paths import relative_name
from asmnet_studio.datasets.sample import Dataset, Problem, Sample

NAME = "wflw"
NUM_POINTS = 98
ATTRIBUTES = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")
IMAGE_DIR = "WFLW_images"
ANNOTATION_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"
_NUM_FIELDS = 2 * NUM_POINTS + 4 + len(ATTRIBUTES) + 1


def parse_line(line: str, path: str | Path = "<line>", line_no: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, dict[str, int], str]:
    """(points (98, 2) float32, box (4,) float32 x0 y0 x1 y1, attributes, image name) of one line.

    Raises FormatError naming ``path``, ``line_no`` and the point index for a bad coordinate.
    """
    toks = line.split()
    if len(toks) < _NUM_FIELDS:
        raise FormatError(path, f"expected {_NUM_FIELDS} fields (196 coordinates, 4 box values, 6 attribute "
                                f"flags, image name), found {len(toks)}", line=line_no)
    image = " ".join(toks[_NUM_FIELDS - 1:])  # tolerate spaces in the image name
    values = np.empty(2 * NUM_POINTS + 4, dtype=np.float64)
    for i, t in enumerate(toks[:2 * NUM_POINTS + 4]):
        try:
            values[i] = parse_float(t)
        except ValueError:
            what = f"point {i // 2}" if i < 2 * NUM_POINTS else f"box value {i - 2 * NUM_POINTS}"
            raise FormatError(path, f"{what}: {short(t)} is not a number", line=line_no,
                              point=i // 2 if i < 2 * NUM_POINTS else None) from None
    points = values[:2 * NUM_POINTS].reshape(NUM_POINTS, 2)
    bad = np.where(~np.isfinite(points).all(axis=1))[0]
    if bad.size:
        raise FormatError(path, "non-finite coordinate", line=line_no, point=int(bad[0]))
    box = values[2 * NUM_POINTS:]
    if not np.isfinite(box).all():
        raise FormatError(path, f"non-finite box {box.tolist()}", line=line_no)
    attrs: dict[str, int] = {}
    for name, t in zip(ATTRIBUTES, toks[2 * NUM_POINTS + 4:2 * NUM_POINTS + 10]):
        if t not in ("0", "1"):
            raise FormatError(path, f"attribute {name!r} must be 0 or 1, found {short(t)}", line=line_no)
        attrs[name] = int(t)
    return points.astype(np.float32), box.astype(np.float32), attrs, image


def format_line(points: np.ndarray, box: np.ndarray, attributes: dict[str, int], image: str) -> str:
    """One annotation line (no newline) for (98, 2) points, a (4,) box, the attribute flags and the image."""
    nums = [format_float(v) for v in np.asarray(points, dtype=np.float32).ravel()]
    nums += [format_float(v) for v in np.asarray(box, dtype=np.float32)]
    flags = [str(int(attributes.get(a, 0))) for a in ATTRIBUTES]
    return " ".join(nums + flags + [image])


def _split_of(path: Path) -> str | None:
    """The split named by an annotation file: ``list_98pt_rect_attr_<split>.txt``, else train/test in the name."""
    name = path.stem.lower()
    prefix = "list_98pt_rect_attr_"
    if name.startswith(prefix) and len(name) > len(prefix):
        return path.stem[len(prefix):]
    if "train" in name:
        return "train"
    if "test" in name:
        return "test"
    return None


def _annotation_files(root: Path) -> list[Path]:
    files = sorted(p for p in root.rglob("list_98pt_rect_attr*.txt") if p.is_file())
    return files or sorted(p for p in root.glob("*.txt") if p.is_file())


def read(root: Path) -> Dataset:
    """Read a WFLW folder (see the module docstring); bad lines become problems naming file and line."""
    root = Path(root)
    if not root.is_dir():
        raise FormatError(root, "dataset folder does not exist" if not root.exists() else "not a folder")
    files = _annotation_files(root)
    if not files:
        raise FormatError(root, "no WFLW annotation list (list_98pt_rect_attr_*.txt) found")
    ds = Dataset(root=root, format=NAME, schema="wflw98")
    faces: dict[str, int] = defaultdict(int)
    for ann in files:
        split = _split_of(ann)
        try:
            text = ann.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            ds.problems.append(problem(FormatError(ann, f"not a WFLW text file ({exc})")))
            continue
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                points, box, attrs, name = parse_line(line, ann, line_no)
                rel = relative_name(name)
            except FormatError as exc:
                ds.problems.append(problem(exc))
                continue
            except ValueError as exc:  # unsafe image path
                ds.problems.append(Problem(str(ann), f"{ann}, line {line_no}: {exc}", line=line_no))
                continue
            image, missing = locate_listed_image(root, (IMAGE_DIR, ""), rel, name, ann, line_no)
            if missing:
                ds.problems.append(missing)
                continue
            s = Sample(image=image, points=points, schema="wflw98", box=box, split=split, attributes=attrs,
                       source_file=str(ann), face=faces[image])
            faces[image] += 1
            flag_points(s, root / image)
            ds.samples.append(s)
    return ds


def write(dataset: Dataset, out_dir: Path) -> Path:
    """Write the official WFLW layout under ``out_dir``; returns ``out_dir`` (what ``read`` takes).

    Samples without a box get the bounding box of their points (the format requires one); missing
    attributes are written as 0. Images are copied to ``out_dir / sample.image``.
    """
    out_dir = Path(out_dir)
    check_writable(dataset, NAME, num_points=NUM_POINTS)
    by_split: dict[str | None, list[str]] = defaultdict(list)
    for s in dataset.samples:
        rel = relative_name(s.image)
        copy_image(dataset, s, out_dir, rel)
        name = rel.relative_to(IMAGE_DIR) if rel.parts[0] == IMAGE_DIR else rel
        box = s.box if s.box is not None else np.concatenate([s.points.min(0), s.points.max(0)])
        by_split[s.split].append(format_line(s.points, box, s.attributes, name.as_posix()))
    ann_dir = out_dir / ANNOTATION_DIR
    ann_dir.mkdir(parents=True, exist_ok=True)
    for split, lines in by_split.items():
        fname = f"list_98pt_rect_attr_{split}.txt" if split else "list_98pt_rect_attr.txt"
        atomic_write_text(ann_dir / fname, "\n".join(lines) + "\n")
    return out_dir

