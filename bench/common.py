"""Shared helpers of the benchmarks: machine description, timing statistics, data and model lookup,
markdown tables and the JSON result file.

Every benchmark module has ``NAME``, ``TITLE`` and ``run(quick: bool) -> dict``; the dict holds
``rows`` (list of dicts, one per measured variant), ``columns`` (the table's (key, header) pairs),
``notes`` (list of str) and optionally ``skipped`` (a reason: nothing was measured). ``bench.__main__``
adds the machine and writes ``<out_dir>/<NAME>.json``.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
#: the torch / onnxruntime thread count of the inference benchmarks (the target machine has 2 cores)
THREADS = 2


# ---------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """SIMD flags of interest (avx, avx2, avx512f, fma, vnni) present in /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
                        if f in have]
    except OSError:
        pass
    return []


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        mod = __import__(module)
        return str(getattr(mod, "__version__", getattr(mod, "DLIB_VERSION", "installed")))
    except Exception:  # an installed but broken optional package
        return "broken"


def training_running() -> bool:
    """Whether an ``asmnet.cli train`` process is running on this machine (timings are then polluted)."""
    try:
        out = subprocess.run(["pgrep", "-f", "asmnet.cli train"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.stdout.strip())


def machine() -> dict[str, Any]:
    """The machine and software a result was measured on."""
    try:
        import torch

        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "torch_threads": torch_threads,
        "bench_threads": THREADS,
        "load_average": load,
        "training_running": training_running(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {m: _version(m) for m in ("torch", "numpy", "cv2", "onnxruntime", "dlib", "pandas", "scipy")},
        "when_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def set_threads(n: int = THREADS) -> None:
    """torch intra-op threads = n (and OpenCV's), for comparable inference timings."""
    import torch

    torch.set_num_threads(n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass


# ---------------------------------------------------------------------------- timing
def stats(samples_s: Sequence[float], scale: float = 1e3) -> dict[str, float]:
    """median / mean / p90 / p99 / min of durations in seconds, times ``scale`` (default: ms)."""
    a = np.asarray(samples_s, dtype=np.float64) * scale
    if a.size == 0:
        return {"median": math.nan, "mean": math.nan, "p90": math.nan, "p99": math.nan, "min": math.nan, "n": 0}
    return {"median": float(np.median(a)), "mean": float(a.mean()), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "min": float(a.min()), "n": int(a.size)}


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    """Durations (s) of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------------- data and models
def data_dir() -> Path:
    """The shared research data folder (``$ASMNET_DATA_DIR``, default ``../shared/data`` beside the repo)."""
    return Path(os.environ.get("ASMNET_DATA_DIR", REPO.parent / "shared" / "data"))


def aflw_dir() -> Path | None:
    """The AFLW2000-3D folder, or None when it is missing."""
    p = data_dir() / "aflw2000-3d"
    return p if p.is_dir() else None


def missing_data_reason() -> str:
    return (f"AFLW2000-3D not found at {data_dir() / 'aflw2000-3d'} (set ASMNET_DATA_DIR to the shared data "
            f"folder); nothing measured")


def load_aflw_test(limit: int | None = None):
    """(dataset, samples) of the AFLW2000-3D test split (first ``limit`` samples), or None without data."""
    root = aflw_dir()
    if root is None:
        return None
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(root, "aflw2000", split="test")
    samples = ds.samples if limit is None else ds.samples[:limit]
    return ds, samples


def checkpoint_path() -> tuple[Path | None, str]:
    """(checkpoint, how it was chosen): the shipped one, else ``runs/asmnet68-cpu/best.pt``, else None."""
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.is_file():
        return DEFAULT_CHECKPOINT, "shipped checkpoint (asmnet/weights)"
    dev = REPO / "runs" / "asmnet68-cpu" / "best.pt"
    if dev.is_file():
        return dev, "runs/asmnet68-cpu/best.pt (the shipped checkpoint was not there yet)"
    return None, "no checkpoint found: untrained ASMNet weights (speed only)"


def dlib_model_path() -> Path | None:
    """dlib's 68-point ERT model file from the face_recognition_models package (not imported: its
    ``__init__`` needs pkg_resources), or None."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return p if p.is_file() else None


# ---------------------------------------------------------------------------- output
def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.1f}"
        if 0 < abs(v) < 1:
            return f"{v:.3f}"
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: Iterable[dict], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table of ``rows`` with ``columns`` (key, header)."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines)


def machine_line(m: dict[str, Any]) -> str:
    flags = ",".join(m.get("cpu_flags") or []) or "?"
    load = m.get("load_average")
    busy = " — **a training run was using the CPU (figures taken under load)**" if m.get("training_running") else ""
    return (f"{m['cpu']} ({flags}), {m['cores']} cores, bench threads {m['bench_threads']}, torch "
            f"{m['versions'].get('torch')}, onnxruntime {m['versions'].get('onnxruntime')}, dlib "
            f"{m['versions'].get('dlib')}, Python {m['python']}; load average {load} at start; "
            f"{m['when_utc']}{busy}")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, Path):
        return str(x)
    return x


def write_result(result: dict[str, Any], out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.json`` (NaN / inf become null) and return the path."""
    return write_json(result, Path(out_dir) / f"{result['benchmark']}.json")


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` as JSON to ``path`` whole (temp file, then rename; NaN / inf become null), creating its
    folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def python_exe() -> str:
    return sys.executable
