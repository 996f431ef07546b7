"""The CPU ablation of issue 13: initialisation (random / ImageNet) x ASM loss term (on / off).

Runs come from ``scripts/ablation.sh`` (same budget per run: 30 epochs, 1 thread, batch 32, lr 2e-3, alpha
2,1,0.5,0 or off, AFLW2000-3D train split with its validation tenth; best epoch chosen on validation).
This script evaluates each run's ``best.pt`` once on the AFLW2000-3D **test** split through the predictor
(ground-truth landmark boxes, flip averaging as the run's validation chose), groups the runs by setting,
and writes ``bench/results/ablation.json`` and the markdown table ``bench/ABLATION.md``::

    python -m bench.ablation --runs runs/ab --data ../shared/data/aflw2000-3d
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

FIELDS = (("nme_0_30", "NME 0-30"), ("nme_30_60", "NME 30-60"), ("nme_60_90", "NME 60-90"),
          ("nme_balanced", "balanced NME"), ("failure_rate_10", "FR@10 %"), ("pose_mae", "pose MAE (deg)"))


def _setting(name: str) -> tuple[str, int]:
    """'in_asm_s1' -> ('in_asm', 1)."""
    m = re.fullmatch(r"(.+)_s(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


def evaluate_run(run: Path, ds) -> dict:
    """Metrics of ``run``'s best.pt on the test ``Dataset`` ``ds`` (read once by ``main``)."""
    from asmnet.inference.predictor import Predictor
    from asmnet.training.release import metrics, predict_split

    pr = Predictor.from_checkpoint(run / "best.pt", backend="torch")
    p, q, _, _ = predict_split(pr, ds)
    res = metrics(p, np.stack([s.points for s in ds.samples]), q, np.stack([s.pose for s in ds.samples]),
                  pr.schema.name)
    res["failure_rate_10"] *= 100.0
    card = pr.card
    res.update({"best_epoch": card.get("best", {}).get("epoch"), "epochs": card.get("epochs_trained"),
                "val_nme_balanced": card.get("best", {}).get("nme_balanced"), "flip_tta": pr.flip_tta,
                "init": card.get("initialisation", {}).get("init"), "alpha": card.get("train_config", {}).get("alpha"),
                "input_size": card.get("train_config", {}).get("input_size"),
                "wall_time_s": card.get("wall_time_s")})
    return res


def table(groups: dict[str, list[dict]]) -> str:
    head = "| setting | runs | " + " | ".join(t for _, t in FIELDS) + " | val balanced NME |"
    lines = [head, "|" + " --- |" * (len(FIELDS) + 3)]
    for name, runs in groups.items():
        cells = []
        for key, _ in list(FIELDS) + [("val_nme_balanced", "")]:
            v = np.array([r[key] for r in runs], dtype=np.float64)
            cells.append(f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs/ab")
    ap.add_argument("--data", default="../shared/data/aflw2000-3d")
    ap.add_argument("--out-json", default="bench/results/ablation.json")
    args = ap.parse_args(argv)
    runs = sorted(p for p in Path(args.runs).iterdir() if (p / "done").is_file() and (p / "best.pt").is_file())
    if not runs:
        print(f"{args.runs}: no finished run (scripts/ablation.sh writes them)", file=sys.stderr)
        return 1
    from asmnet_studio.datasets.formats import read_dataset

    ds = read_dataset(args.data, "aflw2000", split="test")
    results = {}
    for run in runs:
        results[run.name] = evaluate_run(run, ds)
        print(run.name, json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                    for k, v in results[run.name].items()}), flush=True)
    groups: dict[str, list[dict]] = {}
    for name, r in results.items():
        groups.setdefault(_setting(name)[0], []).append(r)
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps({"runs": results}, indent=2))
    print(table(groups))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
