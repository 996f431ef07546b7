"""``asmnet import WS.db DIR --format images``: a plain folder of real photographs (jpg, png, bmp, webp,
nested folders) is imported and pre-labelled face by face; bad files are reported by name; a picture
with two people gets two faces; a picture with no face is marked for a person; progress is readable in a
log; a missing folder leaves no workspace file."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asmnet.cli import main
from asmnet.inference.crop import landmark_box
from asmnet_studio.datasets.formats import read_dataset
from asmnet_studio.datasets.store import Workspace
from tests.conftest import data_path

AFW = ("300w-samples", "binrey_fast_face_landmarks_2D3D", "train", "afw")


def _box_nme(pred: np.ndarray, gt: np.ndarray) -> float:
    b = landmark_box(gt)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.sqrt((b[2] - b[0]) * (b[3] - b[1])))


@pytest.fixture
def folder(tmp_path, aflw_dir):
    """AFLW2000-3D test photos as jpg / png / bmp / webp in nested folders, 300-W's picture of two people,
    a noise picture, a broken jpg, an empty png and a text file."""
    ds = read_dataset(aflw_dir, "aflw2000", split="test")
    root = tmp_path / "photos"
    (root / "a" / "b").mkdir(parents=True)
    gt = {}
    for k, (s, ext) in enumerate(zip(ds.samples[:4], (".jpg", ".png", ".BMP", ".webp"))):
        name = f"{'a/b/' if k % 2 else ''}p{k}{ext}"
        im = Image.open(ds.root / s.image).convert("RGB")
        im.save(root / name, quality=95) if ext != ".webp" else im.save(root / name, lossless=True)
        gt[name] = [s.points]
    two = data_path(*AFW)
    shutil.copy2(two / "261068_1.jpg", root / "a" / "two_people.jpg")
    gt["a/two_people.jpg"] = [s.points for s in read_dataset(two, "pts").samples if s.image.startswith("261068_")]
    assert len(gt["a/two_people.jpg"]) == 2
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 260, 3), dtype=np.uint8)).save(root / "noise.png")
    (root / "broken.jpg").write_bytes((ds.root / ds.samples[5].image).read_bytes()[:300])
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not a picture")
    return root, gt


@pytest.mark.data
@pytest.mark.slow
def test_plain_folder_is_imported_and_prelabelled(folder, tmp_path, capsys):
    root, gt = folder
    db = tmp_path / "ws.db"
    assert main(["import", str(db), str(root), "--format", "images"]) == 0
    out, err = capsys.readouterr()
    assert "added 6, already present 0, skipped 2" in out  # 4 AFLW + two people + noise; broken + empty
    assert "broken.jpg" in out and "empty.png" in out and "notes.txt" in out
    assert "import: 8/8 images (100 %)" in err  # plain progress lines: stderr is not a terminal here
    assert "no face found in 1 image(s)" in out and "noise.png" in out
    with Workspace(db) as ws:
        recs = ws.images()
        by_name: dict[str, list] = {}
        for r in recs:
            by_name.setdefault(r.name, []).append(r)
        assert sorted(by_name) == sorted([*gt, "noise.png"])
        noise = by_name["noise.png"]
        assert len(noise) == 1 and noise[0].box_source == "not_found" and ws.latest_prediction(noise[0].id) is None
        assert len(by_name["a/two_people.jpg"]) >= 2  # both people are faces of one picture
        for name, truths in gt.items():
            preds = [ws.latest_prediction(r.id) for r in by_name[name]]
            assert all(p is not None and p.points.shape == (68, 2) for p in preds)
            assert all(r.box_source == "detector" for r in by_name[name])
            for g in truths:  # every annotated face is pre-labelled by one of the picture's faces
                assert min(_box_nme(p.points, g) for p in preds) < 0.12, name
    # a second import adds nothing and runs no model again
    assert main(["import", str(db), str(root), "--format", "images", "--no-progress"]) == 0
    assert "added 0, already present 6" in capsys.readouterr().out
    with Workspace(db) as ws:
        assert len(ws.images()) == len(recs)


def test_missing_folder_leaves_no_workspace(tmp_path, capsys):
    db = tmp_path / "new.db"
    assert main(["import", str(db), str(tmp_path / "nope"), "--format", "images"]) == 1
    assert "nope: no such folder" in capsys.readouterr().err
    assert not db.exists()
    assert main(["import", str(db), str(Path(__file__)), "--format", "images"]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert not db.exists()
