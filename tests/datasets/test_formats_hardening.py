"""Issue 17, items 2, 4, 5, 12, 13: one bad entry never stops a read, no silent mis-attachment, strict
numbers, short quotes in reports, non-image names refused. Every fixture is written by the test."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import aflw2000, coco, flat_csv, pts
from asmnet_studio.datasets.formats._common import parse_float
from asmnet_studio.datasets.formats.split_csv import read_split_csv


def _img(path, colour=(100, 100, 100)):
    Image.new("RGB", (64, 64), colour).save(path, format="PNG")


def _kp(k=68, x=10.0):
    return [v for i in range(k) for v in (x + i % 30, 20.0 + i // 30, 2)]


def _coco(tmp_path, images, anns, info=None):
    doc = {"images": images, "annotations": anns}
    if info is not None:
        doc["info"] = info
    (tmp_path / "annotations.json").write_text(json.dumps(doc))


def test_coco_deep_nesting_is_a_format_error_not_a_recursion_error(tmp_path):
    (tmp_path / "annotations.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="nested too deeply") as e:
        coco.read(tmp_path)
    assert e.value.path.endswith("annotations.json")


def test_coco_bad_values_are_problems_and_the_rest_is_read(tmp_path):
    for n in ("a", "b", "c", "d", "e"):
        _img(tmp_path / f"{n}.jpg")
    images = [{"id": i, "file_name": f"{n}.jpg"} for i, n in enumerate("abcde")]
    big = _kp()
    text = json.dumps({"images": images, "info": {"schema": ["not", "hashable"]}, "annotations": [
        {"image_id": 0, "keypoints": _kp()},
        {"image_id": 1, "keypoints": ["12.5"] + _kp()[1:]},
        {"image_id": 2, "keypoints": [True] + _kp()[1:]},
        {"image_id": 3, "keypoints": big},
        {"image_id": 4, "keypoints": _kp()},
    ]})
    # an integer of 10^400 and one of 5,000 digits, written as raw JSON numbers
    text = text.replace('"image_id": 3, "keypoints": [10.0', '"image_id": 3, "keypoints": [1' + "0" * 400, 1)
    text = text.replace('"image_id": 4, "keypoints": [10.0', '"image_id": 4, "keypoints": [' + "9" * 5000, 1)
    (tmp_path / "annotations.json").write_text(text)
    ds = coco.read(tmp_path)
    assert [s.image for s in ds.samples] == ["a.jpg"] and ds.schema == "ibug68"
    msgs = [p.message for p in ds.problems]
    assert len(msgs) == 4 and all("annotations.json: annotation" in m for m in msgs)
    assert "value 0 is '12.5': not a number" in msgs[0] and "value 0 is True: not a number" in msgs[1]
    assert "not a number" in msgs[2] and "not a number" in msgs[3] and all(len(m) < 400 for m in msgs)


def test_coco_duplicate_image_ids_attach_nothing(tmp_path):
    _img(tmp_path / "a.jpg", (255, 0, 0))
    _img(tmp_path / "b.jpg", (0, 255, 0))
    _img(tmp_path / "c.jpg")
    _coco(tmp_path, [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"},
                     {"id": 2, "file_name": "c.jpg"}],
          [{"image_id": 1, "keypoints": _kp()}, {"image_id": 2, "keypoints": _kp()}])
    ds = coco.read(tmp_path)
    assert [s.image for s in ds.samples] == ["c.jpg"]
    text = " ".join(p.message for p in ds.problems)
    assert "id 1 is also the id of 'a.jpg'" in text and "image_id 1 names several images" in text


def test_non_image_names_are_refused_on_import(tmp_path):
    _img(tmp_path / "x.html")  # a real PNG/JPEG named .html
    _img(tmp_path / "ok.jpg")
    _coco(tmp_path, [{"id": 1, "file_name": "x.html"}, {"id": 2, "file_name": "ok.jpg"}],
          [{"image_id": 1, "keypoints": _kp()}, {"image_id": 2, "keypoints": _kp()}])
    ds = coco.read(tmp_path)
    assert [s.image for s in ds.samples] == ["ok.jpg"]
    assert "no image file extension" in ds.problems[0].message
    header = "image," + ",".join(f"x{i},y{i}" for i in range(68))
    row = ",".join(["1.0"] * 136)
    (tmp_path / "landmarks.csv").write_text(f"{header}\nx.html,{row}\nok.jpg,{row}\n")
    ds = flat_csv.read(tmp_path / "landmarks.csv")
    assert [s.image for s in ds.samples] == ["ok.jpg"] and "no image file extension" in ds.problems[0].message


def test_csv_huge_field_is_one_problem_and_names_keep_their_spaces(tmp_path):
    _img(tmp_path / "a.jpg")
    _img(tmp_path / " b.jpg")
    header = "image," + ",".join(f"x{i},y{i}" for i in range(68))
    row = ",".join(["1.5"] * 136)
    bad = "z" * 800_000
    (tmp_path / "landmarks.csv").write_text(
        f"{header}\na.jpg,{row}\n\"{'q' * 200_000}\",{row}\nc.jpg,{bad}{row[3:]}\n b.jpg,{row}\nd.jpg,1_000{row[3:]}\n")
    ds = flat_csv.read(tmp_path / "landmarks.csv")
    assert [s.image for s in ds.samples] == ["a.jpg", " b.jpg"]
    msgs = [p.message for p in ds.problems]
    assert any("unreadable CSV row" in m and "field larger than field limit" in m for m in msgs)
    assert all(len(m) < 600 for m in msgs), "an 800 KB bad value is not quoted whole"
    assert any("'1_000' is not a number" in m for m in msgs)


@pytest.mark.parametrize("text", ["1_000", "١٢٣", "0x10", "1e", "--1", "12.5.1"])
def test_strict_numbers(text):
    with pytest.raises(ValueError):
        parse_float(text)
    with pytest.raises(ValueError):
        parse_float(text, 1.0)


def test_pts_refuses_underscores_and_non_ascii_digits(tmp_path):
    _img(tmp_path / "a.jpg")
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 2\n{\n1_000 2\n3 4\n}\n")
    _img(tmp_path / "b.jpg")
    (tmp_path / "b.pts").write_text("version: 1\nn_points: 2\n{\n١ 2\n3 4\n}\n")
    ds = pts.read(tmp_path)
    assert len(ds) == 0 and len(ds.problems) == 2
    assert all("not a number" in p.message and p.line == 4 for p in ds.problems)


def test_split_csv_bom_and_encoding(tmp_path):
    p = tmp_path / "split.csv"
    p.write_bytes("\ufeffimage,split\na.jpg,train\n".encode("utf-8"))
    assert read_split_csv(p) == {"a": "train"}
    p.write_bytes(b"image,split\n\xe9t\xe9.jpg,train\n")
    with pytest.raises(FormatError, match="not a UTF-8 text file") as e:
        read_split_csv(p)
    assert e.value.path == str(p)


@pytest.mark.parametrize("pt3d,pose,message", [
    ("text", np.zeros((1, 7)), "'pt3d_68' must be a numeric matrix, found a MATLAB char"),
    (np.array([[1, 2]], dtype=object), np.zeros((1, 7)), "found a MATLAB cell"),
    (np.zeros((3, 68)), {"a": 1.0}, "'Pose_Para' must be a numeric matrix, found a MATLAB struct"),
    (np.zeros((3, 68)) + 1j, np.zeros((1, 7)), "must hold real numbers, found complex numbers"),
    (np.zeros((3, 68)), np.zeros((3000, 3000)), r"'Pose_Para' is 3000x3000 \(9000000 values\)"),
])
def test_mat_variables_checked_before_loading(tmp_path, pt3d, pose, message):
    _img(tmp_path / "a.jpg")
    scipy.io.savemat(tmp_path / "a.mat", {"pt3d_68": pt3d, "Pose_Para": pose}, do_compression=True)
    _img(tmp_path / "b.jpg")
    scipy.io.savemat(tmp_path / "b.mat", {"pt3d_68": np.ones((3, 68)), "Pose_Para": np.zeros((1, 7))})
    ds = aflw2000.read(tmp_path)
    assert [s.image for s in ds.samples] == ["b.jpg"]
    assert len(ds.problems) == 1 and "a.mat" in ds.problems[0].message
    assert __import__("re").search(message, ds.problems[0].message)
