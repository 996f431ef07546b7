"""Issue 17, item 6: names that import export; an export is written to a temporary folder and moved into
place whole (a failed one leaves nothing); a symlink already in OUT_DIR is never followed."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from asmnet_studio.datasets.errors import UnsafePathError
from asmnet_studio.datasets.formats import format_names, read_dataset, write_dataset
from asmnet_studio.datasets.sample import Dataset, Sample
from asmnet_studio.datasets.store import Workspace

PTS68 = (np.arange(136, dtype=np.float32).reshape(68, 2) % 50) + 3


def _dataset(tmp_path, names, k=68):
    src = tmp_path / "src"
    for n in names:
        (src / n).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (90, 90, 90)).save(src / n, format="PNG")
    pts = np.tile(PTS68[:1], (k, 1)) + np.arange(k, dtype=np.float32)[:, None] % 50
    return Dataset(root=src, format="x", schema="ibug68" if k == 68 else "wflw98",
                   samples=[Sample(image=n, points=pts, schema="ibug68" if k == 68 else "wflw98") for n in names])


@pytest.mark.parametrize("fmt", sorted(set(format_names()) - {"wflw"}))
def test_colon_and_long_names_import_and_export(tmp_path, fmt):
    long = "f" * 236 + ".png"  # 240 characters: the temporary name must not grow with it
    ds = _dataset(tmp_path, ["ab:c.png", long])
    with Workspace(tmp_path / "ws.db") as ws:
        rep = ws.import_dataset(ds)
        assert rep.added == 2, rep.skipped
        out = tmp_path / f"out-{fmt}"
        ws.export_dataset(out, fmt)
    back = read_dataset(out, fmt)
    assert sorted(s.image for s in back.samples) == sorted(["ab:c.png", long])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".out-{fmt}")], "temporary folder left"


def test_failed_export_leaves_nothing(tmp_path):
    ds = _dataset(tmp_path, ["a.png", "b.png"])
    os.remove(ds.root / "b.png")  # the second image cannot be copied
    out = tmp_path / "out"
    with pytest.raises(Exception):
        write_dataset(ds, out, "pts")
    assert not out.exists() and not list(tmp_path.glob(".out.export-*"))
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(Exception):
        write_dataset(ds, out, "pts")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_symlink_already_in_out_dir_is_not_followed(tmp_path):
    ds = _dataset(tmp_path, ["a.png"], k=98)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "WFLW_annotations")  # WFLW writes its lists there
    with pytest.raises(UnsafePathError, match="symlink"):
        write_dataset(ds, out, "wflw")
    assert list(outside.iterdir()) == [] and [p.name for p in out.iterdir()] == ["WFLW_annotations"]
    # a symlink in place of a file is replaced, and what it pointed to is left alone
    target = outside / "secret.txt"
    target.write_text("keep")
    out2 = tmp_path / "out2"
    out2.mkdir()
    os.symlink(target, out2 / "a.pts")
    write_dataset(_dataset(tmp_path, ["a.png"]), out2, "pts")
    assert target.read_text() == "keep" and not (out2 / "a.pts").is_symlink()
