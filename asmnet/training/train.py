"""Training loop: CPU or CUDA, bf16 autocast on GPU, checkpoints, resume, fixed seed, JSONL log,
validation on a held-out part of the training split, multi-process data parallel through torchrun.

Usage (library)::

    cfg = TrainConfig(data="../shared/data/aflw2000-3d", format="aflw2000", out="runs/asmnet68")
    result = train(cfg)          # -> TrainResult(best_checkpoint, last_checkpoint, log, best)

The settings (``asmnet.training.train_config.TrainConfig``) are the flags of ``asmnet train``. Under
``torchrun --nproc_per_node N asmnet train ...`` each process trains on its own shard of every epoch
(DistributedDataParallel; gloo on CPU, nccl on CUDA); rank 0 validates, logs and writes the checkpoints.

``train`` is a short loop over small steps: ``asmnet.training.train_setup`` (``start_process``: device, seeds;
``setup_run``: data, shape model, loss, network, optimiser), ``_resume``, then per epoch ``_train_epoch``,
``_validate``, ``_fit_time_budget`` and ``_save_epoch`` (best.pt, log line, last.pt).

Outputs in ``out``: ``best.pt`` (best validation balanced NME; inference checkpoint with the shape model
and a card), ``last.pt`` (resumable), ``shape_model.npz``, ``log.jsonl`` (one JSON object per epoch),
``config.json``.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asmnet.model.asm import ShapeModel
from asmnet.model.checkpoint import load_checkpoint, numpy_rng_state, restore_numpy_rng, save_checkpoint
from asmnet.training.data import FaceArrays, color_jitter, make_batch
from asmnet.model.network import count_parameters
from asmnet.training.train_config import TrainConfig
from asmnet.training.train_setup import RunSetup, setup_run, start_process, wrap_for_processes
from asmnet_studio.datasets.schemas import LandmarkSchema, get_schema
from asmnet_studio.evaluation import metrics, pose as pose_metrics


@dataclass
class TrainResult:
    """Where a run wrote its checkpoints and log, and its best validation record (``best.pt``'s card ``best``)."""

    best_checkpoint: Path
    last_checkpoint: Path
    log: Path
    best: dict[str, Any]


# ---------------------------------------------------------------------------- evaluation helpers
def flip_points_normalised(points: torch.Tensor, perm: np.ndarray) -> torch.Tensor:
    """Mirror (B, K, 2) normalised crop coordinates (x -> -x) and swap left/right partners."""
    out = points.clone()
    out[..., 0] = -out[..., 0]
    return out[:, torch.as_tensor(perm, device=points.device)]


@torch.no_grad()
def predict_normalised(model: torch.nn.Module, images_u8: np.ndarray, perm: np.ndarray, *, flip: bool = False,
                       device: str | torch.device = "cpu", batch_size: int = 64
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Run the network on (N, S, S, 3) uint8 crops.

    Returns (points (N, K, 2) normalised, pose (N, 3) degrees, flipped-pass points (N, K, 2) mapped back
    to the original frame or None). With ``flip`` the returned points and pose are the average of both passes.
    """
    model.eval()
    pts_all, pose_all, flip_all = [], [], []
    for i in range(0, len(images_u8), batch_size):
        x = torch.from_numpy(images_u8[i:i + batch_size]).to(device).permute(0, 3, 1, 2).float() / 255.0
        p, q = model(x)
        p, q = p.float(), q.float()
        if flip:
            pf, qf = model(torch.flip(x, dims=[3]))
            pf = flip_points_normalised(pf.float(), perm)
            qf = qf.float() * torch.tensor([-1.0, 1.0, -1.0], device=qf.device)
            flip_all.append(pf.cpu().numpy())
            p = (p + pf) / 2
            q = (q + qf) / 2
        pts_all.append(p.cpu().numpy())
        pose_all.append(np.degrees(q.cpu().numpy()))
    return (np.concatenate(pts_all), np.concatenate(pose_all),
            np.concatenate(flip_all) if flip else None)


def summarise(pred: np.ndarray, gt: np.ndarray, pred_pose: np.ndarray, gt_pose: np.ndarray,
              pose_valid: np.ndarray, schema: LandmarkSchema | str) -> dict[str, float]:
    """Validation summary of one set of faces (``asmnet_studio.evaluation.metrics`` /
    ``asmnet_studio.evaluation.pose`` do the sums).

    Args:
        pred, gt: (N, K, 2) points in one frame (any unit: the box normaliser cancels it).
        pred_pose, gt_pose: (N, 3) yaw, pitch, roll in degrees.
        pose_valid: (N,) bool, the faces whose ground-truth pose counts for the pose MAE.
        schema: the landmark schema (or its name).
    Returns:
        ``nme`` (mean box NME, percent), ``nme_0_30`` / ``nme_30_60`` / ``nme_60_90`` (per ground-truth |yaw|
        bucket, present when the bucket has faces), ``nme_balanced`` (mean of the bucket means) and, when a
        pose is valid, ``pose_mae``, ``yaw_mae``, ``pitch_mae``, ``roll_mae`` in degrees.
    """
    nme = metrics.nme(pred, gt, schema, "box")
    by_yaw, balanced = pose_metrics.bucket_means(nme, gt_pose[:, 0])
    out: dict[str, float] = {"nme": float(nme.mean())}
    out.update({f"nme_{name.replace('-', '_')}": m for name, m in by_yaw.items() if m is not None})
    out["nme_balanced"] = balanced
    if pose_valid.any():
        mae = pose_metrics.pose_mae(pred_pose[pose_valid], gt_pose[pose_valid])
        out["pose_mae"] = mae["mean"]
        out.update({f"{angle}_mae": mae[angle] for angle in pose_metrics.ANGLES})
    return out


def evaluate_faces(model: torch.nn.Module, faces: FaceArrays, size: int, *, flip: bool = False,
                   device: str | torch.device = "cpu") -> dict[str, float]:
    """``summarise`` of the network on plain centred ``size`` px crops of ``faces`` (no augmentation)."""
    batch = make_batch(faces, np.arange(len(faces)), size)
    schema = get_schema(faces.schema)
    pts, pose, _ = predict_normalised(model, batch["images"], schema.flip_permutation(), flip=flip, device=device)
    return summarise(pts, batch["points"], pose, batch["pose"], batch["pose_valid"], schema)


# ---------------------------------------------------------------------------- state and resume
@dataclass
class _State:
    """What changes as training goes; saved in ``last.pt`` (``train_state``) to resume from."""

    planned_epochs: int               # may shrink (time budget) or follow a changed --epochs on resume
    rng: np.random.Generator          # shuffling and crop augmentation
    epoch: int = 0                    # epochs completed
    step: int = 0                     # optimiser steps taken (schedules run on step / total steps)
    best: dict[str, Any] = field(default_factory=lambda: {"nme_balanced": float("inf")})
    epoch_times: list[float] = field(default_factory=list)  # seconds per epoch
    elapsed_before: float = 0.0       # seconds trained before this resume


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction, then cosine to 1% of the peak."""
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 1e-3)
    p = (progress - warmup) / max(1.0 - warmup, 1e-9)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(max(p, 0.0), 1.0)))


def _rescale_step(step: int, old_epochs: int, new_epochs: int, steps_per_epoch: int) -> int:
    """The step counter for a plan of ``new_epochs`` at the same training progress (schedules stay continuous)."""
    return int(round(step / (old_epochs * steps_per_epoch) * (new_epochs * steps_per_epoch)))


def _log(msg: str) -> None:
    print(f"[asmnet train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _resume(cfg: TrainConfig, run: RunSetup, state: _State) -> None:
    """Continue from ``last.pt``: weights, optimiser, counters, best, timings and both RNG states. A changed
    ``--epochs`` (without a time budget) is followed, the step counter rescaled to the same progress."""
    obj = load_checkpoint(run.last_path)
    run.model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in obj["state_dict"].items()})
    st = obj["train_state"]
    run.opt.load_state_dict(st["optimizer"])
    state.epoch, state.step, state.best = int(st["epoch"]), int(st["step"]), dict(st["best"])
    state.planned_epochs = int(st["planned_epochs"])
    if cfg.time_budget_min is None and cfg.epochs != state.planned_epochs:
        state.step = _rescale_step(state.step, state.planned_epochs, cfg.epochs, run.steps_per_epoch)
        state.planned_epochs = max(cfg.epochs, state.epoch)
    state.epoch_times = [float(t) for t in st["epoch_times"]]
    state.elapsed_before = float(st["elapsed"])
    torch.set_rng_state(st["torch_rng"])
    state.rng = restore_numpy_rng(st["numpy_rng"])
    if run.proc.main:
        _log(f"resumed from {run.last_path} at epoch {state.epoch}")


# ---------------------------------------------------------------------------- one epoch
def _epoch_order(cfg: TrainConfig, run: RunSetup, state: _State) -> np.ndarray:
    """(n,) indices of the training faces this process visits this epoch, in order. Under torchrun every
    process draws the same permutation (seeded by the epoch) and takes its own shard."""
    n_train = len(run.train_faces)
    order = state.rng.permutation(n_train)
    if run.proc.distributed:
        per_rank = n_train // run.proc.world
        rank = run.proc.rank
        order = np.random.default_rng(cfg.seed + state.epoch).permutation(n_train)
        order = order[rank * per_rank:(rank + 1) * per_rank]
    return order


def _train_step(cfg: TrainConfig, run: RunSetup, state: _State, idx: np.ndarray, progress: float
                ) -> tuple[float, dict[str, float]]:
    """One optimiser step on the faces ``idx`` at training ``progress`` in [0, 1); returns (loss, its parts)."""
    batch = make_batch(run.train_faces, idx, cfg.input_size, rng=state.rng, aug=cfg.augment)
    device = run.proc.device
    x = torch.from_numpy(batch["images"]).to(device).permute(0, 3, 1, 2).float() / 255.0
    x = color_jitter(x, cfg.augment, run.gen).contiguous(memory_format=run.mem_format)
    gt = torch.from_numpy(batch["points"]).to(device)
    gt_pose = torch.from_numpy(np.radians(batch["pose"])).to(device)
    valid = torch.from_numpy(batch["pose_valid"]).to(device)
    for g in run.opt.param_groups:
        g["lr"] = cfg.lr * _lr_factor(progress, cfg.warmup_epochs / state.planned_epochs)
    with torch.autocast(device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        pred, pose = run.net(x)
    loss, parts = run.criterion(pred, gt, pose, gt_pose, valid, progress=progress)
    run.opt.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.opt)
        run.scaler.update()
    else:
        loss.backward()
        run.opt.step()
    return float(loss.detach()), parts


def _train_epoch(cfg: TrainConfig, run: RunSetup, state: _State) -> dict[str, Any]:
    """One pass over this process's shard; advances ``state`` (epoch, step, epoch time) and returns the
    epoch's log record: epoch, step, lr, alpha, epoch_s (seconds) and the mean train_loss / _landmark /
    _asm / _pose."""
    t_epoch = time.time()
    run.model.train()
    order = _epoch_order(cfg, run, state)
    sums = {"loss": 0.0, "landmark": 0.0, "asm": 0.0, "pose": 0.0}
    batches = range(run.steps_per_epoch)
    if cfg.progress and run.proc.main:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"epoch {state.epoch + 1}/{state.planned_epochs}", unit="batch", leave=False,
                       mininterval=1.0 if sys.stderr.isatty() else 60.0, disable=None)
    total_steps = state.planned_epochs * run.steps_per_epoch
    for bi in batches:
        idx = order[bi * cfg.batch_size:(bi + 1) * cfg.batch_size]
        loss, parts = _train_step(cfg, run, state, idx, state.step / total_steps)
        state.step += 1
        sums["loss"] += loss
        for k in ("landmark", "asm", "pose"):
            sums[k] += parts[k]
    state.epoch += 1
    state.epoch_times.append(time.time() - t_epoch)
    return {"epoch": state.epoch, "step": state.step, "lr": run.opt.param_groups[0]["lr"], "alpha": parts["alpha"],
            "epoch_s": round(state.epoch_times[-1], 2),
            **{f"train_{k}": v / run.steps_per_epoch for k, v in sums.items()}}


def _validate(cfg: TrainConfig, run: RunSetup) -> dict[str, float]:
    """``val_*`` (``summarise`` keys) on the held-out faces, and ``val_flip_nme_balanced`` /
    ``val_flip_pose_mae`` with flip test-time averaging."""
    device = run.proc.device
    plain = evaluate_faces(run.model, run.val_faces, cfg.input_size, device=device)
    flipped = evaluate_faces(run.model, run.val_faces, cfg.input_size, flip=True, device=device)
    return {**{f"val_{k}": v for k, v in plain.items()},
            **{f"val_flip_{k}": v for k, v in flipped.items() if k in ("nme_balanced", "pose_mae")}}


def _fit_time_budget(cfg: TrainConfig, run: RunSetup, state: _State, elapsed: float) -> None:
    """Shrink (or grow back, up to ``cfg.epochs``) the planned epochs so that training, and its schedules,
    end within ``cfg.time_budget_min`` given ``elapsed`` seconds and the last 5 epochs' mean time; rank 0's
    plan is everyone's."""
    per_epoch = float(np.mean(state.epoch_times[-5:]))
    fit = state.epoch + int((cfg.time_budget_min * 60 - elapsed) // per_epoch)
    new_plan = max(state.epoch, min(cfg.epochs, fit))
    if run.proc.distributed:
        import torch.distributed as dist

        t = torch.tensor([new_plan], dtype=torch.int64, device=run.proc.device)
        dist.broadcast(t, 0)
        new_plan = int(t.item())
    if new_plan != state.planned_epochs:
        state.step = _rescale_step(state.step, state.planned_epochs, new_plan, run.steps_per_epoch)
        state.planned_epochs = new_plan


def _save_epoch(run: RunSetup, state: _State, record: dict[str, Any], elapsed: float) -> None:
    """Rank 0 after each epoch: ``best.pt`` when the validation balanced NME (else the train landmark loss)
    improved, the log line, ``last.pt`` with the resumable ``train_state``, and a progress line."""
    has_val = run.val_faces is not None
    score = record["val_nme_balanced"] if has_val else record["train_landmark"]
    if score < state.best["nme_balanced"]:
        state.best = {"nme_balanced": score, "epoch": state.epoch,
                      **{k: v for k, v in record.items() if k.startswith("val_")}}
        card = {**run.card_base, "best": state.best, "selected_on": "validation balanced NME (box-normalised)",
                "flip_tta": bool(record.get("val_flip_nme_balanced", float("inf"))
                                 < record.get("val_nme_balanced", float("inf"))),
                "epochs_trained": state.epoch, "wall_time_s": round(elapsed, 1)}
        save_checkpoint(run.best_path, run.model, run.config, shape_model=run.shape_model, card=card)
    record["best_epoch"] = state.best.get("epoch")
    with open(run.log_path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    train_state = {"optimizer": run.opt.state_dict(), "epoch": state.epoch, "step": state.step, "best": state.best,
                   "planned_epochs": state.planned_epochs, "epoch_times": state.epoch_times, "elapsed": elapsed,
                   "torch_rng": torch.get_rng_state(), "numpy_rng": numpy_rng_state(state.rng)}
    save_checkpoint(run.last_path, run.model, run.config, shape_model=run.shape_model,
                    card={**run.card_base, "epochs_trained": state.epoch}, train_state=train_state)
    val_txt = (f" val NME {record['val_nme_balanced']:.2f} (flip {record['val_flip_nme_balanced']:.2f}) "
               f"pose {record.get('val_pose_mae', float('nan')):.2f}" if has_val else "")
    _log(f"epoch {state.epoch}/{state.planned_epochs} loss {record['train_loss']:.5f}{val_txt} "
         f"({state.epoch_times[-1]:.1f}s, best epoch {state.best.get('epoch')})")


# ---------------------------------------------------------------------------- the loop
def train(cfg: TrainConfig, *, dataset=None, shape_model: ShapeModel | None = None) -> TrainResult:
    """Train a network as ``cfg`` says; returns where the checkpoints and the log are.

    ``dataset`` (a ``asmnet_studio.datasets.sample.Dataset``, e.g.
    ``asmnet.training.workspace_data.workspace_samples(...).dataset``) trains on those samples instead of reading
    ``cfg.data`` (which then only names them in the card); ``shape_model`` is used (for the ASM loss and the checkpoint)
    instead of one fitted on the training faces.
    """
    cfg.validate()
    proc = start_process(cfg)
    state = _State(planned_epochs=cfg.epochs, rng=np.random.default_rng(cfg.seed + 1000 * proc.rank))
    out = Path(cfg.out)
    if proc.main:
        out.mkdir(parents=True, exist_ok=True)
    run = setup_run(cfg, proc, out, dataset, shape_model)
    if cfg.resume and run.last_path.is_file():
        _resume(cfg, run, state)
    run.net = wrap_for_processes(run)
    if proc.main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        _log(f"{cfg.model}: {count_parameters(run.model):,} parameters; {len(run.train_faces)} train / "
             f"{run.card_base['dataset']['val_faces']} val faces; input {cfg.input_size}px; "
             f"{run.steps_per_epoch} steps/epoch x {proc.world} process(es); device {proc.device}")
    t_start = time.time()
    while state.epoch < state.planned_epochs:
        record = _train_epoch(cfg, run, state)
        if proc.main and run.val_faces is not None:
            record.update(_validate(cfg, run))
        elapsed = state.elapsed_before + time.time() - t_start
        if cfg.time_budget_min:
            _fit_time_budget(cfg, run, state, elapsed)
        record["planned_epochs"] = state.planned_epochs
        record["elapsed_s"] = round(elapsed, 1)
        if proc.main:
            _save_epoch(run, state, record, elapsed)
    if proc.distributed:
        import torch.distributed as dist

        proc.barrier()
        dist.destroy_process_group()
    return TrainResult(run.best_path, run.last_path, run.log_path, state.best)
