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

Beside the network, ``accelerate`` swaps the per-face uncertainty's shape projection (``ShapeModel.project``,
an alternation of up to 100 similarity / coefficient solves) for its closed form (``project_exact``) where
the two give the same answer (tangent-space shape models): it costs more than the network otherwise.

``DEFAULT_BACKEND`` is the backend chosen by measurement (faster than ``torch`` and within
``NME_TOLERANCE`` NME of it on the AFLW2000-3D test split; see ``bench/RESULTS.md``).
``tests/asmnet/test_fast.py`` checks each backend's outputs against the float model numerically.
"""
from __future__ import annotations

import copy
import io
from typing import Any, Callable

import numpy as np
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

    def run_numpy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 -> landmarks (N, K, 2), pose (N, 3) as numpy arrays (no torch involved:
        ``Predictor`` calls this)."""
        lm, pose = self.session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})
        return lm, pose

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lm, pose = self.run_numpy(x.detach().cpu().float().contiguous().numpy())
        return torch.from_numpy(lm), torch.from_numpy(pose)


# ---------------------------------------------------------------------------- shape projection
def _projection_basis(sm) -> tuple[np.ndarray, np.ndarray]:
    """(D (2K, m+3), D⁺ (m+3, 2K)) for ``project_exact``: columns mean, components, x and y shifts."""
    cache = getattr(sm, "_exact_projection_cache", None)
    if cache is not None and cache[0] is sm.components and cache[1] is sm.mean:
        return cache[2], cache[3]
    k = sm.num_points
    ex = np.tile([1.0, 0.0], k)
    ey = np.tile([0.0, 1.0], k)
    d = np.column_stack([sm.mean.reshape(-1), sm.components.T, ex, ey])
    pinv = np.linalg.pinv(d)
    sm._exact_projection_cache = (sm.components, sm.mean, d, pinv)
    return d, pinv


def project_exact(sm, points: np.ndarray):
    """The exact minimiser of ``ShapeModel.project``'s objective in closed form: (b (m,), Similarity).

    ``project`` minimises |T(mean + Pᵀb) − p|² over the similarity T (scale s > 0, angle θ, shift t) and
    the coefficients b by alternating the two; the alternation converges slowly (a few % off after 20
    iterations on turned faces). In the frame rotated by −θ the model is *linear* in (s, s·b, t'):
    Rᵀ(θ) p ≈ D [s, s·b, t'] with a constant design D. With u(θ) = cos θ · A + sin θ · B (A = p, B = p
    turned by −90°), the residual after the linear solve is cos θ · QA + sin θ · QB (Q = I − D D⁺), so
    the best θ is the eigenvector of the smallest eigenvalue of the 2 x 2 Gram matrix of (QA, QB), and the
    rest follows from one linear solve: well under a millisecond for 68 points.

    It equals the converged alternation when the components are orthogonal to the similarity directions of
    the mean (``similarity_orthogonal``: the tangent-space models ``ShapeModel.fit`` builds). For a model
    with a component along the mean (a "scale" mode) the optimum trades scale against that coefficient and
    the alternation's answer depends on where it stops; ``accelerate`` then keeps the model's own ``project``.
    """
    from asmnet.asm import Similarity

    p = np.asarray(points, dtype=np.float64)
    d, pinv = _projection_basis(sm)
    a = p.reshape(-1)
    b = np.stack([p[:, 1], -p[:, 0]], 1).reshape(-1)  # R(θ)ᵀp = cos θ · a + sin θ · b
    ab = np.column_stack([a, b])
    q = ab - d @ (pinv @ ab)
    g = q.T @ q
    _, vecs = np.linalg.eigh(g)
    c, s = vecs[:, 0]
    coef = pinv @ (c * a + s * b)
    if coef[0] < 0:  # theta + pi: the same fit with a positive scale
        c, s, coef = -c, -s, -coef
    scale = float(coef[0])
    m = sm.num_components
    coeffs = coef[1:m + 1] / scale
    angle = float(np.arctan2(s, c))
    rot = np.array([[c, -s], [s, c]])
    return coeffs, Similarity(scale, angle, rot @ coef[m + 1:m + 3])


def similarity_orthogonal(sm, tol: float = 1e-6) -> bool:
    """Whether ShapeModel ``sm``'s components are orthogonal to the mean, its 90° turn and both shifts."""
    k = sm.num_points
    m = sm.mean.reshape(-1)
    turn = np.stack([-sm.mean[:, 1], sm.mean[:, 0]], 1).reshape(-1)
    sim = np.stack([m, turn, np.tile([1.0, 0.0], k), np.tile([0.0, 1.0], k)])
    sim = sim / np.linalg.norm(sim, axis=1, keepdims=True)
    return bool(np.abs(sm.components @ sim.T).max() <= tol) if sm.num_components else True


def exact_shape_model(sm):
    """A copy of ShapeModel ``sm`` whose ``project`` (and so ``mahalanobis``, the predictor's uncertainty)
    uses ``project_exact``; every other method (``constrain`` ...) is the original one."""
    from asmnet.asm import ShapeModel

    class ExactProjectionShapeModel(ShapeModel):
        def project(self, points, iterations: int | None = None):
            return project_exact(self, self._check(points))

    return ExactProjectionShapeModel(sm.mean, sm.components, sm.eigenvalues, total_variance=sm.total_variance,
                                     residual_variance=sm.residual_variance, schema=sm.schema)


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


def accelerate(predictor, backend: str | None = None, *, channels_last: bool = True,
               exact_projection: bool | None = None):
    """Switch a ``Predictor`` (CPU) to ``backend`` in place and return it.

    ``backend=None`` picks ``resolve_default()``. The float model stays at ``predictor.float_model``
    (so calling this twice starts from the float weights), the backend's name at ``predictor.backend``.
    ``exact_projection``: compute the per-face ``uncertainty``'s shape projection in closed form
    (``project_exact``) instead of by alternation; None = where it gives the same answer (the shape
    model is ``similarity_orthogonal``). The original shape model stays at ``predictor.float_shape_model``.
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
    sm = getattr(predictor, "float_shape_model", None)
    if sm is None:
        sm = predictor.shape_model
    predictor.float_shape_model = sm
    if sm is not None:
        exact = similarity_orthogonal(sm) if exact_projection is None else bool(exact_projection)
        predictor.shape_model = exact_shape_model(sm) if exact and backend != "torch" else sm
    return predictor
