"""Fast CPU inference for the landmark networks: the same function, computed more cheaply.

Every backend turns a float ``LandmarkNet`` (eval mode) into a callable with the same contract,
``(N, 3, S, S) float RGB in [0, 1] -> (landmarks (N, K, 2), pose (N, 3))``, so the ``Predictor`` uses it
unchanged (``Predictor.from_checkpoint(path, backend=...)`` or ``asmnet.fast.accelerate(predictor, ...)``).

Backends (``BACKENDS``):

* ``torch``: the model as trained (eager PyTorch, float32). The reference.
* ``fused``: batch norm folded into the preceding convolution's weights and bias (exact up to float
  rounding), dropout dropped, the ImageNet normalisation kept in front; eager PyTorch in channels-last
  memory format (``channels_last=False`` keeps NCHW).
* ``jit``: ``fused`` traced with ``torch.jit.trace`` and frozen (``torch.jit.freeze``): constants folded,
  conv + ReLU6 fused by the JIT's oneDNN passes where it can.
* ``int8``: ``fused`` with the two linear heads dynamically quantised to int8 (``torch.ao.quantization.
  quantize_dynamic``); the convolutions stay float.
* ``onnx``: ``fused`` exported to ONNX (in memory) and run by onnxruntime (optional dependency
  ``onnxruntime``; ImportError with the install hint when missing), graph optimisations on, with
  ``torch.get_num_threads()`` intra-op threads.

``DEFAULT_BACKEND`` is the backend chosen by measurement (faster than ``torch`` and within
``NME_TOLERANCE`` NME of it on the AFLW2000-3D test split; see ``bench/RESULTS.md``).
``tests/asmnet/test_fast.py`` checks each backend's outputs against the float model numerically.
"""
from __future__ import annotations

import copy
import io
from typing import Any, Callable

import torch
from torch import nn

BACKENDS = ("torch", "fused", "jit", "int8", "onnx")
#: the backend ``Predictor.default(fast=True)`` / ``accelerate(predictor)`` use (chosen by measurement)
DEFAULT_BACKEND = "onnx"
#: a backend is acceptable only if its NME (percent, AFLW2000-3D test, box-normalised, balanced) is
#: within this of the float model's
NME_TOLERANCE = 0.05


def check_backend(name: str) -> str:
    """``name`` if it is a known backend, else ValueError listing the choices."""
    if name not in BACKENDS:
        raise ValueError(f"unknown inference backend {name!r}; choose one of {list(BACKENDS)}")
    return name


def onnxruntime_available() -> bool:
    """Whether the optional ``onnxruntime`` package can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def available_backends() -> list[str]:
    """The backends usable here (``onnx`` needs onnxruntime)."""
    return [b for b in BACKENDS if b != "onnx" or onnxruntime_available()]


def resolve_default() -> str:
    """``DEFAULT_BACKEND`` where it is usable here, else ``fused``."""
    return DEFAULT_BACKEND if DEFAULT_BACKEND in available_backends() else "fused"


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
class OnnxModel:
    """A ``LandmarkNet`` exported to ONNX and run by onnxruntime; called like the torch model.

    Args:
        model: a float model in eval mode (``fused`` is exported: fewer nodes).
        input_size: S of the (N, 3, S, S) input (the batch axis is dynamic).
        threads: onnxruntime intra-op threads (default ``torch.get_num_threads()``).
    """

    def __init__(self, model: nn.Module, input_size: int, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("the 'onnx' backend needs onnxruntime: pip install onnxruntime "
                              "(or use backend='fused')") from None
        buf = io.BytesIO()
        x = torch.zeros(2, 3, input_size, input_size)
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), buf, input_names=["image"], output_names=["landmarks", "pose"],
                              dynamic_axes={"image": {0: "batch"}, "landmarks": {0: "batch"}, "pose": {0: "batch"}},
                              opset_version=17, dynamo=False, do_constant_folding=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.onnx_bytes = buf.getvalue()
        self.session = ort.InferenceSession(self.onnx_bytes, opts, providers=["CPUExecutionProvider"])
        self.input_size = int(input_size)
        self.num_points = int(getattr(model, "num_points", 0))

    # a Predictor calls .to(device).eval() on its model
    def to(self, device: Any) -> "OnnxModel":
        if torch.device(device).type != "cpu":
            raise ValueError("the 'onnx' backend runs on the CPU only (device='cpu')")
        return self

    def eval(self) -> "OnnxModel":
        return self

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        arr = x.detach().cpu().float().contiguous().numpy()
        lm, pose = self.session.run(None, {"image": arr})
        return torch.from_numpy(lm), torch.from_numpy(pose)


# ---------------------------------------------------------------------------- public API
def optimise_model(model: nn.Module, backend: str, *, input_size: int, channels_last: bool = True,
                   threads: int | None = None) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The inference callable of ``model`` for ``backend`` (see the module docstring).

    Args:
        model: a float ``LandmarkNet`` (left unchanged; the result holds its own copy of the weights).
        backend: one of ``BACKENDS``.
        input_size: the network input side S (the traced / exported graphs are built at S).
        channels_last: run the eager backends (``fused``, ``int8``) in channels-last memory format (faster
            on oneDNN CPUs at every batch size measured here).
        threads: onnxruntime threads (``onnx`` only; default ``torch.get_num_threads()``).
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
    return OnnxModel(fused, input_size, threads)


def accelerate(predictor, backend: str | None = None, *, channels_last: bool = True):
    """Switch a ``Predictor`` (CPU) to ``backend`` in place and return it.

    ``backend=None`` picks ``resolve_default()``. The float model stays at ``predictor.float_model``
    (so calling this twice starts from the float weights), the backend's name at ``predictor.backend``.
    """
    backend = resolve_default() if backend is None else check_backend(backend)
    if predictor.device.type != "cpu" and backend != "torch":
        raise ValueError(f"backend {backend!r} is a CPU path; the predictor is on {predictor.device}")
    base = getattr(predictor, "float_model", None)
    if base is None:
        base = predictor.model
    predictor.float_model = base
    predictor.model = optimise_model(base, backend, input_size=predictor.input_size, channels_last=channels_last)
    predictor.backend = backend
    return predictor
