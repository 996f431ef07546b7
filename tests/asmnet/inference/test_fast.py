"""The fast CPU inference paths (asmnet.inference.fast) compute the float model's function: numerical equivalence
on a tiny model with non-trivial batch-norm statistics, through the Predictor, and on real faces with the
trained checkpoint where it and the data are present. No timing here (see ``python -m bench inference``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from asmnet.inference import fast
from asmnet.model.network import create_model
from asmnet.inference.predictor import Predictor

SIZE = 64
CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": SIZE, "crop_margin": 1.3, "schema": "ibug68"}
#: exact up to float rounding (int8 and onnx-int8 are lossy; onnx-int8 is tested in test_runtime.py)
EXACT = [b for b in fast.available_backends() if b not in ("torch", "int8", "onnx-int8")]


def _randomised_model(seed: int = 0) -> torch.nn.Module:
    """asmnet_tiny with random batch-norm statistics and affine terms (so folding them is not a no-op)."""
    torch.manual_seed(seed)
    m = create_model("asmnet_tiny")
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
        for head in (m.landmarks, m.pose):
            head.weight.normal_(std=0.05)
    return m.eval()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return _randomised_model()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_fuse_model_removes_batch_norm_and_keeps_the_original(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = fast.fuse_model(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("backend", EXACT)
@pytest.mark.parametrize("channels_last", [True, False])
def test_backend_matches_float_model(model, batch, backend, channels_last):
    if backend in ("jit", "onnx") and not channels_last:
        pytest.skip("channels_last applies to the eager backends only")
    f = fast.optimise_model(model, backend, input_size=SIZE, channels_last=channels_last)
    with torch.no_grad():
        ref_lm, ref_pose = model(batch)
        lm, pose = f(batch)
        lm1, pose1 = f(batch[:1])  # another batch size than the traced / exported one
    assert lm.shape == ref_lm.shape and pose.shape == ref_pose.shape
    np.testing.assert_allclose(lm.numpy(), ref_lm.numpy(), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(pose.numpy(), ref_pose.numpy(), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(lm1.numpy(), ref_lm[:1].numpy(), atol=2e-5, rtol=1e-4)


def test_int8_heads_are_close_but_lossy(model, batch):
    f = fast.optimise_model(model, "int8", input_size=SIZE)
    with torch.no_grad():
        ref_lm, _ = model(batch)
        lm, pose = f(batch)
    assert lm.shape == ref_lm.shape and torch.isfinite(lm).all() and torch.isfinite(pose).all()
    # dynamic int8 quantisation of the heads: close to, but not exactly, the float outputs (crop units)
    assert float((lm - ref_lm).abs().max()) < 0.05


def test_unknown_backend_lists_the_choices(model):
    with pytest.raises(ValueError, match="fused"):
        fast.optimise_model(model, "tensorrt", input_size=SIZE)
    with pytest.raises(ValueError, match="onnx"):
        fast.check_backend("gpu")


def test_default_backend_is_available_here():
    assert fast.resolve_default() in fast.available_backends()
    assert fast.DEFAULT_BACKEND in fast.BACKENDS


def _predictor(model, backend=None) -> Predictor:
    p = Predictor(model, CONFIG, None, name="tiny", sha256="-")
    return p if backend is None else fast.accelerate(p, backend)


def _faces(n: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, size=(96 + 8 * i, 120, 3), dtype=np.uint8) for i in range(n)]
    boxes = [np.array([20 + i, 15, 80 + i, 85], np.float32) for i in range(n)]
    return images, boxes


@pytest.mark.parametrize("backend", EXACT + ["int8"])
def test_predictor_outputs_match_float_predictor(model, backend):
    images, boxes = _faces()
    ref = _predictor(model).predict_batch(images, boxes)
    p = _predictor(model, backend)
    assert p.backend == backend and p.float_model is model
    out = p.predict_batch(images, boxes, batch_size=3)
    tol_px = 0.01 if backend != "int8" else 3.0
    for a, b in zip(ref, out):
        np.testing.assert_allclose(b.points, a.points, atol=tol_px)
        np.testing.assert_allclose(b.pose, a.pose, atol=0.01 if backend != "int8" else 2.0)
        np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-3 if backend != "int8" else 0.5)
        np.testing.assert_array_equal(b.box, a.box)


def test_accelerate_twice_starts_from_the_float_model(model):
    p = _predictor(model, "fused")
    fast.accelerate(p, "torch")
    assert p.model is model and p.backend == "torch"


def test_from_checkpoint_backend_option(tmp_path, model):
    from asmnet.model.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "tiny.pt", model, CONFIG)
    images, boxes = _faces(2)
    ref = Predictor.from_checkpoint(path).predict_batch(images, boxes)
    p = Predictor.from_checkpoint(path, backend="fused")
    assert p.backend == "fused"
    q = Predictor.from_checkpoint(path, backend="fast")
    assert q.backend == fast.resolve_default(path) == "onnx"  # no calibrated int8 runtime for this checkpoint
    for a, b in zip(ref, p.predict_batch(images, boxes)):
        np.testing.assert_allclose(b.points, a.points, atol=0.01)
    with pytest.raises(ValueError, match="choose one of"):
        Predictor.from_checkpoint(path, backend="nope")


def _real_checkpoint() -> Path | None:
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    dev = Path(__file__).resolve().parents[3] / "runs" / "asmnet68-cpu" / "best.pt"
    return DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_file() else (dev if dev.is_file() else None)


@pytest.mark.data
def test_real_checkpoint_on_real_faces(aflw_dir):
    """The trained model on 6 AFLW2000-3D test faces: every exact backend within 0.01 px of the float one."""
    ckpt = _real_checkpoint()
    if ckpt is None:
        pytest.skip("no trained checkpoint (asmnet/weights/asmnet68.pt or runs/asmnet68-cpu/best.pt)")
    from asmnet.inference.crop import landmark_box
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.images import load_image

    ds = read_dataset(aflw_dir, "aflw2000", split="test")
    samples = ds.samples[:6]
    images = [load_image(ds.root / s.image) for s in samples]
    boxes = [landmark_box(s.points) for s in samples]
    base = Predictor.from_checkpoint(ckpt)
    ref = base.predict_batch(images, boxes)
    for backend in EXACT:
        p = fast.accelerate(Predictor.from_checkpoint(ckpt), backend)
        for a, b in zip(ref, p.predict_batch(images, boxes)):
            np.testing.assert_allclose(b.points, a.points, atol=0.01, err_msg=backend)
            np.testing.assert_allclose(b.pose, a.pose, atol=0.01, err_msg=backend)
            np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-3, err_msg=backend)


def _tangent_model():
    from asmnet.model.asm import ShapeModel
    from tests.asmnet.conftest import synthetic_shapes

    return ShapeModel.fit(synthetic_shapes(300, seed=3), 0.99), synthetic_shapes(12, seed=4)


def test_accelerate_keeps_the_one_shape_model(model):
    """The shape projection is closed-form in ShapeModel itself: the fast path uses the same model object."""
    sm, _ = _tangent_model()
    p = Predictor(model, CONFIG, sm, name="tiny", sha256="-")
    fast.accelerate(p, "fused")
    assert p.float_shape_model is sm and p.shape_model is sm
    images, boxes = _faces(3)
    ref = Predictor(model, CONFIG, sm, name="tiny", sha256="-").predict_batch(images, boxes)
    for a, b in zip(ref, p.predict_batch(images, boxes)):
        assert b.uncertainty == pytest.approx(a.uncertainty, rel=1e-5, abs=1e-9)
    fast.accelerate(p, "torch")
    assert p.shape_model is sm


def test_auto_backend_is_the_fast_path_on_the_cpu(tmp_path, model):
    from asmnet.model.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "tiny.pt", model, CONFIG)
    p = Predictor.from_checkpoint(path, backend="auto")
    assert p.backend == fast.resolve_default(path)


@pytest.mark.skipif(not fast.onnxruntime_available(), reason="onnxruntime is not installed")
def test_onnx_predictor_matches_float_model_at_batch_1_and_batch_n(tmp_path, model):
    """The onnx path feeds numpy straight to onnxruntime (plain + mirrored as one batch): same outputs."""
    from asmnet.model.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "tiny.pt", model, CONFIG)
    images, boxes = _faces(5)
    ref = Predictor.from_checkpoint(path, flip_tta=True)
    onnx = Predictor.from_checkpoint(path, flip_tta=True, backend="onnx")
    assert hasattr(onnx.model, "run_numpy")
    a = ref.predict_batch(images, boxes, batch_size=3)
    for bs in (1, 5):
        b = onnx.predict_batch(images, boxes, batch_size=bs)
        for x, y in zip(a, b):
            np.testing.assert_allclose(y.points, x.points, atol=1e-3)
            np.testing.assert_allclose(y.pose, x.pose, atol=1e-3)
            np.testing.assert_allclose(y.confidence, x.confidence, atol=1e-3)
            assert y.uncertainty == pytest.approx(x.uncertainty, rel=1e-3, abs=1e-6)
