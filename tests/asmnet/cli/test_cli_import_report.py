"""``asmnet import --report FILE.csv`` and reader flags in the import report (issue 17, item 12): the terminal
lists stop at 20 and say where the rest is; the CSV holds every entry; a photo's EXIF orientation is shown."""
from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from asmnet.cli import main
from asmnet_studio.datasets.formats.pts import write_pts
from tests.datasets.formats_util import make_image

BROKEN = 25


def _dataset(root):
    """A pts folder: one good face in a photo tagged EXIF orientation 6, and BROKEN broken .pts files."""
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (60, 40), (90, 90, 90)).save(root / "phone.jpg", exif=exif)
    write_pts(root / "phone.pts", np.full((68, 2), 10.0, np.float32))
    for i in range(BROKEN):
        make_image(root / f"bad{i:02d}.png", color=(i, 2 * i, 3 * i))
        (root / f"bad{i:02d}.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    return root


def test_terminal_lists_are_cut_and_say_how_to_get_all(tmp_path, capsys):
    ds = _dataset(tmp_path / "d")
    assert main(["import", str(tmp_path / "w.db"), str(ds), "--format", "pts", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "added 1," in out and "flagged 1" in out
    assert "phone.jpg: image has EXIF orientation 6" in out  # reader flags are shown
    assert f"... and {BROKEN - 20} more (all of them with --report FILE.csv)" in out


def test_report_file_holds_every_entry(tmp_path, capsys):
    ds = _dataset(tmp_path / "d")
    report = tmp_path / "report.csv"
    assert main(["import", str(tmp_path / "w.db"), str(ds), "--format", "pts", "--no-progress",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"all in {report}" in out and f"full report: {report}" in out
    with open(report, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    problems = [r for r in rows if r["kind"] == "reader problem"]
    assert sorted({r["file"].rsplit("/", 1)[-1] for r in problems}) == [f"bad{i:02d}.pts" for i in range(BROKEN)]
    flags = [r for r in rows if r["kind"] == "flag"]
    assert len(flags) == 1 and flags[0]["file"].endswith("phone.jpg") and "EXIF orientation 6" in flags[0]["message"]
    assert not (tmp_path / ".report.csv.tmp").exists()


def test_plain_folder_import_shows_exif_orientation(tmp_path, capsys):
    d = tmp_path / "photos"
    d.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (60, 40), (90, 90, 90)).save(d / "phone.jpg", exif=exif)
    make_image(d / "plain.png")
    report = tmp_path / "r.csv"
    assert main(["import", str(tmp_path / "w.db"), str(d), "--format", "images", "--no-progress", "--no-prelabel",
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "added 2," in out and "flagged 1" in out and "phone.jpg: image has EXIF orientation 6" in out
    with open(report, newline="", encoding="utf-8") as fh:
        assert [(r["kind"], r["file"].rsplit("/", 1)[-1]) for r in csv.DictReader(fh)] == [("flag", "phone.jpg")]
