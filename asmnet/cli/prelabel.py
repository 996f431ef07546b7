"""``asmnet prelabel WS.db [--model-id ID | --checkpoint PATH] [--only-not-done]``: store new predictions
for a workspace's images with a model version, keeping every point a person placed
(see ``asmnet.inference.workspace_prelabel``).

Without ``--model-id`` / ``--checkpoint`` the latest registered model version is used (e.g. the one
``asmnet train --from-workspace`` just registered), else the shipped checkpoint. A ``--checkpoint`` that is
not registered yet is registered first, so every stored prediction names its model version.
"""
from __future__ import annotations

import argparse
import json
import sys

HELP = "re-pre-label a workspace with a model version (keeps hand-placed points; per-face uncertainty for the queue)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", metavar="WS.db", help="workspace file")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model-id", type=int, default=None, help="a registered model version (Workspace.models())")
    which.add_argument("--checkpoint", default=None, help="a checkpoint file (registered when it is not yet)")
    parser.add_argument("--only-not-done", action="store_true", help="skip images whose status is done or reviewed")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--stiffness", type=float, default=1.0,
                        help="how fully the other points follow the shape model around hand-placed ones (0..1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from asmnet_studio.datasets.store import Workspace

    from asmnet.inference.workspace_prelabel import repredict_workspace, workspace_predictor

    if not 0.0 <= args.stiffness <= 1.0:
        raise ValueError(f"--stiffness must be in [0, 1], found {args.stiffness}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, found {args.batch_size}")
    with Workspace(args.workspace, create=False) as ws:
        predictor, model_id = workspace_predictor(ws, model_id=args.model_id, checkpoint=args.checkpoint,
                                                  device=args.device)
        bar, close = None, (lambda: None)
        if not args.no_progress:
            from tqdm import tqdm

            tq = tqdm(total=0, unit="img", desc="prelabel", file=sys.stderr, leave=False, disable=None)

            def bar(done: int, total: int) -> None:
                tq.total = total
                tq.update(done - tq.n)

            close = tq.close
        try:
            report = repredict_workspace(ws, predictor, model_id, only_not_done=args.only_not_done,
                                        batch_size=args.batch_size, stiffness=args.stiffness, progress=bar)
        finally:
            close()
    print(report.summary(), file=sys.stderr)
    for image_id, reason in report.skipped[:20]:
        print(f"  skipped image {image_id}: {reason}", file=sys.stderr)
    print(json.dumps({"model_id": report.model_id, "model": predictor.name, "predicted": report.predicted,
                      "pinned_images": report.pinned_images, "pinned_points": report.pinned_points,
                      "skipped": len(report.skipped)}))
    return 0
