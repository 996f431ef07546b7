"""AFLW2000-3D .mat files: values, split, round trip, and bad files reported per file."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import aflw2000, read_dataset, write_dataset
from asmnet_studio.datasets.formats.aflw2000 import read_mat
from asmnet_studio.datasets.sample import Dataset
from tests.datasets.formats_util import assert_same_samples, make_image


@pytest.fixture(scope="module")
def aflw():
    from tests.conftest import data_path
    root = data_path("aflw2000-3d")
    return root, read_dataset(root, "aflw2000")


@pytest.mark.data
def test_reads_1600_faces_with_the_split(aflw):
    root, ds = aflw
    assert len(ds) == 1600 and ds.problems == [] and ds.schema == "ibug68"
    splits = [s.split for s in ds.samples]
    assert splits.count("train") == 1200 and splits.count("test") == 400
    assert len(ds.split("test")) == 400
    for s in ds.samples[:50]:
        assert s.points.shape == (68, 2) and s.points.dtype == np.float32
        assert s.pose.shape == (3,) and s.pose.dtype == np.float32


@pytest.mark.data
def test_values_are_pt3d_and_pose_in_degrees(aflw):
    root, ds = aflw
    for s in ds.samples[:: 400]:
        m = scipy.io.loadmat(str(root / s.image).rsplit(".", 1)[0] + ".mat")
        np.testing.assert_array_equal(s.points, m["pt3d_68"][:2].T.astype(np.float32))
        pitch, yaw, roll = np.degrees(m["Pose_Para"][0][:3])
        np.testing.assert_allclose(s.pose, [yaw, pitch, roll], rtol=1e-6, atol=1e-4)


@pytest.mark.data
def test_excluded_31_have_large_angles(aflw):
    root, ds = aflw
    names = {ln.strip().rsplit(".", 1)[0] for ln in (root / "hopenet_protocol_excluded_31.txt").read_text().split()
             if ln.strip()}
    by_stem = {s.image.rsplit("/", 1)[-1].rsplit(".", 1)[0]: s for s in ds.samples}
    present = [by_stem[n] for n in names if n in by_stem]
    assert present and all(np.abs(s.pose).max() > 99 for s in present)


@pytest.mark.data
def test_round_trip(aflw, tmp_path):
    root, ds = aflw
    small = Dataset(root, ds.format, ds.schema, ds.samples[:6])
    out = write_dataset(small, tmp_path / "out", "aflw2000")
    back = read_dataset(out, "aflw2000")
    assert_same_samples(small, back, pose_atol=1e-4)


def _mat(path, **arrays):
    scipy.io.savemat(str(path), arrays)
    return path


@pytest.mark.parametrize("arrays,msg,point", [
    ({"Pose_Para": np.zeros((1, 7))}, "missing key 'pt3d_68'", None),
    ({"pt3d_68": np.zeros((3, 68))}, "missing key 'Pose_Para'", None),
    ({"pt3d_68": np.zeros((3, 67)), "Pose_Para": np.zeros((1, 7))}, r"must be \(3, 68\)", None),
    ({"pt3d_68": np.zeros((68,)), "Pose_Para": np.zeros((1, 7))}, r"must be \(3, 68\)", None),
    ({"pt3d_68": np.where(np.arange(204).reshape(3, 68) == 12, np.nan, 1.0), "Pose_Para": np.zeros((1, 7))},
     "non-finite", 12),
    ({"pt3d_68": np.ones((3, 68)), "Pose_Para": np.array([[np.nan, 0, 0]])}, "finite pitch, yaw, roll", None),
    ({"pt3d_68": np.ones((3, 68)), "Pose_Para": np.zeros((1, 2))}, "pitch, yaw, roll first", None),
])
def test_bad_mat_files(tmp_path, arrays, msg, point):
    path = _mat(tmp_path / "bad.mat", **arrays)
    with pytest.raises(FormatError, match=msg) as e:
        read_mat(path)
    assert e.value.path == str(path) and e.value.point == point


def test_folder_read_collects_problems_and_goes_on(tmp_path):
    good = np.vstack([np.random.default_rng(0).uniform(0, 30, (2, 68)), np.zeros((1, 68))])
    for i in range(2):
        make_image(tmp_path / f"ok_{i}.jpg")
        _mat(tmp_path / f"ok_{i}.mat", pt3d_68=good, Pose_Para=np.zeros((1, 7)))
    make_image(tmp_path / "nokey.jpg")
    _mat(tmp_path / "nokey.mat", Pose_Para=np.zeros((1, 7)))
    make_image(tmp_path / "text.jpg")
    (tmp_path / "text.mat").write_text("not a MATLAB file")
    _mat(tmp_path / "orphan.mat", pt3d_68=good, Pose_Para=np.zeros((1, 7)))
    ds = aflw2000.read(tmp_path)
    assert len(ds) == 2
    msgs = {p.path.rsplit("/", 1)[1]: p.message for p in ds.problems}
    assert set(msgs) == {"nokey.mat", "text.mat", "orphan.mat"}
    assert "missing key 'pt3d_68'" in msgs["nokey.mat"]
    assert "not a readable MATLAB file" in msgs["text.mat"]
    assert "no image beside it" in msgs["orphan.mat"]


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        aflw2000.read(tmp_path / "nope")


def test_writer_refuses_other_point_counts(tmp_path):
    make_image(tmp_path / "a.png")
    from asmnet_studio.datasets.sample import Sample
    ds = Dataset(tmp_path, "x", "wflw98", [Sample("a.png", np.zeros((98, 2), np.float32), schema="wflw98")])
    with pytest.raises(FormatError, match="needs 68 points"):
        aflw2000.write(ds, tmp_path / "out")


@pytest.mark.data
def test_a_face_without_pose_round_trips_as_no_pose(aflw, tmp_path):
    """The writer never invents a frontal pose: no pose is stored as NaN angles and read back as None."""
    import dataclasses
    from pathlib import Path

    root, ds = aflw
    small = Dataset(root, ds.format, ds.schema, [dataclasses.replace(ds.samples[0], pose=None), ds.samples[1]])
    back = read_dataset(write_dataset(small, tmp_path / "out", "aflw2000"), "aflw2000")
    by_name = {Path(s.image).name: s for s in back.samples}
    assert by_name[Path(small.samples[0].image).name].pose is None
    np.testing.assert_allclose(by_name[Path(small.samples[1].image).name].pose, small.samples[1].pose, atol=1e-4)
