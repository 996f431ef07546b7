"""COCO-keypoints JSON: the mmpose fixtures, their coordinate origin, round trips, bad annotations."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import coco, read_dataset, write_dataset
from asmnet_studio.datasets.formats.pts import read_pts
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.datasets.formats_util import assert_same_samples, make_image

FIXTURES = {  # folder under format-samples -> (schema, faces)
    "300vw": ("ibug68", 3), "300wlp": ("ibug68", 2), "aflw": ("aflw19", 2), "cofw": ("cofw29", 2),
    "wflw": ("wflw98", 4),
}


@pytest.mark.data
@pytest.mark.parametrize("folder", sorted(FIXTURES))
def test_mmpose_fixtures_load(format_samples_dir, folder):
    schema, n = FIXTURES[folder]
    ds = read_dataset(format_samples_dir / folder, "coco")
    assert ds.schema == schema and len(ds) == n and ds.problems == []
    doc = json.loads(next((format_samples_dir / folder).glob("*.json")).read_text())
    for s, a in zip(ds.samples, doc["annotations"]):
        kp = np.array(a["keypoints"], dtype=np.float64).reshape(-1, 3)
        np.testing.assert_array_equal(s.points, kp[:, :2].astype(np.float32))
        np.testing.assert_array_equal(s.visibility, kp[:, 2].astype(np.int8))
        assert s.visibility.dtype == np.int8
        if "bbox" in a:
            x, y, w, h = a["bbox"]
            np.testing.assert_allclose(s.box, [x, y, x + w, y + h], rtol=1e-6)
        assert (ds.root / s.image).is_file() and not any("not found" in f for f in s.flags)


@pytest.mark.data
def test_visibility_values_are_kept(format_samples_dir):
    ds = coco.read(format_samples_dir / "cofw" / "test_cofw.json")
    v = ds.samples[0].visibility
    assert set(np.unique(v)) == {1, 2} and (v == 1).sum() == 6  # the occluded mouth points


@pytest.mark.data
def test_300w_fixture_is_pts_values_not_shifted(w300_dir):
    """mmpose's 300-W JSON keeps the 1-based .pts values: it equals SPIGA's 0-based JSON + 1."""
    ds = coco.read(w300_dir / "mmpose_tests_300w" / "test_300w.json")
    assert len(ds) == 2 and ds.schema == "ibug68"
    spiga = {e["imgpath"].rsplit("/", 1)[1]: np.array(e["landmarks"]) for e in
             json.loads((w300_dir / "annotations_only_spiga" / "300wprivate" / "test.json").read_text())}
    for s in ds.samples:
        np.testing.assert_allclose(s.points, spiga[s.image] + 1, atol=1e-4)


@pytest.mark.data
def test_300vw_json_equals_pts_file_values(format_samples_dir):
    ds = coco.read(format_samples_dir / "300vw")
    for s in ds.samples:
        video, _, frame = s.image.split("/")
        pts = read_pts(format_samples_dir / "300vw" / video / "annot" / frame.replace(".jpg", ".pts"))
        np.testing.assert_allclose(s.points, pts + 1, atol=1e-4)


@pytest.mark.data
def test_lapa_106_points_needs_a_schema(format_samples_dir):
    with pytest.raises(FormatError, match="no landmark schema has 106 points"):
        coco.read(format_samples_dir / "lapa")


@pytest.mark.data
@pytest.mark.parametrize("folder", sorted(FIXTURES))
def test_round_trip_fixtures(format_samples_dir, tmp_path, folder):
    ds = coco.read(format_samples_dir / folder)
    out = write_dataset(ds, tmp_path / "out", "coco")
    assert out == tmp_path / "out" / "annotations.json"
    back = read_dataset(tmp_path / "out", "coco")
    assert back.schema == ds.schema
    assert_same_samples(ds, back)
    doc = json.loads(out.read_text())
    assert doc["categories"][0]["keypoints"][0] and doc["info"]["schema"] == ds.schema


@settings(max_examples=20, deadline=None)
@given(pts=arrays(np.float32, (19, 2), elements=st.floats(-100, 5000, width=32)),
       vis=arrays(np.int8, (19,), elements=st.sampled_from([0, 1, 2])),
       box=arrays(np.float32, (4,), elements=st.floats(-50, 3000, width=32)),
       pose=arrays(np.float32, (3,), elements=st.floats(-180, 180, width=32)),
       split=st.sampled_from([None, "train", "test"]))
def test_round_trip_property(tmp_path_factory, pts, vis, box, pose, split):
    root = tmp_path_factory.mktemp("coco")
    make_image(root / "src" / "a.png", 16, 12)
    ds = Dataset(root / "src", "x", "aflw19", [
        Sample("a.png", pts, schema="aflw19", visibility=vis, box=box, pose=pose, split=split,
               attributes={"occlusion": 1}),
        Sample("a.png", pts[::-1].copy(), schema="aflw19", face=1)])
    coco.write(ds, root / "out")
    back = coco.read(root / "out")
    assert_same_samples(ds, back, fields=("box",))
    s0 = next(s for s in back.samples if s.face == 0)
    np.testing.assert_array_equal(s0.visibility, vis)
    np.testing.assert_array_equal(s0.pose, pose)
    assert s0.attributes == {"occlusion": 1}
    s1 = next(s for s in back.samples if s.face == 1)
    assert (s1.visibility == 2).all() and s1.pose is None and s1.box is None


def _doc(anns, k=19):
    return {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}], "annotations": anns,
            "categories": [{"id": 1, "name": "face"}]}


def _ann(i, k=19, **kw):
    a = {"id": i, "image_id": 1, "keypoints": [5.0, 6.0, 2] * k}
    a.update(kw)
    return a


def test_bad_annotations_are_problems(tmp_path):
    make_image(tmp_path / "a.png")
    nan = _ann(3)
    nan["keypoints"][3 * 4] = float("nan")
    badv = _ann(4)
    badv["keypoints"][3 * 7 + 2] = 3
    word = _ann(6)
    word["keypoints"][0] = "x"
    anns = [_ann(1), {"id": 2, "image_id": 1}, nan, badv, _ann(5, k=18), word, _ann(7, image_id=99),
            _ann(8, file_name="x"), _ann(9, bbox=[1, 2, 3])]
    (tmp_path / "ann.json").write_text(json.dumps(_doc(anns)))
    ds = coco.read(tmp_path)
    assert len(ds) == 2 and ds.schema == "aflw19"
    msgs = [p.message for p in ds.problems]
    assert len(msgs) == 7
    assert "annotation 1 (id 2): missing 'keypoints'" in msgs[0]
    assert "annotation 2 (id 3): non-finite" in msgs[1] and ds.problems[1].point == 4
    assert "visibility must be 0, 1 or 2" in msgs[2] and ds.problems[2].point == 7
    assert "expected 57 keypoint values" in msgs[3]
    assert "not a number" in msgs[4]
    assert "image_id 99" in msgs[5]
    assert "'bbox' must be a list of 4" in msgs[6]
    assert all(str(tmp_path / "ann.json") in m for m in msgs)


@pytest.mark.parametrize("text,msg", [
    ("{not json", "not a JSON file"),
    ("[1, 2]", "not a COCO keypoints file"),
    ('{"images": [], "annotations": []}', "no annotation with 'keypoints'"),
    ("", "not a JSON file"),
])
def test_not_the_format_raises(tmp_path, text, msg):
    (tmp_path / "annotations.json").write_text(text)
    with pytest.raises(FormatError, match=msg) as e:
        coco.read(tmp_path)
    assert "annotations.json" in str(e.value)


def test_folder_problems_raise(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        coco.read(tmp_path / "nope")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(FormatError, match=r"expected one \*.json"):
        coco.read(tmp_path)


def test_explicit_schema_and_missing_image_flag(tmp_path):
    (tmp_path / "annotations.json").write_text(json.dumps(_doc([_ann(1, k=29)])))
    ds = coco.read(tmp_path, schema="cofw29")
    assert ds.schema == "cofw29" and len(ds) == 1
    assert any("image file not found" in f for f in ds.samples[0].flags)


def test_malformed_extra_fields_are_problems(tmp_path):
    make_image(tmp_path / "a.png")
    anns = [_ann(1, pose=[1, 2]), _ann(2, split=3), _ann(3, attributes=["x"]), _ann(4, image_id=[1]),
            _ann(5, pose=[1, 2, 3], split="test", attributes={"blur": 1})]
    (tmp_path / "annotations.json").write_text(json.dumps(_doc(anns)))
    ds = coco.read(tmp_path)
    assert len(ds) == 1 and ds.samples[0].split == "test" and ds.samples[0].pose.tolist() == [1, 2, 3]
    msgs = [p.message for p in ds.problems]
    assert len(msgs) == 4
    assert "'pose' must be a list of 3" in msgs[0] and "'split' must be text" in msgs[1]
    assert "'attributes' must map" in msgs[2] and "image_id [1]" in msgs[3]
