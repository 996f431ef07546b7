"""``asmnet evaluate``: predictions files and a model checkpoint, checked against computations written here
directly from the ``.mat`` files with scipy (not through ``asmnet_studio.evaluation.metrics``)."""
from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from asmnet.cli import main

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# ---------------------------------------------------------------- independent ground truth (scipy only)

def load_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) x, y and (yaw, pitch, roll) degrees straight from an AFLW2000-3D .mat file."""
    m = scipy.io.loadmat(str(path))
    xy = np.asarray(m["pt3d_68"], dtype=np.float64)[:2].T
    pitch, yaw, roll = np.degrees(np.asarray(m["Pose_Para"], dtype=np.float64).ravel()[:3])
    return xy, np.array([yaw, pitch, roll])


def aflw_split(aflw_dir: Path, split: str) -> list[Path]:
    """The .mat files of one split according to split.csv (image names there have no extension)."""
    with open(aflw_dir / "split.csv", newline="") as fh:
        names = {row["image"] for row in csv.DictReader(fh) if row["split"] == split}
    mats = sorted(p for p in aflw_dir.rglob("*.mat") if p.stem in names and p.with_suffix(".jpg").is_file())
    assert len(mats) == len(names)
    return mats


def box_nme(pred: np.ndarray, gt: np.ndarray) -> float:
    """Box-normalised NME of one face in percent: mean point distance / sqrt(w * h) of the GT box * 100."""
    w = gt[:, 0].max() - gt[:, 0].min()
    h = gt[:, 1].max() - gt[:, 1].min()
    return float(np.mean(np.sqrt(((pred - gt) ** 2).sum(axis=1))) / np.sqrt(w * h) * 100)


def write_csv(path: Path, rows: list[tuple[str, np.ndarray, np.ndarray | None]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        head = ["image"] + [f"{c}{i}" for i in range(68) for c in "xy"]
        w.writerow(head + (["yaw", "pitch", "roll"] if rows[0][2] is not None else []))
        for name, pts, pose in rows:
            w.writerow([name] + [f"{v:.6f}" for v in pts.ravel()]
                       + ([f"{v:.6f}" for v in pose] if pose is not None else []))
    return path


@pytest.fixture
def aflw_test(aflw_dir, tmp_path):
    """(relative image names, GT points, GT pose, noisy predictions, noisy pose, CSV path) for the test split."""
    rng = np.random.default_rng(7)
    names, gts, poses, preds, ppose = [], [], [], [], []
    for mat in aflw_split(aflw_dir, "test"):
        xy, pose = load_mat(mat)
        names.append(mat.with_suffix(".jpg").relative_to(aflw_dir).as_posix())
        gts.append(xy)
        poses.append(pose)
        # known noise: 2.5 px per coordinate, plus a few far-off faces so FR@10 is not 0
        preds.append(xy + rng.normal(0, 2.5, xy.shape) + (40.0 if len(preds) % 50 == 0 else 0.0))
        ppose.append(pose + rng.normal(0, 4.0, 3))
    gt, gp, pr, pp = map(np.array, (gts, poses, preds, ppose))
    path = write_csv(tmp_path / "pred.csv", [(n, pr[i], pp[i]) for i, n in enumerate(names)])
    return names, gt, gp, pr, pp, path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["evaluate", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ---------------------------------------------------------------- AFLW2000-3D (shared data)

@pytest.mark.data
def test_predictions_csv_reproduces_independent_box_nme(aflw_dir, aflw_test, tmp_path, capsys):
    names, gt, gp, pr, pp, csv_path = aflw_test
    out = tmp_path / "out"
    rc, stdout, err = run_cli(["--data", aflw_dir, "--format", "aflw2000", "--split", "test",
                               "--predictions", csv_path, "--out", out], capsys)
    assert rc == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == len(names) == 400
    assert summary["normaliser"] == "box"  # AFLW2000-3D's default

    # rounding the CSV to 6 decimals changes nothing at 0.01
    per = np.array([box_nme(pr[i], gt[i]) for i in range(len(names))])
    assert summary["nme"] == pytest.approx(per.mean(), abs=0.01)
    ayaw = np.abs(gp[:, 0])
    buckets = {"0-30": per[ayaw <= 30], "30-60": per[(ayaw > 30) & (ayaw <= 60)], "60-90": per[ayaw > 60]}
    for k, v in buckets.items():
        assert summary["nme_buckets"][k] == pytest.approx(v.mean(), abs=0.01)
    assert summary["nme_balanced"] == pytest.approx(np.mean([v.mean() for v in buckets.values()]), abs=0.01)
    assert summary["fr_10"] == pytest.approx(100 * np.mean(per > 10), abs=0.01)
    assert summary["fr_10"] > 0
    assert summary["auc_10"] == pytest.approx(100 * np.mean(np.clip(1 - per / 10, 0, 1)), abs=0.01)
    d = np.abs((pp - gp + 180) % 360 - 180)
    for i, a in enumerate(("yaw", "pitch", "roll")):
        assert summary["pose_mae"][a] == pytest.approx(d[:, i].mean(), abs=0.01)

    with open(out / "per_image.csv", newline="") as fh:
        rows = {r["image"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(names)
    for i in (0, 17, 399):
        assert float(rows[names[i]]["nme"]) == pytest.approx(per[i], abs=0.01)
    page = (out / "report.html").read_text()
    assert len(page) > 1_000_000  # plotly.js inline
    assert page.count('<figure class="thumb"><img src="data:image/jpeg;base64,') == 20  # worst-face gallery
    assert "nme_balanced" in stdout and "box" in stdout


@pytest.mark.data
def test_missing_predictions_are_an_error_unless_intersection(aflw_dir, aflw_test, tmp_path, capsys):
    names, gt, gp, pr, pp, _ = aflw_test
    keep = list(range(5, len(names)))
    path = write_csv(tmp_path / "partial.csv", [(names[i], pr[i], pp[i]) for i in keep])
    base = ["--data", aflw_dir, "--format", "aflw2000", "--split", "test", "--predictions", path]
    rc, _, err = run_cli(base + ["--out", tmp_path / "o1"], capsys)
    assert rc == 1
    assert "5 of 400" in err and Path(names[0]).name in err and "--intersection" in err
    rc, _, err = run_cli(base + ["--out", tmp_path / "o2", "--intersection", "--normaliser", "interocular"], capsys)
    assert rc == 0, err
    s = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert s["n"] == 395 and s["normaliser"] == "interocular"
    io = [np.mean(np.linalg.norm(pr[i] - gt[i], axis=1)) / np.linalg.norm(gt[i, 36] - gt[i, 45]) * 100 for i in keep]
    assert s["nme"] == pytest.approx(np.mean(io), abs=0.01)


@pytest.mark.data
def test_pts_folder_predictions(aflw_dir, aflw_test, tmp_path, capsys):
    names, gt, gp, pr, pp, _ = aflw_test
    folder = tmp_path / "pts"
    folder.mkdir()
    for i, n in enumerate(names):  # flat folder of <stem>.pts, 1-based on disk
        body = "\n".join(f"{x + 1:.6f} {y + 1:.6f}" for x, y in pr[i])
        (folder / (Path(n).stem + ".pts")).write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
    rc, _, err = run_cli(["--data", aflw_dir, "--format", "aflw2000", "--split", "test", "--predictions", folder,
                          "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["nme"] == pytest.approx(np.mean([box_nme(pr[i], gt[i]) for i in range(len(names))]), abs=0.01)
    assert "pose_mae" not in s  # .pts carry no pose


# ---------------------------------------------------------------- a tiny synthetic AFLW2000-3D folder

def make_dataset(root: Path, n: int = 4) -> tuple[list[str], np.ndarray, np.ndarray]:
    """n 96x80 images with .mat files (pt3d_68, Pose_Para in radians, pitch/yaw/roll)."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True, exist_ok=True)
    names, gts, poses = [], [], []
    base = np.stack([np.linspace(10, 70, 68), 20 + 40 * np.abs(np.sin(np.linspace(0, 3, 68)))], axis=1)
    for i in range(n):
        xy = base + rng.normal(0, 1, base.shape)
        pose = np.array([[-10.0, 20.0, 5.0], [40.0, -5.0, 0.0], [75.0, 0.0, -10.0], [100.0, 10.0, 3.0]][i % 4])
        Image.fromarray(rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)).save(root / f"face{i}.jpg")
        pt3d = np.zeros((3, 68))
        pt3d[:2] = xy.T
        pp = np.zeros((1, 7))
        pp[0, :3] = np.radians([pose[1], pose[0], pose[2]])
        scipy.io.savemat(root / f"face{i}.mat", {"pt3d_68": pt3d, "Pose_Para": pp})
        names.append(f"face{i}.jpg")
        gts.append(xy)
        poses.append(pose)
    return names, np.array(gts), np.array(poses)


class FakePrediction:
    def __init__(self, points, pose):
        self.points = points.astype(np.float32)
        self.pose = pose.astype(np.float32)
        self.confidence = np.ones(len(points), np.float32)


class FakePredictor:
    """Stands in for asmnet.inference.predictor.Predictor: predicts the GT-box centre line for every point."""

    calls: list = []

    def __init__(self, source):
        self.source = source
        self.schema = "ibug68"
        self.name = "fake"
        self.sha256 = "0" * 64

    @classmethod
    def default(cls):
        return cls("default")

    @classmethod
    def from_checkpoint(cls, path, device="cpu"):
        return cls(Path(path))

    def predict_batch(self, images, boxes=None, batch_size=32):
        FakePredictor.calls.append((self.source, [im.shape for im in images], np.array(boxes)))
        out = []
        for b in boxes:
            pts = np.stack([np.linspace(b[0], b[2], 68), np.full(68, (b[1] + b[3]) / 2)], axis=1)
            out.append(FakePrediction(pts, np.array([1.0, 2.0, 3.0])))
        return out


@pytest.fixture
def fake_predictor(monkeypatch):
    mod = types.ModuleType("asmnet.inference.predictor")
    mod.Predictor = FakePredictor
    monkeypatch.setitem(sys.modules, "asmnet.inference.predictor", mod)
    FakePredictor.calls = []
    return FakePredictor


def test_checkpoint_mode_uses_gt_boxes(tmp_path, fake_predictor, capsys):
    names, gt, gp = make_dataset(tmp_path / "data")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    rc, stdout, err = run_cli(["--data", tmp_path / "data", "--format", "aflw2000", "--checkpoint", ckpt,
                               "--out", tmp_path / "out", "--batch-size", "3"], capsys)
    assert rc == 0, err
    assert [c[0] for c in fake_predictor.calls] == [ckpt, ckpt]  # 4 images in batches of 3
    assert fake_predictor.calls[0][1][0] == (96, 80, 3)
    boxes = np.concatenate([c[2] for c in fake_predictor.calls])
    np.testing.assert_allclose(boxes[:, 0], gt[:, :, 0].min(axis=1), atol=1e-4)
    np.testing.assert_allclose(boxes[:, 3], gt[:, :, 1].max(axis=1), atol=1e-4)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    pred = np.stack([np.stack([np.linspace(b[0], b[2], 68), np.full(68, (b[1] + b[3]) / 2)], axis=1) for b in boxes])
    assert s["nme"] == pytest.approx(np.mean([box_nme(pred[i], gt[i]) for i in range(4)]), abs=0.01)
    # pose (1, 2, 3) vs GT: yaw errors 11, 39, 74, 99 -> 55.75
    assert s["pose_mae"]["yaw"] == pytest.approx(55.75, abs=0.01)
    assert "fake" in (tmp_path / "out" / "report.html").read_text()


def test_default_checkpoint_when_nothing_named(tmp_path, fake_predictor, capsys):
    make_dataset(tmp_path / "data", n=2)
    rc, _, err = run_cli(["--data", tmp_path / "data", "--format", "aflw2000", "--out", tmp_path / "out"], capsys)
    assert rc == 0, err
    assert fake_predictor.calls[0][0] == "default"


def test_schema_mismatch_is_an_error(tmp_path, fake_predictor, monkeypatch, capsys):
    make_dataset(tmp_path / "data", n=1)
    monkeypatch.setattr(FakePredictor, "default", classmethod(lambda cls: type("P", (cls,), {})("default")))
    orig = FakePredictor.__init__

    def init(self, source):
        orig(self, source)
        self.schema = "wflw98"

    monkeypatch.setattr(FakePredictor, "__init__", init)
    rc, _, err = run_cli(["--data", tmp_path / "data", "--format", "aflw2000", "--out", tmp_path / "out"], capsys)
    assert rc == 1 and "wflw98" in err and "ibug68" in err


def test_bad_arguments(tmp_path, capsys):
    make_dataset(tmp_path / "data", n=1)
    with pytest.raises(SystemExit):
        main(["evaluate", "--data", str(tmp_path / "data"), "--format", "aflw2000", "--normaliser", "eyes",
              "--out", str(tmp_path / "o")])
    assert "interocular" in capsys.readouterr().err
    rc, _, err = run_cli(["--data", tmp_path / "data", "--format", "nosuch", "--predictions", tmp_path / "p.csv",
                          "--out", tmp_path / "o"], capsys)
    assert rc == 1 and "aflw2000" in err
    rc, _, err = run_cli(["--data", tmp_path / "data", "--format", "aflw2000", "--split", "test",
                          "--predictions", tmp_path / "p.csv", "--out", tmp_path / "o"], capsys)
    assert rc == 1 and "no ground-truth faces" in err


# ---------------------------------------------------------------- the report in a real browser

@pytest.mark.e2e
def test_report_html_renders_offline_in_chromium(tmp_path, capsys):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium")
    names, gt, gp = make_dataset(tmp_path / "data")
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "p.csv", [(n, gt[i] + rng.normal(0, 1, gt[i].shape), gp[i] + 2)
                                          for i, n in enumerate(names)])
    rc, _, err = run_cli(["--data", tmp_path / "data", "--format", "aflw2000", "--predictions", path,
                          "--out", tmp_path / "out"], capsys)
    assert rc == 0, err
    page_path = tmp_path / "out" / "report.html"
    blocked: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        try:
            page = browser.new_page()

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(page_path.as_uri())
            expected = int(page.get_attribute("meta[name=asmnet-figures]", "content"))
            assert expected == 8  # mean face, regions, CED, FR, NME vs |yaw|, 3 pose plots
            # rendered = a plotly div whose SVG has been drawn (axes, ticks, traces: many elements)
            page.wait_for_function(
                "n => [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(e => e.querySelectorAll('svg.main-svg *').length > 10).length >= n",
                arg=expected, timeout=30000)
            rendered = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".map(e => e.querySelectorAll('svg.main-svg *').length)")
            assert len(rendered) == expected and all(c > 10 for c in rendered)
            assert page.locator("#summary").count() == 1
        finally:
            browser.close()
    assert blocked == []  # nothing tried to leave the machine


@pytest.mark.data
def test_300w_subsets_breakdown(w300_dir, tmp_path, capsys):
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.evaluation.predictions import write_predictions_csv

    ds = read_dataset(w300_dir, "300w")
    gt = np.stack([s.points for s in ds.samples]).astype(np.float64)
    pred = gt + np.random.default_rng(2).normal(0, 1.5, gt.shape)
    path = write_predictions_csv(tmp_path / "p.csv", [s.image for s in ds.samples], pred)
    rc, _, err = run_cli(["--data", w300_dir, "--format", "300w", "--predictions", path, "--out", tmp_path / "o"],
                         capsys)
    assert rc == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["normaliser"] == "interocular" and s["nme_buckets"] is None
    io = [np.mean(np.linalg.norm(pred[i] - gt[i], axis=1)) / np.linalg.norm(gt[i, 36] - gt[i, 45]) * 100
          for i in range(len(gt))]
    assert s["nme"] == pytest.approx(np.mean(io), abs=0.01)
    with open(tmp_path / "o" / "per_image.csv", newline="") as fh:
        subsets = {r["subset"] for r in csv.DictReader(fh)}
    assert {"common", "challenging"} <= subsets
    assert "By subset" in (tmp_path / "o" / "report.html").read_text()
