"""WFLW annotation lists: built by hand from the real WFLW fixture (mmpose JSON), round trips, bad lines."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import coco, read_dataset, wflw, write_dataset
from asmnet_studio.datasets.formats.wflw import ATTRIBUTES, format_line, parse_line
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.datasets.formats_util import assert_same_samples, make_image

ANN = "WFLW_annotations/list_98pt_rect_attr_train_test"


def _fixture_lines(src):
    """WFLW lines written by hand (str of the JSON numbers) for the real fixture faces."""
    doc = json.loads((src / "test_wflw.json").read_text())
    names = {im["id"]: im["file_name"] for im in doc["images"]}
    lines, truth = [], []
    for i, a in enumerate(doc["annotations"]):
        kp = np.array(a["keypoints"], dtype=np.float64).reshape(98, 3)
        x, y, w, h = a["bbox"]
        flags = [i % 2, 0, 1, 0, i % 2, 1]
        lines.append(" ".join([str(v) for v in kp[:, :2].ravel()] + [str(v) for v in (x, y, x + w, y + h)]
                              + [str(f) for f in flags] + [f"event/{names[a['image_id']]}"]))
        truth.append((f"WFLW_images/event/{names[a['image_id']]}", kp[:, :2], (x, y, x + w, y + h), flags))
    return lines, truth


@pytest.fixture
def wflw_tree(format_samples_dir, tmp_path):
    src = format_samples_dir / "wflw"
    root = tmp_path / "WFLW"
    (root / "WFLW_images" / "event").mkdir(parents=True)
    for img in src.glob("*.jpg"):
        os.symlink(img, root / "WFLW_images" / "event" / img.name)
    lines, truth = _fixture_lines(src)
    (root / ANN).mkdir(parents=True)
    (root / ANN / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    return root, truth


@pytest.mark.data
def test_reads_the_real_fixture_faces(wflw_tree, format_samples_dir):
    root, truth = wflw_tree
    ds = read_dataset(root, "wflw")
    assert ds.schema == "wflw98" and ds.problems == [] and len(ds) == len(truth) == 4
    for s, (image, pts, box, flags) in zip(ds.samples, truth):
        assert s.image == image and s.split == "test"
        assert s.points.dtype == np.float32 and s.points.shape == (98, 2)
        np.testing.assert_array_equal(s.points, pts.astype(np.float32))
        np.testing.assert_array_equal(s.box, np.float32(box))
        assert s.attributes == dict(zip(ATTRIBUTES, flags))
    # the same faces as the COCO reader gives for the mmpose JSON
    c = coco.read(format_samples_dir / "wflw")
    np.testing.assert_array_equal(np.stack([s.points for s in ds.samples]), np.stack([s.points for s in c.samples]))
    assert [s.face for s in ds.samples] == [s.face for s in c.samples]


@pytest.mark.data
def test_round_trip_real(wflw_tree, tmp_path):
    root, _ = wflw_tree
    ds = wflw.read(root)
    ds.samples[0].split = "train"
    out = tmp_path / "out"
    assert write_dataset(ds, out, "wflw") == out
    assert (out / ANN / "list_98pt_rect_attr_train.txt").is_file()
    back = wflw.read(out)
    assert_same_samples(ds, back, fields=("box",))
    assert [s.attributes for s in sorted(back.samples, key=lambda s: (s.image, s.face))] == \
        [s.attributes for s in sorted(ds.samples, key=lambda s: (s.image, s.face))]


@pytest.mark.data
def test_round_trip_from_coco_keeps_image_paths_and_other_splits(format_samples_dir, tmp_path):
    ds = coco.read(format_samples_dir / "wflw")
    for s in ds.samples:
        s.split = "val"
    wflw.write(ds, tmp_path / "out")
    back = wflw.read(tmp_path / "out")
    assert_same_samples(ds, back, fields=("box",))
    assert {s.image for s in back.samples} == {s.image for s in ds.samples}


def test_line_helpers_round_trip():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-10, 2000, (98, 2)).astype(np.float32)
    box = np.float32([1.5, 2.25, 300.125, 400])
    line = format_line(pts, box, {"pose": 1, "blur": 1}, "a b/c.jpg")
    p, b, attrs, name = parse_line(line)
    np.testing.assert_array_equal(p, pts)
    np.testing.assert_array_equal(b, box)
    assert attrs == {"pose": 1, "expression": 0, "illumination": 0, "make_up": 0, "occlusion": 0, "blur": 1}
    assert name == "a b/c.jpg"


def _good_line(image="x.jpg", v="1.5"):
    return " ".join([v] * 196 + ["0", "0", "10", "10"] + ["0"] * 6 + [image])


def test_bad_lines_are_problems_naming_file_line_and_point(tmp_path):
    make_image(tmp_path / "x.jpg")
    toks = _good_line().split()
    word = list(toks)
    word[11] = "abc"                       # y of point 5
    nan = list(toks)
    nan[20] = "nan"                        # x of point 10
    attr = list(toks)
    attr[200] = "2"                        # pose flag
    lines = [_good_line(), " ".join(toks[:150]), " ".join(word), " ".join(nan), " ".join(attr),
             _good_line("missing.jpg"), "", _good_line()]
    (tmp_path / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    ds = wflw.read(tmp_path)
    assert len(ds) == 2 and [s.face for s in ds.samples] == [0, 1]
    probs = {p.line: p for p in ds.problems}
    assert sorted(probs) == [2, 3, 4, 5, 6]
    assert "expected 207 fields" in probs[2].message
    assert probs[3].point == 5 and "line 3, point 5" in probs[3].message
    assert probs[4].point == 10 and "non-finite" in probs[4].message
    assert "attribute 'pose'" in probs[5].message
    assert "not found" in probs[6].message
    assert all("list_98pt_rect_attr_test.txt" in p.message for p in ds.problems)


def test_whole_folder_problems_raise(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        wflw.read(tmp_path / "nope")
    with pytest.raises(FormatError, match="no WFLW annotation list"):
        wflw.read(tmp_path)


def test_writer_needs_98_points(tmp_path):
    make_image(tmp_path / "a.png")
    ds = Dataset(tmp_path, "x", "ibug68", [Sample("a.png", np.zeros((68, 2), np.float32))])
    with pytest.raises(FormatError, match="needs 98 points"):
        wflw.write(ds, tmp_path / "out")
