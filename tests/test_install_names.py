"""Issue 16: the repository's folders datasets/, evaluation/, annotator/ install as ``asmnet_studio.*``, so
that Hugging Face ``datasets`` and ``evaluate`` can be installed beside this tool with both working."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAPPED = ("datasets", "evaluation", "annotator")
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".cache", "runs"}


def repo_python_files() -> list[Path]:
    out = []
    for p in REPO.rglob("*.py"):
        rel = p.relative_to(REPO).parts
        if not any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel[:-1]):
            out.append(p)
    return out


def test_no_top_level_import_of_the_mapped_folders():
    """Every import of datasets/evaluation/annotator goes through asmnet_studio (else the repository's folder,
    or Hugging Face's package, would be imported instead, and a module could be loaded twice)."""
    bad = []
    for p in repo_python_files():
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            bad += [f"{p.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in MAPPED]
    assert not bad, "imports must name asmnet_studio.<folder>:\n" + "\n".join(bad)


def test_every_package_is_in_pyproject():
    """The package list in pyproject.toml is explicit (setuptools' find cannot rename a folder): a new
    package folder must be added there, or it would be missing from a wheel."""
    tomllib = pytest.importorskip("tomllib")
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    assert {f"asmnet_studio.{t}": t for t in MAPPED} == mapping
    found = {p.parent.relative_to(REPO).as_posix().replace("/", ".") for p in (REPO / "asmnet").rglob("__init__.py")}
    for top in MAPPED:
        found |= {"asmnet_studio." + p.parent.relative_to(REPO).as_posix().replace("/", ".")
                  for p in (REPO / top).rglob("__init__.py")}
    found = {f for f in found if "__pycache__" not in f}
    assert found == listed, (f"missing from pyproject: {sorted(found - listed)}; "
                             f"listed but absent: {sorted(listed - found)}")


def test_installed_beside_hugging_face_names(tmp_path):
    """A Python started outside the repository, with top-level ``datasets`` and ``evaluate`` packages first on
    sys.path (standing in for Hugging Face's), imports those and this tool's packages, each from its own
    place. Needs the package installed (``pip install -e .`` or a wheel)."""
    fake = tmp_path / "site"
    for name in ("datasets", "evaluate"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(f"WHO = 'hugging face {name}'\n")
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(fake)!r})
        import datasets, evaluate
        import asmnet_studio.datasets.store as store
        import asmnet_studio.evaluation.metrics as metrics
        import asmnet_studio.annotator.editing as editing
        import asmnet, asmnet.model.asm
        print(json.dumps({{"datasets": datasets.__file__, "evaluate": evaluate.__file__, "WHO": datasets.WHO,
                          "store": store.__file__, "metrics": metrics.__file__, "editing": editing.__file__,
                          "asmnet": asmnet.__file__, "asm": asmnet.model.asm.__file__,
                          "same": sys.modules["datasets"] is datasets}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, f"import failed (is the package installed? pip install -e .):\n{r.stderr}"
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["WHO"] == "hugging face datasets" and got["same"]
    assert Path(got["datasets"]).parent.parent == fake and Path(got["evaluate"]).parent.parent == fake

    def ours(path: str, *tail: str) -> bool:
        p = Path(path)
        return p.parts[-len(tail):] == tail and fake not in p.parents

    assert ours(got["store"], "datasets", "store", "__init__.py") or ours(got["store"], "datasets", "store.py")
    assert ours(got["metrics"], "evaluation", "metrics.py"), got["metrics"]
    assert ours(got["editing"], "annotator", "editing.py"), got["editing"]
    assert ours(got["asm"], "asmnet", "model", "asm.py"), got["asm"]
