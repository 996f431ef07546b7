"""The torch-free inference runtime: a checkpoint's ONNX graph plus a JSON sidecar, run by ONNX Runtime.

A checkpoint (``asmnet/weights/asmnet68.pt``) is a torch file; reading it costs ~3 s of ``import torch``.
The fast CPU path does not need torch to *run*, so each checkpoint gets, once, a *runtime*:

* ``<stem>.<tag>.onnx``: the network (batch norm folded; ``tag`` = ``fp32`` for the ``onnx`` backend,
  ``int8`` for ``onnx-int8``, static QDQ quantisation calibrated on training crops), input ``image``
  (N, 3, S, S) float32 RGB in [0, 1], outputs ``landmarks`` (N, K, 2) normalised crop units and ``pose``
  (N, 3) radians;
* ``<stem>.<tag>.json``: the sidecar: the checkpoint's sha256 (the key), the ONNX file's sha256, the
  checkpoint's config and card, its shape model (exact float64 values) and how the graph was made.

Where they live: the release writes them beside the shipped checkpoint (``asmnet runtime`` regenerates
them from it); for any other checkpoint (or a stale shipped pair) the ``onnx`` runtime is built on first
use (``asmnet.inference.fast.build_runtime``, which imports torch once) into the cache ``cache_dir()``, keyed by the
checkpoint's sha256, and every later start loads it without torch.

This module imports numpy, json and onnxruntime only (never torch): ``Predictor.from_checkpoint`` with an
ONNX backend runs in a process where ``import torch`` fails.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asmnet.model.asm import ShapeModel
from asmnet_studio.datasets.errors import DataError

FORMAT_TAG = "asmnet-runtime"
FORMAT_VERSION = 1
#: every inference backend (``asmnet.inference.fast`` builds the torch ones; the ONNX ones run here without torch)
BACKENDS = ("torch", "fused", "jit", "int8", "onnx", "onnx-int8")
#: backends run by ONNX Runtime from a runtime file pair
ORT_BACKENDS = ("onnx", "onnx-int8")
#: file tag of each ONNX backend
TAGS = {"onnx": "fp32", "onnx-int8": "int8"}
#: the preferred fast CPU backend (chosen by measurement, ``bench/RESULTS.md``): used by ``fast`` / ``auto``
#: when a runtime for it exists for the checkpoint (``onnx-int8`` needs calibration data, so only the
#: release makes it); otherwise ``FALLBACK_BACKEND`` (built from the checkpoint alone, exact).
DEFAULT_BACKEND = "onnx-int8"
FALLBACK_BACKEND = "onnx"


class RuntimeFileError(DataError, ValueError):
    """A runtime sidecar or ONNX file is unusable (names the file and what is wrong)."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


def check_backend(name: str) -> str:
    """``name`` if it is a known backend, else ValueError listing the choices."""
    if name not in BACKENDS:
        raise ValueError(f"unknown inference backend {name!r}; choose one of {list(BACKENDS)}")
    return name


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_threads() -> int:
    """ONNX Runtime intra-op threads: ``$ASMNET_THREADS``, else the CPUs this process may use."""
    env = os.environ.get("ASMNET_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"ASMNET_THREADS must be a positive integer, found {env!r}") from None
        if n < 1:
            raise ValueError(f"ASMNET_THREADS must be a positive integer, found {env!r}")
        return n
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def session_options(threads: int | None = None):
    """The ``onnxruntime.SessionOptions`` of every ONNX backend (measured in ``bench/RESULTS.md``): all graph
    optimisations, ``threads`` intra-op threads (default ``default_threads()``), one inter-op thread,
    sequential execution, spinning worker threads (faster at batch 1 on 2 cores)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads or default_threads())
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


#: network inputs per ONNX Runtime call (larger batches are run in slices of this many): with two one-thread
#: sessions running at once (``asmnet predict --workers 2``) slices of 4–8 crops took ~15 % less CPU per crop than
#: one call of 64 (smaller activations, likely kept in cache); with two intra-op threads it made no difference, and
#: the whole CLI's time moved within its noise (bench/RESULTS.md)
CROPS_PER_CALL = 8


class OrtModel:
    """An exported landmark network run by onnxruntime: ``run_numpy((N, 3, S, S) float32) -> (landmarks
    (N, K, 2), pose (N, 3))`` numpy; also callable on torch tensors (for the torch-side tools).

    Args:
        onnx: the ONNX graph (bytes or a file path).
        input_size: S.
        threads: intra-op threads (default ``default_threads()``).
        num_points: K (0 when unknown).
    """

    def __init__(self, onnx: bytes | str | Path, input_size: int, threads: int | None = None, num_points: int = 0):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("the ONNX backends need onnxruntime: pip install onnxruntime") from None
        src = onnx if isinstance(onnx, bytes) else str(onnx)
        #: the graph (bytes) when it was given as bytes
        self.onnx_bytes = onnx if isinstance(onnx, bytes) else None
        self.session = ort.InferenceSession(src, session_options(threads), providers=["CPUExecutionProvider"])
        self.input_size = int(input_size)
        self.num_points = int(num_points)
        self.threads = int(threads or default_threads())

    # a Predictor treats its model like a torch module in two places
    def to(self, device: Any) -> "OrtModel":
        if str(device).split(":")[0] != "cpu":
            raise ValueError(f"the ONNX backends run on the CPU only (device='cpu'), asked for {device}")
        return self

    def eval(self) -> "OrtModel":
        return self

    def run_numpy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 -> landmarks (N, K, 2), pose (N, 3) numpy (no torch involved); run in slices of
        ``CROPS_PER_CALL`` inputs."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        step = CROPS_PER_CALL
        if len(x) <= step:
            lm, pose = self.session.run(None, {"image": x})
            return lm, pose
        outs = [self.session.run(None, {"image": x[i:i + step]}) for i in range(0, len(x), step)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    def __call__(self, x):
        import torch

        lm, pose = self.run_numpy(x.detach().cpu().float().contiguous().numpy())
        return torch.from_numpy(lm), torch.from_numpy(pose)


# ---------------------------------------------------------------------------- files
def cache_dir() -> Path:
    """Where runtimes built on first use go: ``$ASMNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/asmnet-studio/runtime``
    (``~/.cache/asmnet-studio/runtime``)."""
    env = os.environ.get("ASMNET_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "asmnet-studio" / "runtime"


def release_paths(checkpoint: str | Path, backend: str) -> tuple[Path, Path]:
    """(sidecar, onnx) beside ``checkpoint``: ``<stem>.<tag>.json`` / ``<stem>.<tag>.onnx``."""
    c = Path(checkpoint)
    tag = TAGS[backend]
    return c.with_name(f"{c.stem}.{tag}.json"), c.with_name(f"{c.stem}.{tag}.onnx")


def cache_paths(sha256: str, backend: str, root: Path | None = None) -> tuple[Path, Path]:
    """(sidecar, onnx) in the cache for the checkpoint with this sha256."""
    d = cache_dir() if root is None else Path(root)
    stem = f"{sha256[:24]}.{TAGS[backend]}"
    return d / f"{stem}.json", d / f"{stem}.onnx"


def shape_model_to_json(sm: ShapeModel | None) -> dict[str, Any] | None:
    """The shape model as JSON-ready lists (float64 values round-trip exactly)."""
    if sm is None:
        return None
    return {"mean": np.asarray(sm.mean, np.float64).tolist(), "components": np.asarray(sm.components, np.float64).tolist(),
            "eigenvalues": np.asarray(sm.eigenvalues, np.float64).tolist(), "total_variance": float(sm.total_variance),
            "residual_variance": float(sm.residual_variance), "schema": str(sm.schema)}


def shape_model_from_json(d: dict[str, Any] | None, path: str | Path = "<sidecar>") -> ShapeModel | None:
    if d is None:
        return None
    try:
        return ShapeModel(np.asarray(d["mean"], np.float64), np.asarray(d["components"], np.float64),
                          np.asarray(d["eigenvalues"], np.float64), total_variance=float(d["total_variance"]),
                          residual_variance=float(d["residual_variance"]), schema=str(d.get("schema", "ibug68")))
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeFileError(path, f"shape_model entry is not a shape model ({type(exc).__name__}: {exc})") from None


def write_runtime(sidecar: Path, onnx_path: Path, onnx_bytes: bytes, meta: dict[str, Any]) -> Path:
    """Write the ONNX file, then the sidecar (which names the ONNX file's sha256), each through a temp file
    and a rename; the sidecar last, so a reader never sees a sidecar whose graph is missing or half written."""
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_name(f"{onnx_path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(onnx_bytes)
    tmp.replace(onnx_path)
    doc = {"format": FORMAT_TAG, "version": FORMAT_VERSION, **meta,
           "onnx": {**meta.get("onnx", {}), "file": onnx_path.name, "sha256": hashlib.sha256(onnx_bytes).hexdigest()}}
    tmp = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    tmp.replace(sidecar)
    return sidecar


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """A sidecar's JSON, checked for the format tag, version and required keys (RuntimeFileError otherwise)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise RuntimeFileError(path, f"not a readable runtime sidecar ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_TAG:
        raise RuntimeFileError(path, f"not an ASMNet runtime sidecar (no '{FORMAT_TAG}' format tag)")
    if int(doc.get("version", -1)) > FORMAT_VERSION:
        raise RuntimeFileError(path, f"runtime format version {doc.get('version')} is newer than this code "
                                     f"supports ({FORMAT_VERSION})")
    for key in ("backend", "checkpoint", "onnx", "config"):
        if key not in doc:
            raise RuntimeFileError(path, f"runtime sidecar lacks '{key}'")
    if doc["backend"] not in ORT_BACKENDS:
        raise RuntimeFileError(path, f"backend {doc['backend']!r} is not one of {list(ORT_BACKENDS)}")
    for key in ("sha256",):
        if key not in doc["checkpoint"] or key not in doc["onnx"]:
            raise RuntimeFileError(path, f"runtime sidecar lacks the checkpoint's or the graph's {key}")
    return doc


@dataclass
class Runtime:
    """A loaded runtime: the ONNX model and what the predictor needs from the checkpoint.

    Attributes:
        model: the ``OrtModel``; backend: ``onnx`` or ``onnx-int8``; sidecar: the JSON file it came from.
        config, card: the checkpoint's; shape_model: its ``ShapeModel`` (or None); sha256: the checkpoint's.
        meta: the whole sidecar document.
    """

    model: OrtModel
    backend: str
    sidecar: Path
    config: dict[str, Any]
    card: dict[str, Any]
    shape_model: ShapeModel | None
    sha256: str
    meta: dict[str, Any]


def find_runtime(checkpoint: str | Path, backend: str, sha256: str) -> Path | None:
    """The sidecar of a usable ``backend`` runtime for the checkpoint with this ``sha256``: beside the
    checkpoint (the release) first, then the cache; None when neither matches (a sidecar of another
    checkpoint, e.g. one left from the previous model, does not count)."""
    for sidecar, _ in (release_paths(checkpoint, backend), cache_paths(sha256, backend)):
        if not sidecar.is_file():
            continue
        try:
            doc = read_sidecar(sidecar)
        except RuntimeFileError:
            continue
        if doc["checkpoint"]["sha256"] == sha256 and doc["backend"] == backend:
            return sidecar
    return None


def preferred_backend(checkpoint: str | Path, sha256: str | None = None) -> str:
    """The backend ``fast`` / ``auto`` mean for ``checkpoint`` on the CPU: ``DEFAULT_BACKEND`` when a runtime for
    it exists (the release made one), else ``FALLBACK_BACKEND``."""
    sha = sha256 or file_sha256(checkpoint)
    sidecar = find_runtime(checkpoint, DEFAULT_BACKEND, sha)
    if sidecar is None:
        return FALLBACK_BACKEND
    # a runtime kept for benchmarks although its validation check refused it is never the default
    accepted = read_sidecar(sidecar).get("validation", {}).get("accepted", True)
    return DEFAULT_BACKEND if accepted else FALLBACK_BACKEND


def load_runtime(sidecar: str | Path, *, sha256: str | None = None, threads: int | None = None) -> Runtime:
    """Load a runtime from its sidecar; ``sha256`` (the checkpoint's) must match the sidecar's key when given.
    The ONNX file's sha256 is checked against the sidecar's. RuntimeFileError naming the file otherwise."""
    sidecar = Path(sidecar)
    doc = read_sidecar(sidecar)
    if sha256 is not None and doc["checkpoint"]["sha256"] != sha256:
        raise RuntimeFileError(sidecar, f"made from another checkpoint (sha256 {doc['checkpoint']['sha256'][:12]}..., "
                                        f"expected {sha256[:12]}...); regenerate it with `asmnet runtime`")
    onnx_path = sidecar.with_name(doc["onnx"]["file"])
    if not onnx_path.is_file():
        raise RuntimeFileError(onnx_path, f"ONNX graph named by {sidecar.name} is missing")
    data = onnx_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != doc["onnx"]["sha256"]:
        raise RuntimeFileError(onnx_path, f"ONNX graph does not match the sha256 in {sidecar.name} (changed or "
                                          f"truncated); regenerate it with `asmnet runtime`")
    cfg = dict(doc["config"])
    try:
        size = int(cfg["input_size"])
        k = int(cfg["num_points"])
    except (KeyError, TypeError, ValueError):
        raise RuntimeFileError(sidecar, "config lacks input_size / num_points") from None
    model = OrtModel(data, size, threads=threads, num_points=k)
    return Runtime(model=model, backend=doc["backend"], sidecar=sidecar, config=cfg, card=dict(doc.get("card") or {}),
                   shape_model=shape_model_from_json(doc.get("shape_model"), sidecar),
                   sha256=doc["checkpoint"]["sha256"], meta=doc)
