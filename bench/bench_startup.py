"""Start-up and end-to-end latency: the model load, ``asmnet predict`` on 400 faces, and the app in a real browser.

Each figure is a fresh process (``subprocess``), timed from its start, so imports count:

* **model load**: a Python process that loads the shipped model and predicts one face — with the default CPU
  path (``backend="auto"``: the ONNX runtime beside the checkpoint, no torch) and, as the peer, the float
  model (``backend="torch"``: import torch, read the checkpoint; the fast path used to pay this plus an ONNX
  export at every start).
* **``asmnet predict``** on the 400 AFLW2000-3D test faces (ground-truth boxes, CSV out) and on the first 32:
  end-to-end faces/s, and the marginal cost per face ((t400 - t32) / 368: decoding, cropping, network,
  CSV; start-up excluded), beside dlib's per-face time (shape predictor only, no decoding) and the decode
  time per face measured in this run.
* **the app**: ``python3 app.py WS.db`` on a workspace of 40 AFLW2000-3D test pictures already pre-labelled
  (the usual restart) and, separately, on a new workspace that must first be pre-labelled (the first start
  with the sample faces); the port is polled with plain HTTP requests every 50 ms until the page is served (a
  browser polling it with page loads took CPU from the starting app: 17 s vs 7.6 s to "served" on 2 cores), then
  a headless Chromium launched beforehand opens it; "first face shown" =
  the editor's SVG holds 68 landmark circles and its picture has been fetched (resource timing), at an
  animation frame. Then **Next** ("Save and next"): from the click in the page to the next picture's
  landmarks drawn (new ``data-image-id``, circles present, picture fetched, next animation frame), over 30
  clicks.

    python -m bench startup            # or: python bench/bench_startup.py [--clicks 30]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

NAME = "startup"
TITLE = "Start-up and end to end: model load, `asmnet predict` on 400 faces, app start and Next in Chromium"

COLUMNS = [("what", "what"), ("variant", "variant"), ("median", "median"), ("p90", "p90 / range"),
           ("unit", "unit"), ("n", "runs"), ("target", "target"), ("peer", "peer (same run)"), ("ratio", "ratio")]

TARGET_FIRST_FACE_S = 5.0
TARGET_NEXT_MS = 300.0
TARGET_CLI_FPS = 60.0
APP_FACES = 40

LOAD_CODE = """
import time, sys
t0 = time.perf_counter()
import numpy as np
from asmnet.inference.predictor import Predictor
p = Predictor.default(backend={backend!r})
t1 = time.perf_counter()
p.predict(np.zeros((160, 160, 3), np.uint8), (30, 30, 130, 130))
t2 = time.perf_counter()
torch_loaded = 'torch' in sys.modules and sys.modules['torch'] is not None
print(f"RESULT {{t1 - t0:.4f}} {{t2 - t1:.4f}} {{p.backend}} {{torch_loaded}}")
"""

FACE_SHOWN_JS = """() => {
  const svg = document.querySelector('#landmark-editor');
  if (!svg) return false;
  const im = svg.querySelector('image');
  if (!im || svg.querySelectorAll('circle[data-index]').length < 68) return false;
  const url = new URL(im.getAttribute('href'), location.href).href;
  const e = performance.getEntriesByName(url);
  return e.length > 0 && e[e.length - 1].responseEnd > 0;
}"""

NEXT_DRAWN_JS = """old => {
  const svg = document.querySelector('#landmark-editor');
  if (!svg || svg.dataset.imageId === old) return false;
  const im = svg.querySelector('image');
  if (!im || svg.querySelectorAll('circle[data-index]').length < 68) return false;
  const url = new URL(im.getAttribute('href'), location.href).href;
  const e = performance.getEntriesByName(url);
  if (!(e.length > 0 && e[e.length - 1].responseEnd > 0)) return false;
  return performance.now() - window.__nextT0;
}"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(common.REPO), "GRADIO_ANALYTICS_ENABLED": "False",
            "ASMNET_THREADS": str(common.THREADS), "OMP_NUM_THREADS": str(common.THREADS)}


def _model_load(backend: str, repeats: int) -> dict[str, Any]:
    """Wall time of a fresh process to a loaded model (and its first face), ``repeats`` times."""
    walls, loads, firsts = [], [], []
    info = ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", LOAD_CODE.format(backend=backend)], cwd=common.REPO, env=_env(),
                             capture_output=True, text=True, timeout=600)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise RuntimeError(f"model load ({backend}) failed: {out.stderr[-2000:]}")
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
        _, a, b, be, torch_loaded = line.split()
        loads.append(float(a))
        firsts.append(float(b))
        info = f"backend {be}, torch imported: {torch_loaded}"
    return {"wall": walls, "load": loads, "first_face": firsts, "info": info}


def _cli(split_limit: int | None, out_dir: Path, repeats: int) -> list[float]:
    """Wall seconds of ``asmnet predict`` on the AFLW2000-3D test split (or its first ``split_limit`` faces)."""
    root = common.aflw_dir()
    times = []
    for r in range(repeats):
        cmd = [sys.executable, "-m", "asmnet.cli", "predict", "--data", str(root), "--format", "aflw2000", "--split",
               "test", "--out", str(out_dir / f"preds-{split_limit}-{r}.csv"), "--no-progress"]
        if split_limit:
            cmd += ["--limit", str(split_limit)]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=common.REPO, env=_env(), capture_output=True, text=True, timeout=900)
        times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise RuntimeError(f"asmnet predict failed: {out.stderr[-2000:]}")
    return times


def _dlib_and_decode(n: int) -> tuple[float | None, float]:
    """(dlib ms/face on the GT landmark box, decode ms/face) on the first ``n`` test faces."""
    from asmnet.inference.crop import landmark_box
    from asmnet_studio.datasets.images import load_image

    ds, samples = common.load_aflw_test(n)
    t = []
    images = []
    for s in samples:
        t0 = time.perf_counter()
        images.append(load_image(ds.root / s.image))
        t.append(time.perf_counter() - t0)
    decode = float(np.median(t)) * 1e3
    path = common.dlib_model_path()
    try:
        import dlib
    except ImportError:
        return None, decode
    if path is None:
        return None, decode
    sp = dlib.shape_predictor(str(path))
    rects = [dlib.rectangle(*[int(round(v)) for v in landmark_box(s.points)]) for s in samples]
    times = []
    for im, r in zip(images, rects):
        t0 = time.perf_counter()
        shape = sp(im, r)
        np.array([[q.x, q.y] for q in shape.parts()], np.float32)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3, decode


def _cli_accuracy(csv_path: Path) -> dict[str, float]:
    """Balanced / mean NME and pose MAE (``bench.bench_inference``'s evaluation) of an ``asmnet predict`` CSV on the
    AFLW2000-3D test faces it holds."""
    import csv

    from bench.bench_inference import _evaluate

    with open(csv_path, newline="") as fh:
        rows = {r[0]: r for r in csv.reader(fh)}
    _, samples = common.load_aflw_test()
    samples = [s for s in samples if s.image in rows]
    k = len(samples[0].points)
    pts = np.array([[float(v) for v in rows[s.image][1:1 + 2 * k]] for s in samples]).reshape(-1, k, 2)
    pose = np.array([[float(v) for v in rows[s.image][1 + 2 * k:4 + 2 * k]] for s in samples])
    e = _evaluate(pts, pose, samples)
    return {"faces": len(samples), "nme_balanced": float(e["nme_balanced"]), "nme": float(e["nme"]),
            "pose_mae": float(e["pose_mae"])}


def _workspace(db: Path, faces: int) -> None:
    """A workspace of the first ``faces`` AFLW2000-3D test pictures, pre-labelled by the default predictor."""
    import app
    from asmnet_studio.datasets.store import Workspace

    ds, samples = common.load_aflw_test(faces)
    ds.samples = list(samples)
    with Workspace(db) as ws:
        ws.import_dataset(ds, author="bench")
    _, svc = app.create_demo(app.parse_args([str(db), "--author", "bench"]), progress=False)
    svc.store.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_run(browser, argv: list[str], clicks: int, home: Path) -> dict[str, Any]:
    """Start ``app.py`` with ``argv``; seconds to the first face shown; then ``clicks`` Next round trips (ms)."""
    port = _free_port()
    env = {**_env(), "ASMNET_STUDIO_HOME": str(home)}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", *argv, "--port", str(port), "--author", "bench"],
                            cwd=common.REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:  # a cheap HTTP poll (as a user waits for the "Running on" line), then the browser opens the page
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}: {proc.stdout.read()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    r.read(1)
                break
            except OSError:
                time.sleep(0.05)
                if time.perf_counter() - t0 > 300:
                    raise RuntimeError("app.py did not serve within 300 s")
        t_page = time.perf_counter() - t0
        page.goto(url, timeout=60000)
        # room for every picture's timing entry: the browser keeps 250 by default, which ~30 Next clicks fill, and
        # a picture without an entry would never count as shown
        page.evaluate("() => performance.setResourceTimingBufferSize(100000)")
        page.wait_for_function(FACE_SHOWN_JS, timeout=120000)
        t_face = time.perf_counter() - t0
        nexts: list[float] = []
        for _ in range(clicks):
            old = page.get_attribute("#landmark-editor", "data-image-id")
            page.evaluate("() => { window.__nextT0 = performance.now(); document.querySelector('#btn-next').click(); }")
            try:
                ms = page.wait_for_function(NEXT_DRAWN_JS, arg=old, timeout=20000).json_value()
            except Exception:
                break  # the end of the queue
            nexts.append(float(ms))
        return {"first_face_s": t_face, "page_served_s": t_page, "next_ms": nexts}
    finally:
        page.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _stat_row(what: str, variant: str, values: list[float], unit: str, **kw) -> dict[str, Any]:
    a = np.asarray(values, np.float64)
    row = {"what": what, "variant": variant, "median": float(np.median(a)) if a.size else None,
           "p90": (float(np.percentile(a, 90)) if a.size >= 10
                   else (f"{a.min():.3g}–{a.max():.3g}" if a.size else None)),
           "unit": unit, "n": int(a.size), "values": a.tolist()}
    row.update(kw)
    return row


def run(quick: bool = False, clicks: int = 30) -> dict[str, Any]:
    if common.aflw_dir() is None:
        return {"rows": [], "columns": COLUMNS, "notes": [], "skipped": common.missing_data_reason()}
    from asmnet.inference.predictor import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        return {"rows": [], "columns": COLUMNS, "notes": [], "skipped": f"{DEFAULT_CHECKPOINT} is missing"}
    repeats = 1 if quick else 3
    rows: list[dict[str, Any]] = []
    notes: list[str] = []

    # 1. a fresh process to a loaded model
    loads: dict[str, dict[str, Any]] = {}
    for be in ("auto", "torch"):
        loads[be] = _model_load(be, repeats)
    ref = float(np.median(loads["torch"]["wall"]))
    for be, label in (("auto", "default CPU path (ONNX runtime file, no torch)"), ("torch", "float model (torch)")):
        r = loads[be]
        rows.append(_stat_row("process start to model loaded + 1 face", f"{label}; {r['info']}", r["wall"], "s",
                              peer=f"torch: {ref:.2f} s", ratio=float(np.median(r["wall"])) / ref))
    notes.append("Model load: `Predictor.default(backend=...)` in a fresh `python -c` (interpreter start, imports, "
                 "checkpoint sha256, runtime or checkpoint load, one face), wall time of the whole process.")

    # 2. asmnet predict end to end and its marginal cost per face
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        n_small = 8 if quick else 32
        n_all = 40 if quick else len(common.load_aflw_test()[1])
        # interleaved: each repeat times the 400-face run, the 32-face run and dlib in turn, so the ratio compares
        # figures taken under the same conditions (this VM's speed drifts by 15-20 % within minutes)
        t_all, t_small, dlibs, decodes = [], [], [], []
        for _ in range(max(repeats, 5) if not quick else 1):
            t_all += _cli(n_all, tmp, 1)
            t_small += _cli(n_small, tmp, 1)
            d, dec = _dlib_and_decode(100 if not quick else 8)
            decodes.append(dec)
            if d is not None:
                dlibs.append(d)
        marginal_ms = (float(np.median(t_all)) - float(np.median(t_small))) / (n_all - n_small) * 1e3
        per_repeat = [(a - b) / (n_all - n_small) * 1e3 for a, b in zip(t_all, t_small)]
        dlib_ms = float(np.median(dlibs)) if dlibs else None
        decode_ms = float(np.median(decodes))
        cli_nme = _cli_accuracy(tmp / f"preds-{n_all}-0.csv")
        fps = n_all / float(np.median(t_all))
        rows.append(_stat_row(f"`asmnet predict`, {n_all} faces end to end", "faces/s (from the median wall time)",
                              [n_all / t for t in t_all], "faces/s", target=f">= {TARGET_CLI_FPS:g}",
                              met=fps >= TARGET_CLI_FPS))
        rows.append(_stat_row(f"`asmnet predict`, {n_all} faces end to end", "wall time", t_all, "s"))
        rows.append(_stat_row(f"`asmnet predict`, first {n_small} faces", "wall time (≈ start-up)", t_small, "s"))
        rows.append({"what": "`asmnet predict` marginal cost per face (start-up excluded)",
                     "variant": f"(t{n_all} − t{n_small}) / {n_all - n_small}: decode + crop + network + CSV",
                     "median": marginal_ms, "unit": "ms/face", "n": len(t_all),
                     "peer": None if dlib_ms is None else f"dlib ERT 68: {dlib_ms:.2f} ms/face (no decode); decode "
                                                          f"alone {decode_ms:.2f} ms/face",
                     "ratio": None if dlib_ms is None else marginal_ms / dlib_ms,
                     "per_repeat_ratios": None if not dlibs else [m / d for m, d in zip(per_repeat, dlibs)],
                     "dlib_ms_per_repeat": dlibs, "cli_accuracy": cli_nme,
                     "marginal_minus_decode_ms": marginal_ms - decode_ms, "dlib_ms": dlib_ms, "decode_ms": decode_ms})
        notes.append(f"`asmnet predict --data aflw2000-3d --split test` (GT boxes, batch 32, CSV), median of "
                     f"{len(t_all)} runs each, interleaved with dlib's; marginal cost = difference of the 400-face and "
                     f"the 32-face "
                     f"runs. Accuracy of the CLI's own output ({cli_nme['faces']} test faces): balanced NME "
                     f"{cli_nme['nme_balanced']:.3f}, mean {cli_nme['nme']:.3f}, pose MAE {cli_nme['pose_mae']:.2f}. "
                     f"dlib's figure is "
                     f"the shape predictor call alone on decoded images (as in `bench inference`); the CLI's includes "
                     f"decoding each JPEG (decode alone: {decode_ms:.2f} ms/face; each worker, one per CPU, decodes "
                     f"and predicts its own batches).")

        # 3. the app in a real browser
        chromium = os.environ.get("ASMNET_CHROMIUM", "/usr/bin/chromium")
        if not Path(chromium).exists() and not shutil.which(chromium):
            notes.append(f"Chromium not found at {chromium}: no app rows (apt-get install chromium).")
        else:
            from playwright.sync_api import sync_playwright

            from tests.e2e.conftest import CHROMIUM_ARGS

            db = tmp / "ws.db"
            _workspace(db, 8 if quick else APP_FACES)
            firsts, served, nexts, fresh = [], [], [], []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    for r in range(repeats):
                        res = _app_run(browser, [str(db)], clicks if r == 0 else 0, tmp / "home")
                        firsts.append(res["first_face_s"])
                        served.append(res["page_served_s"])
                        nexts += res["next_ms"]
                    res = _app_run(browser, [], 0, tmp / "home-new")  # a new default workspace: pre-labels first
                    fresh.append(res["first_face_s"])
                finally:
                    browser.close()
            rows.append(_stat_row("`python3 app.py WS.db` to the first face shown (Chromium)",
                                  f"workspace of {8 if quick else APP_FACES} pre-labelled pictures", firsts, "s",
                                  target=f"<= {TARGET_FIRST_FACE_S:g}",
                                  met=float(np.median(firsts)) <= TARGET_FIRST_FACE_S))
            rows.append(_stat_row("`python3 app.py WS.db` to the page served", "(part of the row above)", served, "s"))
            rows.append(_stat_row("`python3 app.py` first start (new sample workspace, pre-labelled at start)",
                                  "to the first face shown", fresh, "s"))
            rows.append(_stat_row("Next (save and next) click to the next face drawn", "in the page, to the animation "
                                  "frame after the picture is fetched and 68 points drawn", nexts, "ms",
                                  target=f"<= {TARGET_NEXT_MS:g}",
                                  met=bool(nexts) and float(np.median(nexts)) <= TARGET_NEXT_MS))
            notes.append("App: subprocess `python3 app.py` on 127.0.0.1 (GRADIO_ANALYTICS_ENABLED=False); Chromium "
                         "(headless, launched before the clock starts) opens the page once a plain HTTP poll (every 50 ms) "
                         "finds it served; 'first face shown' waits for 68 circles and the picture's resource-timing entry.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rows": rows, "columns": COLUMNS, "notes": notes,
            "targets": {"first_face_s": TARGET_FIRST_FACE_S, "next_ms": TARGET_NEXT_MS, "cli_fps": TARGET_CLI_FPS}}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clicks", type=int, default=30)
    args = ap.parse_args(argv)
    res = run(args.quick, args.clicks)
    print(json.dumps(common._jsonable(res), indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
