"""Helpers shared by the store tests: tiny image files, an AFLW2000-3D subset, the writer process of the
concurrency test (top-level so that ``multiprocessing`` can start it in a fresh interpreter)."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def make_image(path: Path, seed: int, size: tuple[int, int] = (40, 30)) -> Path:
    """Write a small PNG of ``size`` (w, h) whose content depends on ``seed`` (so hashes differ)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def make_aflw_subset(aflw_dir: Path, dest: Path, n: int = 50) -> Path:
    """Copy the first ``n`` image/.mat pairs of AFLW2000-3D (same layout) and its split.csv to ``dest``."""
    src = aflw_dir / "AFLW2000"
    (dest / "AFLW2000").mkdir(parents=True, exist_ok=True)
    for mat in sorted(src.glob("*.mat"))[:n]:
        shutil.copy2(mat, dest / "AFLW2000" / mat.name)
        shutil.copy2(mat.with_suffix(".jpg"), dest / "AFLW2000" / mat.with_suffix(".jpg").name)
    shutil.copy2(aflw_dir / "split.csv", dest / "split.csv")
    return dest


def writer(ws_path: str, worker: int, saves: int, image_ids: list[int]) -> tuple[list, int, int, list[str]]:
    """One writer process: ``saves`` save attempts on random images of the workspace.

    About one attempt in ten is deliberately based on a stale version and must be refused.
    Returns (accepted [(image_id, version, note)], conflicts, stale conflicts, unexpected errors).
    """
    from asmnet_studio.datasets.errors import ConflictError
    from asmnet_studio.datasets.store import Workspace

    rng = random.Random(worker)
    accepted, conflicts, stale_conflicts, errors = [], 0, 0, []
    with Workspace(ws_path) as ws:
        for i in range(saves):
            image_id = rng.choice(image_ids)
            latest = ws.latest(image_id)
            base = None if latest is None else latest.version
            stale = base is not None and base > 1 and rng.random() < 0.1
            if stale:
                base -= 1
            note = f"w{worker}:{i}"
            points = np.full((68, 2), worker * 10_000 + i, dtype=np.float32)
            try:
                a = ws.save_annotation(image_id, points, author=f"w{worker}", base_version=base, note=note)
                if stale:
                    errors.append(f"{note}: a stale base version {base} was accepted")
                accepted.append((image_id, a.version, note))
            except ConflictError:
                conflicts += 1
                stale_conflicts += stale
            except Exception as exc:  # anything else is a failure of the store
                errors.append(f"{note}: {type(exc).__name__}: {exc}")
    return accepted, conflicts, stale_conflicts, errors
