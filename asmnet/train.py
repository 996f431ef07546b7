"""Training loop: CPU or CUDA, bf16 autocast on GPU, checkpoints, resume, fixed seed, JSONL log,
validation on a held-out part of the training split, multi-process data parallel through torchrun.

Usage (library)::

    cfg = TrainConfig(data="../shared/data/aflw2000-3d", format="aflw2000", out="runs/asmnet68")
    result = train(cfg)          # -> TrainResult(best_checkpoint, last_checkpoint, log, best)

The same settings are the flags of ``asmnet train``. Under ``torchrun --nproc_per_node N asmnet train ...``
each process trains on its own shard of every epoch (DistributedDataParallel; gloo on CPU, nccl on CUDA);
rank 0 validates, logs and writes the checkpoints.

Outputs in ``out``: ``best.pt`` (best validation balanced NME; inference checkpoint with the shape model
and a card), ``last.pt`` (resumable), ``shape_model.npz``, ``log.jsonl`` (one JSON object per epoch),
``config.json``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asmnet.asm import ShapeModel
from asmnet.checkpoint import load_checkpoint, numpy_rng_state, restore_numpy_rng, save_checkpoint
from asmnet.crop import CROP_MARGIN
from asmnet.data import (AugmentConfig, FaceArrays, cache_size_for, cached_faces, color_jitter, make_batch,
                         split_validation, yaw_bucket)
from asmnet.losses import AlphaSchedule, ASMLoss, ShapeProjector
from asmnet.network import count_parameters, create_model, list_models
from datasets.schemas import get_schema

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Every training setting (each is an ``asmnet train`` flag of the same name)."""

    data: str = ""
    format: str = "aflw2000"
    split: str | None = "train"
    out: str = "runs/asmnet"
    model: str = "asmnet"
    input_size: int = 128
    epochs: int = 100
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 3.0
    alpha: str = "2,1,0.5"
    asm_variance: float = 0.9
    shape_variance: float = 0.98
    pose_weight: float = 0.5
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    threads: int | None = None
    time_budget_min: float | None = None
    cache_dir: str | None = ".cache/asmnet"
    resume: bool = False
    init: str | None = None
    max_samples: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    channels_last: bool = True
    progress: bool = True

    def validate(self) -> None:
        if self.model not in list_models():
            raise ValueError(f"unknown model {self.model!r}; choose one of {list_models()}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {list(DEVICES)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"unknown amp mode {self.amp!r}; choose one of {list(AMP_MODES)}")
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (>= 32), found {self.input_size}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs must be >= 1 and batch_size >= 2, found {self.epochs}, {self.batch_size}")
        AlphaSchedule.parse(self.alpha)
        if self.init == "imagenet":  # fail before the long decode, with the command that installs the file
            from asmnet.pretrained import find_imagenet_weights

            find_imagenet_weights()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        return d


@dataclass
class TrainResult:
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


def box_nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) mean point error / sqrt(w * h) of the GT landmark box, for (N, K, 2) arrays in one frame (x 100)."""
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    wh = gt.max(1) - gt.min(1)
    return 100.0 * err / np.sqrt(wh[:, 0] * wh[:, 1])


def summarise(pred: np.ndarray, gt: np.ndarray, pred_pose: np.ndarray, gt_pose: np.ndarray,
              pose_valid: np.ndarray) -> dict[str, float]:
    """Balanced box NME (%), NME per |yaw| bucket, plain mean NME and pose MAE (degrees) over valid poses."""
    nme = box_nme(pred, gt)
    buckets = yaw_bucket(gt_pose[:, 0])
    out: dict[str, float] = {"nme": float(nme.mean())}
    means = []
    for b, name in enumerate(("0_30", "30_60", "60_90")):
        sel = buckets == b
        if sel.any():
            out[f"nme_{name}"] = float(nme[sel].mean())
            means.append(out[f"nme_{name}"])
    out["nme_balanced"] = float(np.mean(means))
    if pose_valid.any():
        d = np.abs((pred_pose[pose_valid] - gt_pose[pose_valid] + 180.0) % 360.0 - 180.0)
        out["pose_mae"] = float(d.mean())
        out["yaw_mae"], out["pitch_mae"], out["roll_mae"] = (float(v) for v in d.mean(0))
    return out


def evaluate_faces(model: torch.nn.Module, faces: FaceArrays, size: int, *, flip: bool = False,
                   device: str | torch.device = "cpu") -> dict[str, float]:
    """Metrics on plain centred crops of ``faces`` (no augmentation)."""
    batch = make_batch(faces, np.arange(len(faces)), size)
    perm = get_schema(faces.schema).flip_permutation()
    pts, pose, _ = predict_normalised(model, batch["images"], perm, flip=flip, device=device)
    return summarise(pts, batch["points"], pose, batch["pose"], batch["pose_valid"])


# ---------------------------------------------------------------------------- the loop
def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(name)


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction, then cosine to 1% of the peak."""
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 1e-3)
    p = (progress - warmup) / max(1.0 - warmup, 1e-9)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(max(p, 0.0), 1.0)))


def _log(msg: str) -> None:
    print(f"[asmnet train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def train(cfg: TrainConfig, *, dataset=None, shape_model: ShapeModel | None = None) -> TrainResult:
    """Train a network as ``cfg`` says; returns where the checkpoints and the log are.

    ``dataset`` (a ``datasets.sample.Dataset``, e.g. ``asmnet.workspace_data.workspace_samples(...).dataset``)
    trains on those samples instead of reading ``cfg.data`` (which then only names them in the card);
    ``shape_model`` is used (for the ASM loss and the checkpoint) instead of one fitted on the training faces.
    """
    cfg.validate()
    from datasets.formats import read_dataset

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    device = _resolve_device(cfg.device)
    if distributed:
        import torch.distributed as dist

        if device.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    import cv2

    cv2.setNumThreads(1)
    main_proc = rank == 0
    torch.manual_seed(cfg.seed + rank)
    rng = np.random.default_rng(cfg.seed + 1000 * rank)
    out = Path(cfg.out)
    if main_proc:
        out.mkdir(parents=True, exist_ok=True)

    # ---- data
    if dataset is not None:
        ds = dataset
    elif not cfg.data:
        raise ValueError("no dataset folder given (--data)")
    else:
        ds = read_dataset(cfg.data, cfg.format, split=cfg.split)
    if cfg.max_samples:
        ds.samples = ds.samples[: cfg.max_samples]
    if len(ds) == 0:
        raise ValueError(f"{cfg.data}: no samples in split {cfg.split!r} (format {cfg.format})")
    schema = get_schema(ds.schema)
    # rank 0 decodes (or reads) the cache while the other ranks wait, then they read what it wrote
    cache_size = cache_size_for(cfg.input_size)
    if distributed and not main_proc:
        import torch.distributed as dist

        dist.barrier()
        faces = cached_faces(ds, cfg.cache_dir, cache_size, build=cfg.cache_dir is None)
    else:
        faces = cached_faces(ds, cfg.cache_dir, cache_size, progress=cfg.progress and main_proc)
        if distributed:
            import torch.distributed as dist

            dist.barrier()
    tr_idx, val_idx = split_validation(faces, cfg.val_fraction, cfg.seed)
    train_faces = faces.subset(tr_idx)
    val_faces = faces.subset(val_idx) if len(val_idx) else None
    perm = schema.flip_permutation()

    # ---- shape model (train part only) and loss
    if shape_model is None:
        shape_model = ShapeModel.fit(train_faces.points, cfg.shape_variance, schema=schema.name,
                                     mirror_permutation=perm)
    if main_proc:
        shape_model.save(out / "shape_model.npz")
    schedule = AlphaSchedule.parse(cfg.alpha)
    projector = ShapeProjector(shape_model, cfg.asm_variance).to(device) if schedule.values else None
    criterion = ASMLoss(projector, schedule, cfg.pose_weight)

    # ---- model and optimiser
    model = create_model(cfg.model, num_points=schema.num_points).to(device)
    mem_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=mem_format)
    init_info: dict[str, Any] = {"init": "random"}
    if cfg.init == "imagenet":
        from asmnet.pretrained import load_imagenet_trunk

        init_info = load_imagenet_trunk(model)
    elif cfg.init:
        from asmnet.checkpoint import build_model, file_sha256

        init_obj = load_checkpoint(cfg.init)
        model.load_state_dict(build_model(init_obj, cfg.init).state_dict())
        init_info = {"init": "checkpoint", "file": str(cfg.init), "sha256": file_sha256(cfg.init)}
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    amp = cfg.amp
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    if amp != "off" and device.type != "cuda":
        raise ValueError(f"--amp {amp} needs CUDA; use --amp off on CPU")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None

    start_epoch, step, best, elapsed_before = 0, 0, {"nme_balanced": float("inf")}, 0.0
    planned_epochs = cfg.epochs
    epoch_times: list[float] = []
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "log.jsonl"
    if cfg.resume and last_path.is_file():
        obj = load_checkpoint(last_path)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in obj["state_dict"].items()})
        st = obj["train_state"]
        opt.load_state_dict(st["optimizer"])
        start_epoch, step, best = int(st["epoch"]), int(st["step"]), dict(st["best"])
        planned_epochs = int(st["planned_epochs"])
        if cfg.time_budget_min is None and cfg.epochs != planned_epochs:
            # --epochs changed on resume: follow it, keeping the schedules' progress continuous
            steps_per_epoch_old = max((len(split_validation(faces, cfg.val_fraction, cfg.seed)[0]) // world)
                                      // cfg.batch_size, 1)
            step = int(round(step / (planned_epochs * steps_per_epoch_old) * (cfg.epochs * steps_per_epoch_old)))
            planned_epochs = max(cfg.epochs, start_epoch)
        epoch_times = [float(t) for t in st["epoch_times"]]
        elapsed_before = float(st["elapsed"])
        torch.set_rng_state(st["torch_rng"])
        rng = restore_numpy_rng(st["numpy_rng"])
        if main_proc:
            _log(f"resumed from {last_path} at epoch {start_epoch}")
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    n_train = len(train_faces)
    per_rank = n_train // world
    steps_per_epoch = max(per_rank // cfg.batch_size, 1)
    gen = torch.Generator().manual_seed(cfg.seed + rank)
    config = {"model": cfg.model, "num_points": schema.num_points, "input_size": cfg.input_size,
              "crop_margin": CROP_MARGIN, "schema": schema.name}
    card_base = {"train_config": cfg.to_dict(), "dataset": {"root": str(cfg.data), "format": cfg.format,
                 "split": cfg.split, "train_faces": int(n_train), "val_faces": int(len(val_idx))},
                 "parameters": count_parameters(model), "shape_model_components": shape_model.num_components,
                 "asm_loss_components": projector.num_components if projector else 0, "world_size": world,
                 "device": str(device), "torch": str(torch.__version__), "initialisation": init_info}
    if main_proc:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        _log(f"{cfg.model}: {count_parameters(model):,} parameters; {n_train} train / {len(val_idx)} val faces; "
             f"input {cfg.input_size}px; {steps_per_epoch} steps/epoch x {world} process(es); device {device}")
    t_start = time.time()

    epoch = start_epoch
    while epoch < planned_epochs:
        t_epoch = time.time()
        model.train()
        order = rng.permutation(n_train)
        # every process draws the same permutation when rng seeds match; shard by rank
        if distributed:
            order = np.random.default_rng(cfg.seed + epoch).permutation(n_train)[rank * per_rank:(rank + 1) * per_rank]
        sums = {"loss": 0.0, "landmark": 0.0, "asm": 0.0, "pose": 0.0}
        it = range(steps_per_epoch)
        if cfg.progress and main_proc:
            from tqdm import tqdm

            it = tqdm(it, desc=f"epoch {epoch + 1}/{planned_epochs}", unit="batch", leave=False,
                      mininterval=1.0 if sys.stderr.isatty() else 60.0, disable=None)
        total_steps = planned_epochs * steps_per_epoch
        for bi in it:
            idx = order[bi * cfg.batch_size:(bi + 1) * cfg.batch_size]
            batch = make_batch(train_faces, idx, cfg.input_size, rng=rng, aug=cfg.augment)
            x = torch.from_numpy(batch["images"]).to(device).permute(0, 3, 1, 2).float() / 255.0
            x = color_jitter(x, cfg.augment, gen).contiguous(memory_format=mem_format)
            gt = torch.from_numpy(batch["points"]).to(device)
            gt_pose = torch.from_numpy(np.radians(batch["pose"])).to(device)
            valid = torch.from_numpy(batch["pose_valid"]).to(device)
            progress = step / total_steps
            for g in opt.param_groups:
                g["lr"] = cfg.lr * _lr_factor(progress, cfg.warmup_epochs / planned_epochs)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                pred, pose = net(x)
            loss, parts = criterion(pred, gt, pose, gt_pose, valid, progress=progress)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            step += 1
            sums["loss"] += float(loss.detach())
            for k in ("landmark", "asm", "pose"):
                sums[k] += parts[k]
        epoch += 1
        epoch_times.append(time.time() - t_epoch)
        record: dict[str, Any] = {"epoch": epoch, "step": step, "lr": opt.param_groups[0]["lr"],
                                  "alpha": parts["alpha"], "epoch_s": round(epoch_times[-1], 2),
                                  **{f"train_{k}": v / steps_per_epoch for k, v in sums.items()}}
        if main_proc and val_faces is not None:
            record.update({f"val_{k}": v for k, v in evaluate_faces(model, val_faces, cfg.input_size,
                                                                     device=device).items()})
            record.update({f"val_flip_{k}": v for k, v in evaluate_faces(model, val_faces, cfg.input_size, flip=True,
                                                                          device=device).items()
                           if k in ("nme_balanced", "pose_mae")})
        # time budget: shrink the planned epochs so that training (and its schedules) ends in time
        elapsed = elapsed_before + time.time() - t_start
        if cfg.time_budget_min:
            per_epoch = float(np.mean(epoch_times[-5:]))
            fit = epoch + int((cfg.time_budget_min * 60 - elapsed) // per_epoch)
            # the plan may grow back (up to --epochs) when the machine gets faster; progress stays continuous
            new_plan = max(epoch, min(cfg.epochs, fit))
            if distributed:
                import torch.distributed as dist

                t = torch.tensor([new_plan], dtype=torch.int64, device=device)
                dist.broadcast(t, 0)
                new_plan = int(t.item())
            if new_plan != planned_epochs:
                # keep the schedules continuous: rescale the step counter to the same progress
                step = int(round(step / (planned_epochs * steps_per_epoch) * (new_plan * steps_per_epoch)))
                planned_epochs = new_plan
        record["planned_epochs"] = planned_epochs
        record["elapsed_s"] = round(elapsed, 1)
        if main_proc:
            score = record["val_nme_balanced"] if val_faces is not None else record["train_landmark"]
            if score < best["nme_balanced"]:
                best = {"nme_balanced": score, "epoch": epoch,
                        **{k: v for k, v in record.items() if k.startswith("val_")}}
                card = {**card_base, "best": best, "selected_on": "validation balanced NME (box-normalised)",
                        "flip_tta": bool(record.get("val_flip_nme_balanced", float("inf"))
                                         < record.get("val_nme_balanced", float("inf"))),
                        "epochs_trained": epoch, "wall_time_s": round(elapsed, 1)}
                save_checkpoint(best_path, model, config, shape_model=shape_model, card=card)
            record["best_epoch"] = best.get("epoch")
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            train_state = {"optimizer": opt.state_dict(), "epoch": epoch, "step": step, "best": best,
                           "planned_epochs": planned_epochs, "epoch_times": epoch_times, "elapsed": elapsed,
                           "torch_rng": torch.get_rng_state(), "numpy_rng": numpy_rng_state(rng)}
            save_checkpoint(last_path, model, config, shape_model=shape_model,
                            card={**card_base, "epochs_trained": epoch}, train_state=train_state)
            val_txt = (f" val NME {record['val_nme_balanced']:.2f} (flip {record['val_flip_nme_balanced']:.2f}) "
                       f"pose {record.get('val_pose_mae', float('nan')):.2f}" if val_faces is not None else "")
            _log(f"epoch {epoch}/{planned_epochs} loss {record['train_loss']:.5f}{val_txt} "
                 f"({epoch_times[-1]:.1f}s, best epoch {best.get('epoch')})")
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return TrainResult(best_path, last_path, log_path, best)
