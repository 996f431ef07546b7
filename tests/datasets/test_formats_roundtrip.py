"""Every registered format: write_dataset returns a path read_dataset takes, and the round trip is lossless."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.formats import format_names, read_dataset, write_dataset
from asmnet_studio.datasets.sample import Dataset, Sample
from tests.datasets.formats_util import assert_same_samples, make_image

SCHEMA_OF = {"wflw": "wflw98"}


@pytest.mark.parametrize("fmt", format_names())
def test_round_trip_every_format(tmp_path, fmt):
    schema = SCHEMA_OF.get(fmt, "ibug68")
    k = 98 if schema == "wflw98" else 68
    rng = np.random.default_rng(7)
    samples = []
    for i, split in enumerate(["train", "test", None]):
        make_image(tmp_path / "src" / "faces" / f"f{i}.png", 50, 40)
        pts = rng.uniform(-3, 60, (k, 2)).astype(np.float32)  # some points outside the 50x40 image
        samples.append(Sample(f"faces/f{i}.png", pts, schema=schema, split=split,
                              pose=np.float32([10, -5, 2]) if fmt == "aflw2000" else None,
                              box=np.float32([1, 2, 30, 35]) if fmt == "wflw" else None))
    ds = Dataset(tmp_path / "src", "synthetic", schema, samples)
    out = write_dataset(ds, tmp_path / "out", fmt)
    back = read_dataset(out, fmt)
    assert back.schema == schema and back.problems == []
    assert_same_samples(ds, back, pose_atol=1e-4, fields=("box",))
    assert all(any("outside" in f for f in s.flags) for s in back.samples)
