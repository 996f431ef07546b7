"""``python -m bench [NAME ...] [--quick] [--out-dir DIR] [--markdown FILE] [--data DIR --format F --split S]``:
run benchmarks.

Without NAME every benchmark but ``drag`` runs; ``drag`` (the annotator's ``bench/bench_drag.py``, registered when the
file exists; it needs Playwright's Chromium) runs when named. ``--quick`` runs each on tiny inputs (a smoke test: the
figures mean nothing). Each prints a markdown table and writes ``<out-dir>/<name>.json`` (default ``bench/results``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import common

#: benchmark name -> module (each with NAME, TITLE, run(quick) -> dict)
BENCHMARKS = {
    "inference": "bench.bench_inference",
    "prelabel": "bench.bench_prelabel",
    "asm": "bench.bench_asm",
    "evaluation": "bench.bench_evaluation",
    "store": "bench.bench_store",
    "correction": "bench.bench_correction",
    "startup": "bench.bench_startup",
}
#: external benchmark scripts with their own ``main(argv)`` (registered when the file exists)
SCRIPTS = {"drag": "bench_drag.py"}


def available() -> list[str]:
    names = list(BENCHMARKS)
    names += [n for n, f in SCRIPTS.items() if (common.REPO / "bench" / f).is_file()]
    return names


def render(name: str, title: str, result: dict[str, Any]) -> str:
    """The markdown section of one benchmark result."""
    lines = [f"### {name}: {title}", ""]
    if result.get("skipped"):
        lines.append(f"_Skipped: {result['skipped']}_")
        return "\n".join(lines) + "\n"
    lines.append(common.markdown_table(result["rows"], result["columns"]))
    lines.append("")
    for n in result.get("notes", []):
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


def run_script(name: str, quick: bool, out_dir: Path) -> dict[str, Any]:
    """Run an external benchmark script (``bench/bench_drag.py``) through its ``main(argv)``."""
    mod = importlib.import_module(f"bench.{Path(SCRIPTS[name]).stem}")
    out = out_dir / f"{name}.json"
    argv = ["--out", str(out)] + (["--drags", "5"] if quick and name == "drag" else [])
    rc = mod.main(argv)
    return {"rc": rc, "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {available()})")
    ap.add_argument("--quick", action="store_true", help="tiny inputs (smoke test; figures are meaningless)")
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS_DIR, help="where <name>.json goes")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables to this markdown file")
    data = ap.add_argument_group("data options (benchmarks that read a dataset: correction)")
    data.add_argument("--data", default=None, metavar="DIR",
                      help="dataset folder (default: ../shared/data's AFLW2000-3D)")
    data.add_argument("--format", default=None, metavar="NAME", help="its format (default aflw2000)")
    data.add_argument("--split", default=None, help="split to use (default test)")
    data.add_argument("--subset", default=None, help="'validation': the checkpoint's validation faces of the split")
    data.add_argument("--limit", type=int, default=None, help="only the first N faces")
    data.add_argument("--normaliser", default=None, help="NME normaliser (default box)")
    args = ap.parse_args(argv)
    names = args.names or [n for n in available() if n not in SCRIPTS]
    unknown = [n for n in names if n not in available()]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {available()}")
    given = [k for k in ("data", "format", "split", "subset", "limit", "normaliser") if getattr(args, k) is not None]
    takers = [n for n in names if n in BENCHMARKS and hasattr(importlib.import_module(BENCHMARKS[n]), "OPTIONS")]
    if given and not takers:
        ap.error(f"--{given[0]} applies to the benchmarks that read a dataset ({['correction']}), none of which "
                 f"was named")

    sections = []
    failed = []
    m = common.machine()
    print(f"machine: {common.machine_line(m)}\n", flush=True)
    for name in names:
        t0 = time.perf_counter()
        if name in SCRIPTS:
            try:
                r = run_script(name, args.quick, args.out_dir)
                print(f"{name}: script finished rc={r['rc']}, wrote {r['out']}\n", flush=True)
                if r["rc"]:
                    failed.append(name)
            except Exception:
                traceback.print_exc()
                failed.append(name)
            continue
        mod = importlib.import_module(BENCHMARKS[name])
        options = {k: getattr(args, k) for k in getattr(mod, "OPTIONS", ()) if getattr(args, k) is not None}
        if hasattr(mod, "OPTIONS"):
            options["out_dir"] = args.out_dir
        try:
            result = mod.run(quick=args.quick, **options)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        result = {"benchmark": name, "title": mod.TITLE, "quick": args.quick, "machine": common.machine(),
                  "machine_at_start": m, "seconds": round(time.perf_counter() - t0, 2), **result}
        path = common.write_result(result, args.out_dir)
        text = render(name, mod.TITLE, result)
        sections.append(text)
        print(text, flush=True)
        print(f"({result['seconds']:.1f} s; wrote {path})\n", flush=True)
    if args.markdown:
        cmd = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        out_dir = args.out_dir.relative_to(common.REPO) if args.out_dir.is_relative_to(common.REPO) else args.out_dir
        head = (f"# Benchmark results\n\nReproduce: `{cmd}` (from the repository root; writes "
                f"`{out_dir}/<name>.json`).\n\nMachine: {common.machine_line(m)}\n\n")
        args.markdown.write_text(head + "\n".join(sections))
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
