"""The torch-free inference runtime (asmnet.inference.runtime): the shipped ONNX graph + sidecar match the shipped
checkpoint, the ONNX backends run in a process where ``import torch`` fails, a runtime is built once per
checkpoint (keyed by its sha256) and then loaded without torch, and stale or tampered files are refused.
No timing here (``python -m bench inference`` / ``python -m bench startup``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from asmnet.inference import runtime
from asmnet.model.checkpoint import load_checkpoint, load_shape_model, save_checkpoint
from asmnet.model.network import create_model
from asmnet.inference.predictor import DEFAULT_CHECKPOINT, Predictor

REPO = Path(__file__).resolve().parents[3]
SIZE = 64
CONFIG = {"model": "asmnet_tiny", "num_points": 68, "input_size": SIZE, "crop_margin": 1.3, "schema": "ibug68"}
#: a Python prelude that makes ``import torch`` fail (sys.modules[name] = None raises ImportError on import)
NO_TORCH = "import sys; sys.modules['torch'] = None\n"

pytestmark = pytest.mark.skipif(not runtime.onnxruntime_available(), reason="onnxruntime is not installed")


def _run_without_torch(code: str, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run ``code`` in a fresh interpreter where torch cannot be imported; its stdout (fails on a non-zero exit)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    out = subprocess.run([sys.executable, "-c", NO_TORCH + code], cwd=REPO, env=full_env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr[-4000:]}"
    return out.stdout


def _tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    m = create_model("asmnet_tiny").eval()
    with torch.no_grad():
        for head in (m.landmarks, m.pose):
            head.weight.normal_(std=0.05)
    from tests.asmnet.conftest import synthetic_shapes
    from asmnet.model.asm import ShapeModel

    sm = ShapeModel.fit(synthetic_shapes(120, seed=seed), 0.99)
    return save_checkpoint(path, m, CONFIG, shape_model=sm, card={"name": "tiny", "flip_tta": True})


def _faces(n: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, size=(100 + 6 * i, 120, 3), dtype=np.uint8) for i in range(n)]
    boxes = [np.array([20 + i, 15, 80 + i, 85], np.float32) for i in range(n)]
    return images, boxes


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("ASMNET_CACHE_DIR", str(d))
    return d


# ---------------------------------------------------------------------------- the shipped files
def _shipped_sidecars() -> list[Path]:
    return [runtime.release_paths(DEFAULT_CHECKPOINT, b)[0] for b in runtime.ORT_BACKENDS
            if runtime.release_paths(DEFAULT_CHECKPOINT, b)[0].is_file()]


def test_shipped_runtime_matches_the_shipped_checkpoint():
    """Fails when asmnet68.pt was replaced without re-running `asmnet runtime` (or the graph was changed)."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    sidecars = _shipped_sidecars()
    assert len(sidecars) == 1, f"exactly one runtime must ship beside {DEFAULT_CHECKPOINT.name}, found {sidecars}"
    sha = runtime.file_sha256(DEFAULT_CHECKPOINT)
    rt = runtime.load_runtime(sidecars[0], sha256=sha)  # raises when the sha256 of the checkpoint or graph differs
    obj = load_checkpoint(DEFAULT_CHECKPOINT)
    assert rt.config == obj["config"]
    assert rt.card == json.loads(json.dumps(obj["card"], default=str))
    sm = load_shape_model(obj)
    np.testing.assert_array_equal(rt.shape_model.mean, sm.mean)
    np.testing.assert_array_equal(rt.shape_model.components, sm.components)
    np.testing.assert_array_equal(rt.shape_model.eigenvalues, sm.eigenvalues)
    assert runtime.preferred_backend(DEFAULT_CHECKPOINT) == rt.backend
    if rt.backend == "onnx-int8":  # shipped only when it passed the validation check
        v = rt.meta["validation"]
        assert v["accepted"] and abs(v["delta_nme_balanced"]) <= v["tolerance"]
        assert rt.meta["quantisation"]["calibration"]["part"].startswith("training")


def test_shipped_checkpoint_float_runtime_is_the_float_model(cache):
    """The shipped checkpoint's float graph (``--backend onnx``: the shipped file where the release has one, else
    built once into the cache) computes the checkpoint's function exactly (up to float rounding), on any input."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    fast = Predictor.default(backend="onnx")
    assert fast.backend == "onnx" and fast.float_model is None
    images, _ = _faces(4)
    boxes = [np.array([10, 10, 90, 95], np.float32)] * 4
    ref = Predictor.from_checkpoint(DEFAULT_CHECKPOINT, backend="torch").predict_batch(images, boxes)
    for a, b in zip(ref, fast.predict_batch(images, boxes)):
        np.testing.assert_allclose(b.points, a.points, atol=0.01)
        np.testing.assert_allclose(b.pose, a.pose, atol=0.01)


def test_shipped_int8_runtime_stays_close_to_the_float_model_on_real_faces(aflw_dir):
    """A shipped int8 graph moves the points of real faces (AFLW2000-3D test, ground-truth boxes) by a fraction of
    the float model's own error (~3 % of the face size): per face at most 1 % of the face size on average and
    3 % for any point; pose within 2 degrees."""
    if not DEFAULT_CHECKPOINT.is_file() or not _shipped_sidecars():
        pytest.skip("no shipped checkpoint / runtime")
    fast = Predictor.default(backend="fast")
    if fast.backend != "onnx-int8":
        pytest.skip(f"the shipped runtime is {fast.backend}, not int8 (the float graph is checked above)")
    from asmnet.inference.crop import landmark_box
    from asmnet_studio.datasets.formats import read_dataset
    from asmnet_studio.datasets.images import load_image

    samples = read_dataset(aflw_dir, "aflw2000", split="test").samples[:12]
    images = [load_image(aflw_dir / s.image) for s in samples]
    boxes = [landmark_box(s.points) for s in samples]
    ref = Predictor.from_checkpoint(DEFAULT_CHECKPOINT, backend="torch").predict_batch(images, boxes)
    for i, (a, b, box) in enumerate(zip(ref, fast.predict_batch(images, boxes), boxes)):
        size = float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))
        moved = np.linalg.norm(b.points - a.points, axis=1) / size
        assert moved.mean() <= 0.01 and moved.max() <= 0.03, (i, moved.mean(), moved.max())
        np.testing.assert_allclose(b.pose, a.pose, atol=2.0)


def test_a_batch_larger_than_one_call_gives_the_same_outputs_as_single_inputs():
    """``OrtModel.run_numpy`` runs big batches in slices of ``CROPS_PER_CALL``: 2.5 slices' worth of inputs (the
    last slice partial) give, input by input, what each input gives alone (the shipped runtime)."""
    if not DEFAULT_CHECKPOINT.is_file() or not _shipped_sidecars():
        pytest.skip("no shipped checkpoint / runtime")
    model = Predictor.default(backend="fast").model
    n = runtime.CROPS_PER_CALL * 5 // 2
    x = np.random.default_rng(3).random((n, 3, 128, 128), dtype=np.float32)
    calls = []
    session = model.session

    class Counting:  # onnxruntime's session, counting its calls and their batch sizes
        def run(self, names, feed):
            calls.append(len(feed["image"]))
            return session.run(names, feed)

    model.session = Counting()
    lm, pose = model.run_numpy(x)
    model.session = session
    assert calls == [runtime.CROPS_PER_CALL, runtime.CROPS_PER_CALL, n - 2 * runtime.CROPS_PER_CALL]
    assert lm.shape == (n, 68, 2) and pose.shape == (n, 3)
    for i in (0, runtime.CROPS_PER_CALL - 1, runtime.CROPS_PER_CALL, n - 1):
        one_lm, one_pose = model.run_numpy(x[i:i + 1])
        np.testing.assert_allclose(lm[i], one_lm[0], atol=1e-5)
        np.testing.assert_allclose(pose[i], one_pose[0], atol=1e-5)


def test_onnx_backend_runs_without_torch(tmp_path):
    """The app's and `asmnet predict`'s model loading and prediction, in a process where torch is unavailable."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint")
    import cv2

    from tests.asmnet.conftest import synthetic_face_image, synthetic_shapes

    pts = synthetic_shapes(2, seed=5)[:, :, :] * 0.5 + 40
    data = tmp_path / "faces"
    data.mkdir()
    for i, p in enumerate(pts):
        cv2.imwrite(str(data / f"face{i}.png"), synthetic_face_image(p, 220, seed=i)[:, :, ::-1])
        (data / f"face{i}.pts").write_text("version: 1\nn_points: 68\n{\n" +
                                           "".join(f"{x + 1:.3f} {y + 1:.3f}\n" for x, y in p) + "}\n")
    out_csv = tmp_path / "preds.csv"
    code = f"""
import numpy as np
import app
from asmnet.inference.predictor import Predictor
p, ckpt = app.load_model(None)
assert p.backend in ('onnx', 'onnx-int8'), p.backend
r = p.predict(np.zeros((120, 120, 3), np.uint8), (20, 20, 100, 100))
assert r.points.shape == (68, 2) and np.isfinite(r.points).all() and 0 <= r.confidence.min() <= 1
assert np.isfinite(r.uncertainty) and r.extras['mahalanobis'] is not None
from asmnet.cli import main
rc = main(['predict', '--data', {str(data)!r}, '--format', 'pts', '--out', {str(out_csv)!r},
           '--no-progress', '--extra'])
assert rc == 0
assert sys.modules.get('torch') is None, 'torch was imported'
print('backend', p.backend)
"""
    out = _run_without_torch(code)
    assert "backend onnx" in out
    rows = out_csv.read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("image,x0,y0")


# ---------------------------------------------------------------------------- built once, then torch-free
def test_runtime_is_built_once_into_the_cache_then_loaded_without_torch(tmp_path, cache):
    ckpt = _tiny_checkpoint(tmp_path / "tiny.pt")
    images, boxes = _faces(3)
    ref = Predictor.from_checkpoint(ckpt, backend="torch").predict_batch(images, boxes)
    p = Predictor.from_checkpoint(ckpt, backend="fast")  # no int8 runtime for it: the float onnx one, built now
    assert p.backend == "onnx" and p.float_model is None
    sha = runtime.file_sha256(ckpt)
    sidecar, graph = runtime.cache_paths(sha, "onnx")
    assert p.runtime == sidecar and sidecar.is_file() and graph.is_file()
    before = graph.stat().st_mtime_ns
    got = p.predict_batch(images, boxes, batch_size=2)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b.points, a.points, atol=1e-3)
        np.testing.assert_allclose(b.pose, a.pose, atol=1e-3)
        np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-3)
        assert b.uncertainty == pytest.approx(a.uncertainty, rel=1e-3, abs=1e-6)
    np.save(tmp_path / "images.npy", np.stack([im[:100] for im in images]))
    code = f"""
import numpy as np
from asmnet.inference.predictor import Predictor
p = Predictor.from_checkpoint({str(ckpt)!r}, backend='auto')
ims = list(np.load({str(tmp_path / 'images.npy')!r}))
boxes = {[b.tolist() for b in boxes]!r}
np.save({str(tmp_path / 'pts.npy')!r}, np.stack([r.points for r in p.predict_batch(ims, boxes)]))
print(p.backend, p.name, p.shape_model.num_components)
"""
    out = _run_without_torch(code, env={"ASMNET_CACHE_DIR": str(cache)})
    assert out.split()[:2] == ["onnx", "tiny"]
    assert graph.stat().st_mtime_ns == before  # loaded, not rebuilt
    again = Predictor(p.model, p.config, p.shape_model, name="x", sha256=sha, flip_tta=True)
    expect = np.stack([r.points for r in again.predict_batch([im[:100] for im in images], boxes)])
    np.testing.assert_allclose(np.load(tmp_path / "pts.npy"), expect, atol=1e-4)


def test_a_new_checkpoint_never_uses_the_old_runtime(tmp_path, cache):
    """Same file name, other weights: the sidecar beside it (the old model's) is ignored and a new one is keyed."""
    ckpt = _tiny_checkpoint(tmp_path / "m.pt", seed=0)
    from asmnet.inference.fast import build_runtime

    old = build_runtime(ckpt, "onnx", release=True)
    _tiny_checkpoint(ckpt, seed=1)  # replaced in place
    sha = runtime.file_sha256(ckpt)
    assert runtime.find_runtime(ckpt, "onnx", sha) is None
    with pytest.raises(runtime.RuntimeFileError, match="another checkpoint"):
        runtime.load_runtime(old, sha256=sha)
    p = Predictor.from_checkpoint(ckpt, backend="onnx")
    assert p.runtime == runtime.cache_paths(sha, "onnx")[0]
    ref = Predictor.from_checkpoint(ckpt, backend="torch")
    images, boxes = _faces(2)
    for a, b in zip(ref.predict_batch(images, boxes), p.predict_batch(images, boxes)):
        np.testing.assert_allclose(b.points, a.points, atol=1e-3)


def test_tampered_or_foreign_files_are_refused_naming_the_file(tmp_path, cache):
    ckpt = _tiny_checkpoint(tmp_path / "m.pt")
    from asmnet.inference.fast import build_runtime

    sidecar = build_runtime(ckpt, "onnx", release=True)
    sha = runtime.file_sha256(ckpt)
    graph = sidecar.with_name(json.loads(sidecar.read_text())["onnx"]["file"])
    good = graph.read_bytes()
    graph.write_bytes(good[:-10])
    with pytest.raises(runtime.RuntimeFileError, match=graph.name + ".*does not match the sha256"):
        runtime.load_runtime(sidecar, sha256=sha)
    graph.unlink()
    with pytest.raises(runtime.RuntimeFileError, match="missing"):
        runtime.load_runtime(sidecar, sha256=sha)
    graph.write_bytes(good)
    runtime.load_runtime(sidecar, sha256=sha)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(runtime.RuntimeFileError, match="bad.json: not a readable runtime sidecar"):
        runtime.read_sidecar(bad)
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(runtime.RuntimeFileError, match="format tag"):
        runtime.read_sidecar(bad)
    doc = json.loads(sidecar.read_text())
    doc["version"] = 99
    bad.write_text(json.dumps(doc))
    with pytest.raises(runtime.RuntimeFileError, match="newer"):
        runtime.read_sidecar(bad)


def test_int8_runtime_needs_calibration_and_stays_close(tmp_path, cache):
    ckpt = _tiny_checkpoint(tmp_path / "m.pt")
    from asmnet.inference.fast import build_runtime

    with pytest.raises(ValueError, match="calibration"):
        build_runtime(ckpt, "onnx-int8", release=True)
    with pytest.raises(ValueError, match="no calibrated"):
        Predictor.from_checkpoint(ckpt, backend="onnx-int8")
    assert runtime.preferred_backend(ckpt) == "onnx"
    rng = np.random.default_rng(0)
    cal = rng.random((24, 3, SIZE, SIZE), dtype=np.float32)
    sidecar = build_runtime(ckpt, "onnx-int8", release=True, calibration=cal)
    assert sidecar.name == "m.int8.json" and json.loads(sidecar.read_text())["quantisation"]["per_channel"]
    assert runtime.preferred_backend(ckpt) == "onnx-int8"
    q = Predictor.from_checkpoint(ckpt, backend="fast")
    assert q.backend == "onnx-int8"
    f = Predictor.from_checkpoint(ckpt, backend="onnx")
    x = rng.random((6, 3, SIZE, SIZE), dtype=np.float32)
    (lq, pq), (lf, pf) = q.model.run_numpy(x), f.model.run_numpy(x)
    assert np.isfinite(lq).all() and lq.shape == lf.shape
    assert 0 < np.abs(lq - lf).max() < 0.1  # lossy, but close (normalised crop units)


def test_runtime_cli_writes_and_checks(tmp_path, cache, capsys):
    from asmnet.cli import main

    ckpt = _tiny_checkpoint(tmp_path / "m.pt")
    assert main(["runtime", "--checkpoint", str(ckpt), "--check"]) == 1
    assert main(["runtime", "--checkpoint", str(ckpt), "--backend", "onnx"]) == 0
    assert (tmp_path / "m.fp32.json").is_file() and (tmp_path / "m.fp32.onnx").is_file()
    assert main(["runtime", "--checkpoint", str(ckpt), "--check"]) == 0
    _tiny_checkpoint(ckpt, seed=3)
    assert main(["runtime", "--checkpoint", str(ckpt), "--check"]) == 1
    assert "another checkpoint" in capsys.readouterr().err
    # int8 needs the checkpoint's training data: a clear error when its card names none
    assert main(["runtime", "--checkpoint", str(ckpt)]) == 1
    assert "--data" in capsys.readouterr().err


# ---------------------------------------------------------------------------- vectorised post-processing
def test_batched_uncertainty_equals_the_per_face_definition(synthetic_model):
    from asmnet.inference.uncertainty import face_uncertainty
    from tests.asmnet.conftest import synthetic_shapes

    m = create_model("asmnet_tiny").eval()
    p = Predictor(m, CONFIG, synthetic_model, name="t", sha256="-")
    pts = synthetic_shapes(7, seed=9)
    dis = np.random.default_rng(2).random((7, 68)) * 0.05
    u, maha = p._uncertainties(pts, dis)
    for j in range(7):
        ref_m = synthetic_model.mahalanobis(pts[j])
        assert maha[j] == pytest.approx(ref_m, rel=1e-9)
        assert u[j] == pytest.approx(face_uncertainty(dis[j], ref_m, 68), rel=1e-9)
    none = Predictor(m, CONFIG, None, name="t", sha256="-")
    u0, m0 = none._uncertainties(pts, dis)
    assert m0 is None and np.allclose(u0, dis.mean(1))


def test_int8_graph_leaves_the_first_convolution_and_the_heads_in_float(tmp_path):
    """quantise_shipped quantises every convolution but the first (it sees the raw image) and leaves the linear
    heads float: those nodes keep their float op and float weights; the other convolutions read int8 weights."""
    import onnx

    from asmnet.inference.fast import export_onnx, float_nodes, fuse_model, quantise_shipped

    ckpt = _tiny_checkpoint(tmp_path / "m.pt")
    model = Predictor.from_checkpoint(ckpt, backend="torch").model
    graph = export_onnx(fuse_model(model), SIZE)
    keep = float_nodes(graph)
    nodes = onnx.load_from_string(graph).graph.node
    assert keep[0] == next(n.name for n in nodes if n.op_type == "Conv")
    assert sorted(n.op_type for n in nodes if n.name in keep) == ["Conv", "Gemm", "Gemm"]
    cal = np.random.default_rng(1).random((16, 3, SIZE, SIZE), dtype=np.float32)
    q = onnx.load_from_string(quantise_shipped(graph, cal))
    by_name = {n.name: n for n in q.graph.node}
    produced_by = {o: n for n in q.graph.node for o in n.output}
    float_weights = {i.name for i in q.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    for name in keep:  # weight input straight from a float initializer, not from a DequantizeLinear
        assert by_name[name].input[1] in float_weights, name
    others = [n for n in q.graph.node if n.op_type == "Conv" and n.name not in keep]
    assert others and all(produced_by[n.input[1]].op_type == "DequantizeLinear" for n in others)
    with pytest.raises(ValueError, match="Gemm"):
        float_nodes(onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], [])).SerializeToString())
