"""split.csv beside a dataset: reading, matching with or without extension, writing, bad files."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.errors import FormatError
from asmnet_studio.datasets.formats import read_dataset, write_dataset
from asmnet_studio.datasets.formats.split_csv import apply_split_csv, read_split_csv, write_split_csv
from asmnet_studio.datasets.sample import Dataset, Sample

P68 = np.zeros((68, 2), np.float32)


def test_read_and_match_with_or_without_extension(tmp_path):
    (tmp_path / "split.csv").write_text("image,split\nsub/a.jpg,train\nb,test\n\nc.png,val\n")
    assert read_split_csv(tmp_path / "split.csv") == {"sub/a": "train", "b": "test", "c": "val"}
    ds = Dataset(tmp_path, "x", "ibug68", [Sample("sub/a.jpg", P68), Sample("b.png", P68), Sample("other/c.jpg", P68),
                                           Sample("d.jpg", P68)])
    apply_split_csv(ds)
    assert [s.split for s in ds.samples] == ["train", "test", "val", None]
    assert len(ds.split("train")) == 1 and ds.split(None) is ds


@pytest.mark.parametrize("text,line,msg", [
    ("name,part\na,train\n", 1, "header must be 'image,split'"),
    ("image,split\na,train\nb\n", 3, "expected 'image,split'"),
    ("image,split\na,\n", 2, "expected 'image,split'"),
])
def test_bad_split_csv(tmp_path, text, line, msg):
    (tmp_path / "split.csv").write_text(text)
    with pytest.raises(FormatError, match=msg) as e:
        read_split_csv(tmp_path / "split.csv")
    assert e.value.line == line and "split.csv" in str(e.value)


def test_write_and_read_back(tmp_path):
    ds = Dataset(tmp_path, "x", "ibug68", [Sample("a.jpg", P68, split="train"), Sample("b.jpg", P68, split="test"),
                                           Sample("c.jpg", P68)])
    path = write_split_csv(ds, tmp_path)
    assert path.read_text().splitlines() == ["image,split", "a.jpg,train", "b.jpg,test"]
    assert write_split_csv(Dataset(tmp_path, "x", "ibug68", [Sample("c.jpg", P68)]), tmp_path / "none") is None


def test_read_dataset_applies_split_and_write_dataset_keeps_it(tmp_path):
    from asmnet_studio.datasets.formats.pts import write_pts
    from tests.datasets.formats_util import make_image
    src = tmp_path / "src"
    for name in ("a", "b"):
        make_image(src / f"{name}.png")
        write_pts(src / f"{name}.pts", P68 + 1)
    (src / "split.csv").write_text("image,split\na.png,train\nb,test\n")
    ds = read_dataset(src, "pts")
    assert {s.image: s.split for s in ds.samples} == {"a.png": "train", "b.png": "test"}
    assert [s.image for s in read_dataset(src, "pts", split="test").samples] == ["b.png"]
    write_dataset(ds, tmp_path / "out", "pts")
    back = read_dataset(tmp_path / "out", "pts")
    assert {s.image: s.split for s in back.samples} == {"a.png": "train", "b.png": "test"}


def test_unknown_format_lists_choices(tmp_path):
    with pytest.raises(ValueError, match=r"\['300w', 'aflw2000', 'coco', 'csv', 'pts', 'wflw'\]"):
        read_dataset(tmp_path, "menpo")


@pytest.mark.data
def test_read_dataset_schema_argument(tmp_path, format_samples_dir):
    ds = read_dataset(format_samples_dir / "cofw", "coco", schema="cofw29")
    assert ds.schema == "cofw29" and len(ds) == 2
    with pytest.raises(ValueError, match="always reads schema 'ibug68'"):
        read_dataset(format_samples_dir / "300vw", "300w", schema="wflw98")
