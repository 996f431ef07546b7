"""Issue 16: the documentation names code that exists. docs/MAP.md (the rooms, one drag, one pre-label) and the
other pages are parsed for names: every dotted name under one of our import roots (in backticks, or anywhere for
asmnet / asmnet_studio / bench) must import (the longest module prefix) and resolve attribute by attribute; every
file path in backticks must exist; and every module of the rooms must appear on the map, so that a moved, renamed
or new module fails here until the pages follow."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAP = REPO / "docs" / "MAP.md"
#: pages whose names are checked (the map and the pages that point into the code)
PAGES = [REPO / "README.md", REPO / "asmnet" / "weights" / "MODEL_CARD.md",
         *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "bench").glob("*.md"))]
#: first components of the import names we own
ROOTS = ("asmnet", "asmnet_studio", "app", "bench")
#: the folders whose every public module the map names: each package under these (formats/ is summed up as
#: "one module per format")
ROOM_ROOTS = ("asmnet", "datasets", "evaluation", "annotator")
NOT_ROOMS = ("datasets/formats",)
FILE_SUFFIXES = (".py", ".md", ".npz", ".json", ".onnx", ".pt", ".toml", ".csv", ".sh", ".db")

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"`([^`]+)`")
DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT = re.compile(r"^from\s+([\w.]+)\s+import\s+([\w\s,]+)$")
#: top-level folders that .gitignore keeps out of the repository (outputs of local runs)
LOCAL_OUTPUTS = {line.strip().strip("/") for line in (REPO / ".gitignore").read_text().splitlines()
                 if line.strip().startswith("/") and line.strip().endswith("/")}
PATH = re.compile(r"^[\w.-]+(?:/[\w.*{},-]+)*/?$")
#: a dotted name under asmnet / asmnet_studio / bench anywhere in the text, in backticks or not
PROSE_NAME = re.compile(r"(?<![\w./-])(?:asmnet|asmnet_studio|bench)(?:\.[A-Za-z_]\w*)+")


def spans(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every inline code span outside fenced blocks (a span may wrap a line)."""
    out = []
    for m in SPAN.finditer(FENCE.sub(lambda f: "\n" * f.group(0).count("\n"), text)):
        out.append((text.count("\n", 0, m.start()) + 1, " ".join(m.group(1).split())))
    return out


def code_names(span: str) -> list[str]:
    """The dotted names under ``ROOTS`` that a span claims exist: ``a.b.c``, ``a.b.f(args)`` -> ``a.b.f``,
    ``from a.b import C, D`` -> ``a.b.C``, ``a.b.D``; a file name such as ``app.py`` is a path, not a name."""
    m = FROM_IMPORT.match(span)
    if m:
        module = m.group(1)
        if module.split(".")[0] not in ROOTS:
            return []
        return [f"{module}.{name.strip()}" for name in m.group(2).split(",") if name.strip()]
    m = DOTTED.match(span)
    if m is None or m.group(0).split(".")[0] not in ROOTS or "/" in span:
        return []
    name = m.group(0)
    return [] if name.endswith(FILE_SUFFIXES) else [name]


def file_paths(span: str) -> list[str]:
    """Repository paths a span names: no spaces, a ``/`` in it, and its first part a top-level entry of the
    repository (``asmnet/weights/``, ``bench/results/*.json``); a bare file name (``best.pt``) is a name in
    its context, not checked; nor is a path under a folder of local outputs that git ignores (``runs/``:
    a training run's files exist on one machine only)."""
    if " " in span or "/" not in span or not PATH.match(span):
        return []
    top = span.split("/")[0]
    return [span] if (REPO / top).exists() and top not in {"", "."} | LOCAL_OUTPUTS else []


def prose_names(text: str) -> list[tuple[int, str]]:
    """(line number, name) of every dotted name under asmnet / asmnet_studio / bench in the text (code blocks
    included: ``torchrun ... -m asmnet.cli train``), file names such as ``bench.md`` left out."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in PROSE_NAME.finditer(text)
            if not m.group(0).endswith(FILE_SUFFIXES)]


def rooms() -> list[Path]:
    """Every package folder under ``ROOM_ROOTS`` but ``NOT_ROOMS``."""
    return sorted(p.parent for root in ROOM_ROOTS for p in (REPO / root).rglob("__init__.py")
                  if "__pycache__" not in p.parts and p.parent.relative_to(REPO).as_posix() not in NOT_ROOMS)


def resolve(name: str) -> str | None:
    """None when ``name`` imports and resolves, else why not."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return f"{module_name} has no {'.'.join(parts[i:])!r}"
            obj = getattr(obj, attr)
        return None
    return f"no module {parts[0]!r}"


def _expand(path: str) -> list[Path]:
    if "*" in path:
        return sorted(REPO.glob(path))
    if "{" in path:
        head, rest = path.split("{", 1)
        choices, tail = rest.split("}", 1)
        return [p for c in choices.split(",") for p in _expand(head + c + tail)]
    return [REPO / path]


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_file()], ids=lambda p: str(p.relative_to(REPO)))
def test_every_code_name_resolves(page: Path):
    text = page.read_text(encoding="utf-8")
    names = {(line, name) for line, span in spans(text) for name in code_names(span)} | set(prose_names(text))
    bad = []
    for line, name in sorted(names):
        why = resolve(name)
        if why is not None:
            bad.append(f"{page.relative_to(REPO)}:{line}: `{name}`: {why}")
    assert not bad, "names in the docs that the code does not have:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_file()], ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_path_exists(page: Path):
    text = page.read_text(encoding="utf-8")
    bad = []
    for line, span in spans(text):
        for path in file_paths(span):
            if path.startswith("../"):  # outside the repository (../shared: data a clone may lack), not ours
                continue
            found = _expand(path)
            if not found or not all(p.exists() for p in found):
                bad.append(f"{page.relative_to(REPO)}:{line}: `{path}` does not exist")
    assert not bad, "paths in the docs that the repository does not have:\n" + "\n".join(bad)


def test_the_map_names_every_module_of_the_rooms():
    words = set(re.findall(r"\w+", MAP.read_text(encoding="utf-8")))
    missing = [p.relative_to(REPO).as_posix() for room in rooms() for p in sorted(room.glob("*.py"))
               if not p.stem.startswith("_") and p.stem not in words]
    assert not missing, f"docs/MAP.md does not name these modules: {missing}"


def test_the_checker_rejects_names_that_do_not_exist():
    for root in ("asmnet", "bench"):  # the repository's packages, not a folder of tests of the same name
        assert Path(importlib.import_module(root).__file__).parent == REPO / root
    assert resolve("asmnet.inference.prelabel.prelabel_faces") is None
    assert resolve("asmnet_studio.datasets.store.workspace.Workspace.save_annotation") is None
    assert resolve("asmnet.inference.prelabel.no_such_function") is not None
    assert resolve("asmnet.no_such_room.prelabel") is not None
    assert code_names("from asmnet_studio.datasets.store import Workspace, ConflictError") == [
        "asmnet_studio.datasets.store.Workspace", "asmnet_studio.datasets.store.ConflictError"]
    assert code_names("asmnet.model.asm.ShapeModel.constrain(points, pinned=...)") == [
        "asmnet.model.asm.ShapeModel.constrain"]
    assert code_names("app.py") == [] and file_paths("asmnet/weights/asmnet68.pt") == ["asmnet/weights/asmnet68.pt"]
    assert code_names("app.py --import DIR") == [] and file_paths("~/.cache/x") == []
    assert code_names("from datasets import load_dataset") == []
    assert prose_names("run asmnet.cli train, see bench.md and `asmnet_studio.datasets.paths`") == [
        (1, "asmnet.cli"), (1, "asmnet_studio.datasets.paths")]
    assert REPO / "datasets" / "store" in rooms() and REPO / "datasets" / "formats" not in rooms()
