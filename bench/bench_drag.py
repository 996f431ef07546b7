"""Benchmark (not a test) of the editor's drag round trip, measured inside the page.

For each of N drags (default 60) the page records ``performance.now()`` at pointer-up (set by the
editor's own handler, just before it calls ``trigger('drag_end', ...)``) and again when a
MutationObserver sees the SVG's ``data-version`` change, i.e. when the refitted points are in the DOM;
it also records the next animation frame after that (the points on screen). The app runs in-process on
a temporary copy of the sample workspace, with the shipped model (or the synthetic stand-in when no
checkpoint is present) and the shape constraint on.

    python bench/bench_drag.py [--drags 60] [--out bench/results/drag.json]

Prints median / p90 and writes JSON. Target: median <= 60 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

OBSERVE_JS = """() => {
  window.__lmTimes = [];
  const root = document.querySelector('#landmark-editor-root') || document.body;
  let last = document.querySelector('#landmark-editor').dataset.version;
  new MutationObserver(() => {
    const s = document.querySelector('#landmark-editor');
    if (!s || s.dataset.version === last) return;
    last = s.dataset.version;
    const t = performance.now(), up = window.__lmPointerUp;
    if (up === undefined) return;
    window.__lmPointerUp = undefined;
    requestAnimationFrame(() => window.__lmTimes.push({dom: t - up, frame: performance.now() - up}));
  }).observe(root, {attributes: true, subtree: true, childList: true, attributeFilter: ['data-version']});
}"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drags", type=int, default=60)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "drag.json"))
    ap.add_argument("--weights", default=None, help="checkpoint (default: the shipped one, else the test stand-in)")
    args = ap.parse_args(argv)

    import app
    from asmnet_studio.annotator import samples
    from asmnet_studio.annotator.ui import launch_options
    from asmnet_studio.datasets.store import Workspace
    from playwright.sync_api import sync_playwright
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, e2e_predictor, free_port

    load0 = round(os.getloadavg()[0], 2)
    tmp = Path(tempfile.mkdtemp(prefix="bench-drag-"))
    db = tmp / "bench.db"
    with Workspace(db) as ws:
        samples.add_bundled_faces(ws)
    if args.weights:
        from asmnet.inference.predictor import Predictor

        predictor = Predictor.from_checkpoint(args.weights)
    else:
        predictor = e2e_predictor()
    demo, svc = app.create_demo(app.parse_args([str(db), "--author", "bench"]), predictor=predictor, progress=False)
    from asmnet_studio.annotator.handlers import edit as handlers   # on_drag looks _on_drag up here

    server_ms: list[float] = []
    inner = handlers._on_drag

    def timed(*a, **k):   # the Python side of a drag: constrained refit + SVG render + plausibility
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            server_ms.append((time.perf_counter() - t) * 1000)

    handlers._on_drag = timed
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    rng = np.random.default_rng(0)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#landmark-editor circle[data-index]", timeout=30000)
            page.evaluate(OBSERVE_JS)
            for n in range(args.drags):
                i = int(rng.integers(0, 68))
                box = page.locator(f'#landmark-editor circle[data-index="{i}"]').bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                dx, dy = rng.choice([-1, 1], 2) * rng.uniform(3, 8, 2)   # > 2 px: a drag, not a click
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + dx, y + dy, steps=8)
                page.mouse.up()
                page.wait_for_function("n => window.__lmTimes.length > n", arg=n, timeout=10000)
                if n % 10 == 9:   # keep the face from drifting far: reset every 10 drags
                    old = page.get_attribute("#landmark-editor", "data-version")
                    page.click("#btn-reset")
                    page.wait_for_function("v => document.querySelector('#landmark-editor').dataset.version !== v",
                                           arg=old, timeout=10000)
            times = page.evaluate("() => window.__lmTimes")
            browser.close()
    finally:
        handlers._on_drag = inner
        demo.close()
        svc.store.close()
    dom = np.array([t["dom"] for t in times])
    frame = np.array([t["frame"] for t in times])
    result = {
        "what": "pointer-up to redrawn points in the page (MutationObserver on data-version), ms",
        "drags": len(dom), "median_ms": float(np.median(dom)), "p90_ms": float(np.percentile(dom, 90)),
        "mean_ms": float(dom.mean()), "max_ms": float(dom.max()),
        "server_handler_median_ms": float(np.median(server_ms)) if server_ms else None,
        "server_handler_p90_ms": float(np.percentile(server_ms, 90)) if server_ms else None,
        "to_next_frame_median_ms": float(np.median(frame)), "to_next_frame_p90_ms": float(np.percentile(frame, 90)),
        "target_median_ms": 60, "predictor": getattr(predictor, "name", type(predictor).__name__),
        "shape_constraint": 1.0, "machine": f"{platform.machine()} {platform.processor() or ''} "
                                            f"{os.cpu_count()} CPUs".strip(),
        "load_average_1min_before_after": [load0, round(os.getloadavg()[0], 2)],
        "python": platform.python_version(), "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"drag round trip over {len(dom)} drags: median {result['median_ms']:.1f} ms, "
          f"p90 {result['p90_ms']:.1f} ms (to next frame: median {result['to_next_frame_median_ms']:.1f} ms; "
          f"Python handler: median {result['server_handler_median_ms']:.1f} ms); load average "
          f"{result['load_average_1min_before_after']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
