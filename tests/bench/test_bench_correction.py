"""``python -m bench correction``: the quick form on a few real faces, and the simulation's bookkeeping."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _aflw_copy(src: Path, dst: Path, n: int) -> Path:
    """An AFLW2000-3D-style folder holding the first ``n`` test faces of ``src`` (a face set we "do not have")."""
    (dst / "AFLW2000").mkdir(parents=True)
    rows = [line.strip().split(",") for line in (src / "split.csv").read_text().splitlines()[1:]
            if line.strip().endswith(",test")]
    for name, _ in rows[:n]:
        for ext in (".jpg", ".mat"):
            shutil.copyfile(src / "AFLW2000" / (name + ext), dst / "AFLW2000" / (name + ext))
    (dst / "split.csv").write_text("image,split\n" + "".join(f"{name},test\n" for name, _ in rows[:n]))
    return dst


@pytest.mark.slow
def test_quick_run_on_an_aflw_style_folder(aflw_dir, tmp_path):
    data = _aflw_copy(aflw_dir, tmp_path / "faces", 4)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "bench", "correction", "--quick", "--data", str(data), "--format",
                        "aflw2000", "--split", "test", "--out-dir", str(out)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((out / "correction.json").read_text())
    assert res["faces"] == 4 and res["split"] == "test" and res["data"] == str(data)
    for name in ("free", "legacy", "constrained"):
        s = res["strategies"][name]
        assert 0 <= s["mean_drags"] <= 68 and 0.0 <= s["first_drag_worse"] <= 1.0
        assert set(s["buckets"]) == {"0-30", "30-60", "60-90"}
        assert s["mean_nme_after"][0] == pytest.approx(res["strategies"]["free"]["mean_nme_after"][0])
    assert res["strategies"]["free"]["first_drag_worse"] == 0.0  # moving one point to the truth never hurts
    assert "plotly" in (out / "correction.html").read_text()[:200000].lower()
    assert "| constrained |" in r.stdout


def test_data_options_need_a_benchmark_that_reads_data(tmp_path):
    from bench.__main__ import main

    with pytest.raises(SystemExit):
        main(["asm", "--data", str(tmp_path), "--quick", "--out-dir", str(tmp_path)])


def test_simulation_counts_drags_and_stops_at_the_threshold():
    """Free drag on a face with three wrong points needs exactly three drags; NME never rises."""
    from bench.bench_correction import Strategy, simulate

    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, size=(68, 2))
    pred = gt.copy()
    pred[[3, 30, 50]] += [[40.0, 0.0], [0.0, 60.0], [-50.0, 10.0]]
    r = simulate(gt, pred, None, norm=100.0, shape_model=None, strategy=Strategy("free", 0.0), threshold=0.5)
    assert r["drags"] == 3 and r["nme"][-1] < 1e-4
    assert all(b < a for a, b in zip(r["nme"][:-1], r["nme"][1:]))
    capped = simulate(gt, pred, None, norm=100.0, shape_model=None, strategy=Strategy("free", 0.0), cap=2,
                      threshold=0.5)
    assert capped["drags"] == 3 and len(capped["nme"]) == 3  # cap + 1 marks "never reached"
