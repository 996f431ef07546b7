"""Fast CPU inference for the landmark networks: the same function, computed more cheaply.

Every backend turns a float ``LandmarkNet`` (eval mode) into a callable with the same contract,
``(N, 3, S, S) float RGB in [0, 1] -> (landmarks (N, K, 2), pose (N, 3))``, so the ``Predictor`` uses it
unchanged (``Predictor.from_checkpoint(path, backend=...)`` or ``asmnet.inference.fast.accelerate(predictor, ...)``).

Backends (``BACKENDS``):

* ``torch``: the model as trained (eager PyTorch, float32). The reference.
* ``fused``: batch norm folded into the preceding convolution's weights and bias (exact up to float
  rounding), dropout dropped, the ImageNet normalisation kept in front; eager PyTorch in channels-last
  memory format (``channels_last=False`` keeps NCHW).
* ``jit``: ``fused`` traced with ``torch.jit.trace`` and frozen (``torch.jit.freeze``): constants folded,
  conv + ReLU6 fused by the JIT's oneDNN passes where it can.
* ``int8``: ``fused`` with the two linear heads dynamically quantised to int8 (``torch.ao.quantization.
  quantize_dynamic``); the convolutions stay float.
* ``onnx``: ``fused`` exported to ONNX and run by onnxruntime (``asmnet.inference.runtime``: graph optimisations on,
  ``torch.get_num_threads()`` intra-op threads here), exact up to float rounding.
* ``onnx-int8``: that graph with static int8 quantisation (QDQ, per-channel int8 weights, uint8 activations,
  MinMax ranges calibrated on the plain and mirrored crops of training faces; the first convolution and the
  linear heads stay float: ``quantise_shipped``). Lossy;
  shipped only when its NME on the validation part of ``train`` is within ``NME_TOLERANCE`` of the float
  model's (``asmnet runtime`` checks and records it in the sidecar).

``export_onnx`` / ``quantise_static`` / ``build_runtime`` write the torch-free runtime (ONNX graph + JSON
sidecar, ``asmnet.inference.runtime``) that ``Predictor.from_checkpoint`` loads for the ONNX backends without torch.

``DEFAULT_BACKEND`` is the backend chosen by measurement (faster than ``torch`` and within
``NME_TOLERANCE`` NME of it; see ``bench/RESULTS.md``); ``resolve_default(checkpoint)`` falls back to
``onnx`` for a checkpoint without a calibrated int8 runtime.
``tests/asmnet/inference/test_fast.py`` checks each backend's outputs against the float model numerically.
"""
from __future__ import annotations

import copy
import io
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from asmnet.inference.runtime import (BACKENDS, DEFAULT_BACKEND, FALLBACK_BACKEND, ORT_BACKENDS, OrtModel,  # noqa: F401
                            check_backend, onnxruntime_available, preferred_backend)

#: a backend is acceptable only if its NME (percent, AFLW2000-3D, box-normalised, balanced) is within this of
#: the float model's (checked on the validation part of ``train`` when a runtime is built, reported on test)
NME_TOLERANCE = 0.05


def available_backends() -> list[str]:
    """The backends usable here (the ONNX ones need onnxruntime)."""
    return [b for b in BACKENDS if b not in ORT_BACKENDS or onnxruntime_available()]


def resolve_default(checkpoint: str | Path | None = None) -> str:
    """The fast CPU backend for ``checkpoint``: ``DEFAULT_BACKEND`` (``onnx-int8``) where a calibrated runtime
    for it exists, else ``onnx`` (built from the checkpoint alone), else ``fused`` without onnxruntime."""
    if not onnxruntime_available():
        return "fused"
    if checkpoint is None or not Path(checkpoint).is_file():
        return FALLBACK_BACKEND
    return preferred_backend(checkpoint)


# ---------------------------------------------------------------------------- batch-norm folding
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d computing ``bn(conv(x))`` (eval-mode statistics) with a bias."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    with torch.no_grad():
        fused.weight.copy_((w * scale.view(-1, 1, 1, 1)).float())
        fused.bias.copy_(((b - bn.running_mean.detach().double()) * scale + bn.bias.detach().double()).float())
    return fused


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fold each (Conv2d, BatchNorm2d) pair among ``seq``'s direct children in place."""
    names = list(seq._modules)
    for a, b in zip(names, names[1:]):
        conv, bn = seq._modules[a], seq._modules[b]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            seq._modules[a] = _fold(conv, bn)
            seq._modules[b] = nn.Identity()


def fuse_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (a ``LandmarkNet``) in eval mode with every BatchNorm folded into its conv.

    Raises ValueError when a BatchNorm is left that does not follow a convolution (nothing is folded
    silently wrong).
    """
    m = copy.deepcopy(model).eval()
    for mod in list(m.modules()):
        if isinstance(mod, nn.Sequential):
            _fold_sequential(mod)
    left = [n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)]
    if left:
        raise ValueError(f"fuse_model: batch norms not after a convolution were left: {left[:5]}")
    if hasattr(m, "dropout"):
        m.dropout = nn.Identity()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class _ChannelsLast(nn.Module):
    """Runs the wrapped model on channels-last input (weights converted once)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x.contiguous(memory_format=torch.channels_last))


# ---------------------------------------------------------------------------- onnxruntime
def export_onnx(model: nn.Module, input_size: int) -> bytes:
    """The ONNX graph (opset 17, constant folding, dynamic batch axis) of a float ``LandmarkNet`` in eval
    mode: input ``image`` (N, 3, S, S), outputs ``landmarks`` (N, K, 2) and ``pose`` (N, 3). Export the
    ``fuse_model`` copy (batch norm folded: fewer nodes)."""
    import warnings

    buf = io.BytesIO()
    x = torch.zeros(2, 3, input_size, input_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, input_names=["image"], output_names=["landmarks", "pose"],
                          dynamic_axes={"image": {0: "batch"}, "landmarks": {0: "batch"}, "pose": {0: "batch"}},
                          opset_version=17, dynamo=False, do_constant_folding=True)
    return buf.getvalue()


class OnnxModel(OrtModel):
    """A ``LandmarkNet`` exported to ONNX in memory and run by onnxruntime; called like the torch model.

    Args:
        model: a float model in eval mode (``fused`` is exported: fewer nodes).
        input_size: S of the (N, 3, S, S) input (the batch axis is dynamic).
        threads: onnxruntime intra-op threads (default ``torch.get_num_threads()``).
    """

    def __init__(self, model: nn.Module, input_size: int, threads: int | None = None):
        if not onnxruntime_available():
            raise ImportError("the 'onnx' backend needs onnxruntime: pip install onnxruntime "
                              "(or use backend='fused')")
        self.onnx_bytes = export_onnx(model, input_size)
        super().__init__(self.onnx_bytes, input_size, threads=int(threads or torch.get_num_threads()),
                         num_points=int(getattr(model, "num_points", 0)))


# ---------------------------------------------------------------------------- static int8 (QDQ)
#: the quantisation ``asmnet runtime`` ships (chosen on the validation part of ``train``: bench/RESULTS.md).
#: ``float_layers``: left in float (``float_nodes``): the first convolution (it sees the raw image) and the two
#: linear heads (the coordinates and angles themselves); quantising them too moved the validation NME by +0.060.
QUANTISATION = {"format": "QDQ", "per_channel": True, "activations": "uint8", "weights": "int8",
                "calibration_method": "MinMax", "reduce_range": False,
                "float_layers": ["first convolution", "linear heads (Gemm)"]}


def float_nodes(onnx_bytes: bytes) -> list[str]:
    """Names of the nodes ``QUANTISATION`` leaves in float in a graph from ``export_onnx``: the first ``Conv``
    and every ``Gemm`` (ValueError when the graph lacks either: not a landmark network)."""
    import onnx

    nodes = onnx.load_from_string(onnx_bytes).graph.node
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    gemms = [n.name for n in nodes if n.op_type == "Gemm"]
    if not convs or not gemms:
        raise ValueError(f"float_nodes: expected a convolutional network with linear heads, found {len(convs)} Conv "
                         f"and {len(gemms)} Gemm nodes")
    return [convs[0], *gemms]


def quantise_shipped(onnx_bytes: bytes, calibration: np.ndarray, method: str | None = None) -> bytes:
    """``quantise_static`` with the settings of ``QUANTISATION`` (what ``asmnet runtime`` checks and ships);
    ``method`` overrides its calibration method."""
    return quantise_static(onnx_bytes, calibration, per_channel=QUANTISATION["per_channel"],
                           method=method or QUANTISATION["calibration_method"], exclude=tuple(float_nodes(onnx_bytes)))


def quantise_static(onnx_bytes: bytes, calibration: np.ndarray, *, per_channel: bool = True,
                    method: str = "MinMax", exclude: tuple[str, ...] = (), batch: int = 16) -> bytes:
    """Static int8 quantisation (QDQ: uint8 activations, int8 weights) of a float graph from ``export_onnx``.

    Args:
        calibration: (N, 3, S, S) float32 network inputs in [0, 1], exactly as the predictor feeds them
            (plain and mirrored crops of *training* faces: ``asmnet.cli.runtime`` records them).
        per_channel: one weight scale per output channel (per tensor loses ~4 NME points on this model).
        method: ``MinMax``, ``Entropy`` or ``Percentile`` activation ranges.
        exclude: node names left in float.
    """
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    x = np.ascontiguousarray(calibration, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 3 or len(x) == 0:
        raise ValueError(f"calibration must be (N, 3, S, S) float32 with N > 0, found {x.shape}")
    try:
        cm = getattr(CalibrationMethod, method)
    except AttributeError:
        raise ValueError(f"unknown calibration method {method!r}; choose one of ['MinMax', 'Entropy', "
                         f"'Percentile']") from None

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"image": x[i:i + batch]} for i in range(0, len(x), batch)])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="asmnet-quant-") as d:
        src, pre, out = Path(d) / "float.onnx", Path(d) / "pre.onnx", Path(d) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=cm,
                        nodes_to_exclude=list(exclude) or None)
        return out.read_bytes()


# ---------------------------------------------------------------------------- runtime files
def runtime_meta(checkpoint: Path, sha256: str, obj: dict[str, Any], backend: str, **extra: Any) -> dict[str, Any]:
    """The sidecar fields of a runtime made from the loaded checkpoint ``obj`` (``asmnet.inference.runtime``)."""
    import onnxruntime

    from asmnet.model.checkpoint import load_shape_model
    from asmnet.inference.runtime import shape_model_to_json

    card = dict(obj.get("card") or {})
    return {"backend": backend, "checkpoint": {"file": checkpoint.name, "sha256": sha256},
            "name": str(card.get("name", checkpoint.stem)), "config": dict(obj["config"]), "card": card,
            "shape_model": shape_model_to_json(load_shape_model(obj)),
            "onnx": {"opset": 17, "input": "image (N, 3, S, S) float32 RGB [0, 1]",
                     "outputs": ["landmarks (N, K, 2) normalised crop units", "pose (N, 3) radians"]},
            "built": {"when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "torch": torch.__version__,
                      "onnxruntime": onnxruntime.__version__},
            **extra}


def build_runtime(checkpoint: str | Path, backend: str = "onnx", *, release: bool = False,
                  calibration: np.ndarray | None = None, extra: dict[str, Any] | None = None,
                  graph: bytes | None = None) -> Path:
    """Export ``checkpoint``'s network for an ONNX ``backend`` and write its runtime pair
    (``asmnet.inference.runtime``); returns the sidecar path. Imports torch (this is the one-off step; loading it later
    does not).

    ``release=True`` writes beside the checkpoint (``<stem>.<tag>.json`` / ``.onnx``: what ships in
    ``asmnet/weights``), else into ``asmnet.inference.runtime.cache_dir()`` keyed by the checkpoint's sha256.
    ``onnx-int8`` needs ``calibration`` (see ``quantise_static``); ``extra`` goes into the sidecar (how it
    was calibrated and checked). ``graph``: an already made ONNX graph of this checkpoint for ``backend``
    (the one ``asmnet runtime`` checked on validation), written as is.
    """
    from asmnet.model.checkpoint import build_model, load_checkpoint
    from asmnet.inference.runtime import cache_paths, file_sha256, release_paths, write_runtime

    if backend not in ORT_BACKENDS:
        raise ValueError(f"a runtime is built for an ONNX backend, one of {list(ORT_BACKENDS)}; found {backend!r}")
    checkpoint = Path(checkpoint)
    sha = file_sha256(checkpoint)
    obj = load_checkpoint(checkpoint)
    model = build_model(obj, checkpoint)
    meta_extra: dict[str, Any] = dict(extra or {})
    if graph is None and backend == "onnx":
        graph = export_onnx(fuse_model(model), int(obj["config"]["input_size"]))
    elif graph is None:
        if calibration is None:
            raise ValueError("backend 'onnx-int8' needs calibration crops (run `asmnet runtime`, which takes them "
                             "from the checkpoint's training data)")
        graph = quantise_shipped(export_onnx(fuse_model(model), int(obj["config"]["input_size"])), calibration)
        meta_extra.setdefault("quantisation", dict(QUANTISATION))
    sidecar, onnx_path = release_paths(checkpoint, backend) if release else cache_paths(sha, backend)
    return write_runtime(sidecar, onnx_path, graph, runtime_meta(checkpoint, sha, obj, backend, **meta_extra))


# ---------------------------------------------------------------------------- public API
def optimise_model(model: nn.Module, backend: str, *, input_size: int, channels_last: bool = True,
                   threads: int | None = None, calibration: np.ndarray | None = None
                   ) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The inference callable of ``model`` for ``backend`` (see the module docstring).

    Args:
        model: a float ``LandmarkNet`` (left unchanged; the result holds its own copy of the weights).
        backend: one of ``BACKENDS``.
        input_size: the network input side S (the traced / exported graphs are built at S).
        channels_last: run the eager backends (``fused``, ``int8``) in channels-last memory format (faster
            on oneDNN CPUs at every batch size measured here).
        threads: onnxruntime threads (ONNX backends only; default ``torch.get_num_threads()``).
        calibration: (N, 3, S, S) network inputs for ``onnx-int8`` (``quantise_static``), required there.
    """
    check_backend(backend)
    if backend == "torch":
        return model.eval()
    fused = fuse_model(model)
    if backend == "fused":
        return _ChannelsLast(fused).eval() if channels_last else fused
    if backend == "int8":
        q = torch.ao.quantization.quantize_dynamic(fused, {nn.Linear}, dtype=torch.qint8)
        return _ChannelsLast(q).eval() if channels_last else q
    if backend == "jit":
        x = torch.rand(1, 3, input_size, input_size)
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(fused, x, check_trace=False)
            frozen = torch.jit.freeze(traced.eval())
        return frozen
    if backend == "onnx-int8":
        if calibration is None:
            raise ValueError("backend 'onnx-int8' needs calibration inputs (or a runtime built by `asmnet runtime`)")
        graph = quantise_shipped(export_onnx(fused, input_size), calibration)
        return OrtModel(graph, input_size, threads=int(threads or torch.get_num_threads()),
                        num_points=int(getattr(model, "num_points", 0)))
    return OnnxModel(fused, input_size, threads)


def accelerate(predictor, backend: str | None = None, *, channels_last: bool = True):
    """Switch a ``Predictor`` (CPU) to ``backend`` in place and return it.

    ``backend=None`` picks ``resolve_default(predictor.checkpoint_path)``. ``onnx-int8`` loads the calibrated runtime of
    the predictor's checkpoint (``asmnet runtime`` makes it; ValueError when there is none). A predictor loaded from a
    runtime without torch gets its float model from its checkpoint. The float model stays at ``predictor.float_model``
    (so calling this twice starts from the float weights), the backend's name at ``predictor.backend``. The shape
    model is the same for every backend (``ShapeModel.project`` is closed-form); ``predictor.float_shape_model``
    names it too.
    """
    checkpoint = predictor.checkpoint_path
    backend = resolve_default(checkpoint) if backend is None else check_backend(backend)
    if predictor.device.type != "cpu" and backend != "torch":
        raise ValueError(f"backend {backend!r} is a CPU path; the predictor is on {predictor.device}")
    base = getattr(predictor, "float_model", None)
    if base is None:
        base = predictor.model
        if hasattr(base, "run_numpy"):  # loaded from a runtime: the float model comes from the checkpoint
            if checkpoint is None:
                raise ValueError("this predictor has no float model and no checkpoint to load one from")
            from asmnet.model.checkpoint import build_model, load_checkpoint

            base = build_model(load_checkpoint(checkpoint), checkpoint)
    predictor.float_model = base
    if backend == "onnx-int8":
        from asmnet.inference.runtime import find_runtime, load_runtime

        sidecar = None if checkpoint is None else find_runtime(checkpoint, backend, predictor.sha256)
        if sidecar is None:
            raise ValueError(f"no calibrated 'onnx-int8' runtime for {checkpoint or 'this model'}; make one with "
                             f"`asmnet runtime --checkpoint CHECKPOINT` (or use backend 'onnx')")
        predictor.model = load_runtime(sidecar, sha256=predictor.sha256, threads=torch.get_num_threads()).model
    else:
        predictor.model = optimise_model(base, backend, input_size=predictor.input_size, channels_last=channels_last)
    predictor.backend = backend
    sm = getattr(predictor, "float_shape_model", None)
    predictor.float_shape_model = predictor.shape_model = predictor.shape_model if sm is None else sm
    return predictor
