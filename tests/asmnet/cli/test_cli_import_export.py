"""``asmnet import`` / ``asmnet export``: summaries, re-runs, status filter, errors, and no torch."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asmnet.cli import main
from asmnet_studio.datasets.formats import read_dataset
from asmnet_studio.datasets.store import Workspace
from tests.datasets.store_helpers import make_aflw_subset

REPO = Path(__file__).resolve().parents[3]
N = 12


@pytest.fixture
def subset(tmp_path, aflw_dir):
    return make_aflw_subset(aflw_dir, tmp_path / "aflw", N)


@pytest.mark.data
def test_import_then_reimport_then_export(subset, tmp_path, capsys):
    db = tmp_path / "w.db"
    assert main(["import", str(db), str(subset), "--format", "aflw2000", "--no-progress"]) == 0
    assert f"added {N}, already present 0, skipped 0" in capsys.readouterr().out
    assert main(["import", str(db), str(subset), "--format", "aflw2000"]) == 0
    assert f"added 0, already present {N}" in capsys.readouterr().out

    with Workspace(db) as ws:
        first = ws.images()[0]
        ann = ws.latest(first.id)
        ws.save_annotation(first.id, ann.points + 1, author="me", base_version=1, status="done")
    out = tmp_path / "done"
    assert main(["export", str(db), str(out), "--format", "aflw2000", "--status", "done"]) == 0
    assert "exported 1 image(s)" in capsys.readouterr().out
    assert len(read_dataset(out, "aflw2000")) == 1
    assert main(["export", str(db), str(tmp_path / "all"), "--format", "aflw2000"]) == 0
    assert len(read_dataset(tmp_path / "all", "aflw2000")) == N


@pytest.mark.data
def test_import_of_one_split(subset, tmp_path, capsys):
    db = tmp_path / "w.db"
    n_test = sum(s.split == "test" for s in read_dataset(subset, "aflw2000").samples)
    assert main(["import", str(db), str(subset), "--format", "aflw2000", "--split", "test", "--no-progress"]) == 0
    assert f"added {n_test}," in capsys.readouterr().out
    with Workspace(db) as ws:
        assert {r.split for r in ws.images()} <= {"test"}


def test_errors_are_reported_without_a_traceback(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.db"), str(tmp_path / "out"), "--format", "aflw2000"]) == 1
    assert "missing.db: workspace file not found" in capsys.readouterr().err
    (tmp_path / "w.db").write_bytes(b"not sqlite" * 100)
    assert main(["import", str(tmp_path / "w.db"), str(tmp_path), "--format", "aflw2000"]) == 1
    assert "not a SQLite" in capsys.readouterr().err
    with Workspace(tmp_path / "ok.db"):
        pass
    assert main(["export", str(tmp_path / "ok.db"), str(tmp_path / "o"), "--format", "aflw2000",
                 "--status", "finished"]) == 1
    assert "unknown status 'finished'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["import", str(tmp_path / "ok.db"), str(tmp_path), "--format", "nope"])


def test_import_and_export_do_not_load_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from asmnet.cli import main
        main(["import", {str(tmp_path / 'w.db')!r}, {str(tmp_path)!r}, "--format", "aflw2000", "--no-progress"])
        main(["export", {str(tmp_path / 'w.db')!r}, {str(tmp_path / 'out')!r}, "--format", "aflw2000"])
        print("torch" in sys.modules)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
