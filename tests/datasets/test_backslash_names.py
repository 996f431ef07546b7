"""Issue 17, item 6: a file whose name holds a backslash (one file on POSIX, e.g. ``a\\b.png``) imports and
exports in every format and comes back under the same name; a backslash still counts as a separator for the
safety check (``a\\..\\b`` is refused), and a Windows-style ``sub\\x.png`` finds ``sub/x.png`` when only that
exists."""
from __future__ import annotations

import numpy as np
import pytest

from asmnet_studio.datasets.errors import UnsafePathError
from asmnet_studio.datasets.formats import format_names, read_dataset, write_dataset
from asmnet_studio.datasets.formats.pts import write_pts
from asmnet_studio.datasets.paths import relative_name, safe_join
from asmnet_studio.datasets.store import Workspace
from tests.datasets.store_helpers import make_image

NAME = "odd\\name.png"


def _points(k=68):
    return (np.arange(2 * k, dtype=np.float32).reshape(k, 2) % 30) + 3


def test_names_with_backslashes_import(tmp_path):
    d = tmp_path / "d"
    make_image(d / NAME, 1)
    write_pts(d / "odd\\name.pts", _points())
    ds = read_dataset(d, "pts")
    assert [s.image for s in ds.samples] == [NAME]
    with Workspace(tmp_path / "ws.db") as ws:
        report = ws.import_dataset(ds)
        assert report.added == 1 and not report.skipped
        (rec,) = ws.images()
        assert rec.name == NAME and rec.path == d / NAME


@pytest.mark.parametrize("fmt", format_names())
def test_names_with_backslashes_export_and_come_back(tmp_path, fmt):
    d = tmp_path / "d"
    make_image(d / NAME, 1, size=(60, 50))
    k = 98 if fmt == "wflw" else 68
    pts = _points(k)
    with Workspace(tmp_path / "ws.db") as ws:
        image_id = ws.add_image(d / NAME)
        schema = "wflw98" if k == 98 else "ibug68"
        ws.save_annotation(image_id, pts, author="t", base_version=None, source="ground_truth", status="done",
                           schema=schema, pose=(10.0, -5.0, 2.5))  # AFLW2000-3D files need a pose
        ws.export_dataset(tmp_path / "out", fmt)
    back = read_dataset(tmp_path / "out", fmt)
    assert [s.image for s in back.samples] == [NAME] and not back.problems
    np.testing.assert_array_equal(back.samples[0].points, pts)


def test_backslash_is_a_separator_for_the_safety_check(tmp_path):
    for bad in ("a\\..\\..\\x.png", "..\\x.png", "\\x.png"):
        with pytest.raises(UnsafePathError):
            relative_name(bad)
    make_image(tmp_path / "sub" / "x.png", 2)
    assert safe_join(tmp_path, "sub\\x.png") == tmp_path / "sub" / "x.png"  # a Windows-style separator
    make_image(tmp_path / "sub\\x.png", 3)
    assert safe_join(tmp_path, "sub\\x.png") == tmp_path / "sub\\x.png"  # the literal name wins when it exists
