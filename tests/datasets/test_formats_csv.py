"""Flat landmark CSV: the YouTube-Faces file, header-driven point counts, round trips, bad rows."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import flat_csv, read_dataset, write_dataset
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.datasets.formats_util import assert_same_samples, make_image


@pytest.fixture(scope="module")
def ytf():
    from tests.conftest import data_path
    root = data_path("ytf-68")
    return root, read_dataset(root, "csv")


@pytest.mark.data
def test_youtube_faces_csv(ytf):
    root, ds = ytf
    assert len(ds) == 3462 and ds.schema == "ibug68" and ds.problems == []
    s = ds.samples[0]
    assert s.image == "training/Luis_Fonsi_21.jpg" and s.face == 0
    assert s.points.shape == (68, 2) and s.points.dtype == np.float32
    with open(root / "training_frames_keypoints.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    first = np.array(rows[1][1:], dtype=np.float64).reshape(68, 2)
    np.testing.assert_array_equal(s.points, first.astype(np.float32))
    assert s.points[0].tolist() == [45.0, 98.0]
    assert all(s.image.startswith("training/") for s in ds.samples)
    flagged = [s for s in ds.samples if s.flags]
    assert 0 < len(flagged) < 20 and all("outside" in s.flags[0] for s in flagged)


@pytest.mark.data
def test_csv_path_itself(ytf, tmp_path):
    """The reader also takes the CSV file; images are then looked up beside it and in training/."""
    root, ds = ytf
    head = (root / "training_frames_keypoints.csv").read_text().splitlines()[:11]
    (tmp_path / "frames.csv").write_text("\n".join(head) + "\n")
    (tmp_path / "other.csv").write_text("not,this,one\n")
    (tmp_path / "training").symlink_to(root / "training")
    again = flat_csv.read(tmp_path / "frames.csv")
    assert again.root == tmp_path and len(again) == 10
    assert_same_samples(Dataset(root, "csv", "ibug68", ds.samples[:10]), again)


@pytest.mark.data
def test_round_trip_real_subset(ytf, tmp_path):
    root, ds = ytf
    small = Dataset(root, ds.format, ds.schema, ds.samples[:25])
    out = write_dataset(small, tmp_path / "out", "csv")
    assert out.name == "landmarks.csv"
    back = read_dataset(tmp_path / "out", "csv")
    assert_same_samples(small, back)
    assert (tmp_path / "out" / small.samples[0].image).read_bytes() == (root / small.samples[0].image).read_bytes()


@settings(max_examples=20, deadline=None)
@given(pts=arrays(np.float32, (2, 29, 2), elements=st.floats(-500, 1e5, width=32)),
       pose=st.one_of(st.none(), arrays(np.float32, (3,), elements=st.floats(-180, 180, width=32))),
       with_vis=st.booleans())
def test_round_trip_property(tmp_path_factory, pts, pose, with_vis):
    root = tmp_path_factory.mktemp("csv")
    make_image(root / "src" / "sub dir" / "a,b.png", 8, 8)  # a comma and a space in the name
    vis = np.array([2, 1, 0] * 9 + [2, 2], dtype=np.int8) if with_vis else None
    ds = Dataset(root / "src", "x", "cofw29", [
        Sample("sub dir/a,b.png", pts[0], schema="cofw29", pose=pose, visibility=vis, split="train"),
        Sample("sub dir/a,b.png", pts[1], schema="cofw29", pose=pose, visibility=vis, face=1)])
    flat_csv.write(ds, root / "out")
    back = flat_csv.read(root / "out")
    assert back.schema == "cofw29"
    assert_same_samples(ds, back)
    for s in back.samples:
        if pose is not None:
            np.testing.assert_array_equal(s.pose, pose)
        else:
            assert s.pose is None


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


HEADER19 = ["image"] + [f"{a}{i}" for i in range(19) for a in "xy"]


def test_bad_rows_are_problems_naming_line_and_point(tmp_path):
    make_image(tmp_path / "a.jpg")
    good = ["a.jpg"] + ["1.5"] * 38
    short = good[:-3]
    word = list(good)
    word[1 + 2 * 7 + 1] = "abc"    # y of point 7
    nan = list(good)
    nan[1 + 2 * 3] = "nan"         # x of point 3
    empty = list(good)
    empty[1 + 2 * 12] = ""         # x of point 12
    _write(tmp_path / "data.csv", HEADER19,
           [good, short, word, nan, empty, ["missing.jpg"] + good[1:], ["", *good[1:]], [], good])
    ds = flat_csv.read(tmp_path)
    assert len(ds) == 2 and ds.schema == "aflw19" and [s.face for s in ds.samples] == [0, 1]
    probs = {p.line: p for p in ds.problems}
    assert sorted(probs) == [3, 4, 5, 6, 7, 8]
    assert "expected 39 fields, found 36" in probs[3].message
    assert probs[4].point == 7 and "line 4, point 7" in probs[4].message and "'abc'" in probs[4].message
    assert probs[5].point == 3 and "non-finite" in probs[5].message
    assert probs[6].point == 12 and "missing x value" in probs[6].message
    assert "'missing.jpg' not found" in probs[7].message
    assert "missing image name" in probs[8].message
    assert all(str(tmp_path / "data.csv") in p.message for p in ds.problems)


def test_unnamed_coordinate_columns_and_pose(tmp_path):
    make_image(tmp_path / "training" / "a.jpg")
    header = ["file"] + [str(i) for i in range(136)] + ["yaw", "pitch", "roll"]
    _write(tmp_path / "x.csv", header, [["a.jpg"] + [str(i) for i in range(136)] + ["10", "-5", "2.5"]])
    ds = flat_csv.read(tmp_path)
    s = ds.samples[0]
    assert s.image == "training/a.jpg" and s.points[1].tolist() == [2.0, 3.0]
    assert s.pose.tolist() == [10.0, -5.0, 2.5]


@pytest.mark.parametrize("header,msg", [
    (["image"] + [f"{a}{i}" for i in range(5) for a in "xy"], "no landmark schema has 5 points"),
    (["image", "x0", "y0", "x1"], "even number of coordinate columns"),
    (["image"] + [f"{a}{i}" for i in range(19) for a in "xy"] + ["yaw"], "pose needs all of"),
])
def test_header_problems_raise(tmp_path, header, msg):
    _write(tmp_path / "x.csv", header, [])
    with pytest.raises(FormatError, match=msg) as e:
        flat_csv.read(tmp_path)
    assert e.value.line == 1


def test_folder_problems_raise(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        flat_csv.read(tmp_path / "nope")
    with pytest.raises(FormatError, match=r"expected one landmark \*.csv, found 0"):
        flat_csv.read(tmp_path)
    (tmp_path / "split.csv").write_text("image,split\n")  # ignored: not a landmark file
    (tmp_path / "a.csv").write_text("")
    (tmp_path / "b.csv").write_text("")
    with pytest.raises(FormatError, match=r"found 2 \['a.csv', 'b.csv'\]"):
        flat_csv.read(tmp_path)
    (tmp_path / "x.csv").write_bytes(b"\x89PNG\x00\x00")
    with pytest.raises(FormatError, match="not a CSV"):
        flat_csv.read(tmp_path / "x.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(FormatError, match="empty file"):
        flat_csv.read(tmp_path / "e.csv")


def test_writer_needs_all_or_no_poses(tmp_path):
    make_image(tmp_path / "a.png")
    p = np.zeros((19, 2), np.float32)
    ds = Dataset(tmp_path, "x", "aflw19", [Sample("a.png", p, schema="aflw19", pose=np.zeros(3, np.float32)),
                                           Sample("a.png", p, schema="aflw19", face=1)])
    with pytest.raises(FormatError, match="pose for all or none"):
        flat_csv.write(ds, tmp_path / "out")
