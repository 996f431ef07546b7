"""Smoke tests of ``python -m bench``: every benchmark runs in --quick mode on tiny inputs and writes valid
JSON with the machine. No timing assertions (the figures of a quick run mean nothing)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = ["inference", "prelabel", "asm", "evaluation", "store", "startup"]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "bench", *args, "--quick", "--out-dir", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_quick_run_writes_valid_json(name, tmp_path):
    r = _run([name], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads((tmp_path / f"{name}.json").read_text())
    assert result["benchmark"] == name and result["quick"] is True
    m = result["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["versions"]["numpy"]
    assert "torch_threads" in m and "when_utc" in m
    if result.get("skipped"):  # e.g. no AFLW2000-3D data here: a clear reason, no rows
        assert "ASMNET_DATA_DIR" in result["skipped"]
        return
    assert result["rows"], "a benchmark that ran must report rows"
    keys = [k for k, _ in result["columns"]]
    for row in result["rows"]:
        assert set(keys) & set(row), row
    assert f"### {name}" in r.stdout and "| ---" in r.stdout  # the markdown table was printed


def test_unknown_benchmark_is_an_error(tmp_path):
    r = _run(["nope"], tmp_path)
    assert r.returncode != 0 and "unknown benchmark" in r.stderr


def test_table_rendering_and_json_writer(tmp_path):
    from bench import common
    from bench.__main__ import render

    rows = [{"a": 1.23456, "b": "x", "c": float("nan")}, {"a": 12345.6, "b": None, "c": 0.0123}]
    text = render("demo", "Demo", {"rows": rows, "columns": [("a", "A"), ("b", "B"), ("c", "C")], "notes": ["n"]})
    assert "| A | B | C |" in text and "| 1.23 | x | – |" in text and "| 12,346 | – | 0.012 |" in text
    path = common.write_result({"benchmark": "demo", "rows": rows, "v": float("inf")}, tmp_path)
    data = json.loads(path.read_text())
    assert data["rows"][0]["c"] is None and data["v"] is None


def test_drag_script_is_registered_when_present(tmp_path, monkeypatch):
    """``python -m bench drag`` runs the annotator's bench/bench_drag.py through its main(argv)."""
    import bench.__main__ as runner

    if not (REPO / "bench" / "bench_drag.py").is_file():
        assert "drag" not in runner.available()
        return
    assert "drag" in runner.available()
    import bench.bench_drag as drag

    calls = []
    monkeypatch.setattr(drag, "main", lambda argv: calls.append(argv) or 0)
    assert runner.main(["drag", "--quick", "--out-dir", str(tmp_path)]) == 0
    assert calls == [["--out", str(tmp_path / "drag.json"), "--drags", "5"]]
