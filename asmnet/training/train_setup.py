"""The fixed part of a training run, built once before the first epoch (``asmnet.training.train`` runs the loop).

``start_process`` (device, torchrun process group, threads, torch seed) -> ``setup_run`` (faces and validation
split, shape model, ASM loss, network with its initial weights, optimiser, precision, card) ->
``wrap_for_processes`` (DistributedDataParallel under torchrun).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from asmnet.model.asm import ShapeModel
from asmnet.model.checkpoint import load_checkpoint
from asmnet.inference.crop import CROP_MARGIN
from asmnet.training.data import FaceArrays, cache_size_for, cached_faces, split_named, split_validation
from asmnet.model.losses import AlphaSchedule, ASMLoss, ShapeProjector
from asmnet.model.network import count_parameters, create_model
from asmnet.training.train_config import TrainConfig
from asmnet_studio.datasets.schemas import LandmarkSchema, get_schema


@dataclass
class Process:
    """This process's place in the run: one of ``world`` processes; rank 0 validates, logs and saves."""

    world: int
    rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op for a single process)."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


@dataclass
class RunSetup:
    """What stays fixed for the whole run: data, shape model, loss, network, optimiser, precision, card."""

    proc: Process
    out: Path
    train_faces: FaceArrays
    val_faces: FaceArrays | None
    shape_model: ShapeModel
    criterion: ASMLoss
    model: torch.nn.Module            # the network itself (validated and saved)
    opt: torch.optim.Optimizer
    mem_format: torch.memory_format
    amp_dtype: torch.dtype | None     # None: full precision
    scaler: torch.amp.GradScaler | None
    gen: torch.Generator              # colour jitter
    steps_per_epoch: int              # per process
    config: dict[str, Any]            # the checkpoint's model config
    card_base: dict[str, Any]         # the card fields every checkpoint of the run shares
    net: torch.nn.Module | None = None  # what the step calls: ``model`` or its DDP wrapper

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def log_path(self) -> Path:
        return self.out / "log.jsonl"


def resolve_device(name: str) -> torch.device:
    """The device rule of training and fine-tuning: 'auto' -> CUDA when available, else CPU; ValueError for
    'cuda' without CUDA; any other name (``cpu``, ``cuda:1``) as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(name)


def start_process(cfg: TrainConfig) -> Process:
    """Device, process group (under torchrun: ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), threads, torch seed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(cfg.device)
    if world > 1:
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
    torch.manual_seed(cfg.seed + rank)
    return Process(world, rank, device)


def _load_faces(cfg: TrainConfig, dataset, proc: Process) -> tuple[FaceArrays, LandmarkSchema]:
    """All faces decoded to cached crops, and their schema. Rank 0 decodes (or reads) the cache while the
    other ranks wait, then they read what it wrote."""
    from asmnet_studio.datasets.formats import read_dataset

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
    cache_size = cache_size_for(cfg.input_size)
    if proc.distributed and not proc.main:
        proc.barrier()
        faces = cached_faces(ds, cfg.cache_dir, cache_size, build=cfg.cache_dir is None)
    else:
        faces = cached_faces(ds, cfg.cache_dir, cache_size, progress=cfg.progress and proc.main)
        proc.barrier()
    return faces, get_schema(ds.schema)


def _initialise(model: torch.nn.Module, init: str | None) -> dict[str, Any]:
    """Load the ``--init`` weights into ``model``; returns how it was initialised (for the card)."""
    if init == "imagenet":
        from asmnet.model.pretrained import load_imagenet_trunk

        return load_imagenet_trunk(model)
    if init:
        from asmnet.model.checkpoint import build_model, file_sha256

        model.load_state_dict(build_model(load_checkpoint(init), init).state_dict())
        return {"init": "checkpoint", "file": str(init), "sha256": file_sha256(init)}
    return {"init": "random"}


def _optimiser(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on the weight matrices/kernels only (not on norms and biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)


def _precision(amp: str, device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """(autocast dtype or None, grad scaler for fp16 or None); 'auto' is bf16 on CUDA and off on CPU."""
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" else "off"
    if amp != "off" and device.type != "cuda":
        raise ValueError(f"--amp {amp} needs CUDA; use --amp off on CPU")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp), (
        torch.amp.GradScaler("cuda") if amp == "fp16" else None)


def setup_run(cfg: TrainConfig, proc: Process, out: Path, dataset, shape_model: ShapeModel | None) -> RunSetup:
    """Data and validation split (its image names go into the card), shape model (fitted on the training part
    unless given; saved), ASM loss, network with its initial weights, optimiser and precision."""
    faces, schema = _load_faces(cfg, dataset, proc)
    if cfg.validation_names:
        from asmnet.training.validation_set import read_names

        tr_idx, val_idx = split_named(faces, read_names(cfg.validation_names), cfg.validation_names)
    else:
        tr_idx, val_idx = split_validation(faces, cfg.val_fraction, cfg.seed)
    train_faces = faces.subset(tr_idx)
    if shape_model is None:
        shape_model = ShapeModel.fit(train_faces.points, cfg.shape_variance, schema=schema.name,
                                     mirror_permutation=schema.flip_permutation())
    if proc.main:
        shape_model.save(out / "shape_model.npz")
    schedule = AlphaSchedule.parse(cfg.alpha)
    projector = ShapeProjector(shape_model, cfg.asm_variance).to(proc.device) if schedule.values else None

    mem_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = create_model(cfg.model, num_points=schema.num_points).to(proc.device).to(memory_format=mem_format)
    init_info = _initialise(model, cfg.init)
    opt = _optimiser(model, cfg)
    amp_dtype, scaler = _precision(cfg.amp, proc.device)

    n_train = len(train_faces)
    config = {"model": cfg.model, "num_points": schema.num_points, "input_size": cfg.input_size,
              "crop_margin": CROP_MARGIN, "schema": schema.name}
    card_base = {"train_config": cfg.to_dict(), "dataset": {"root": str(cfg.data), "format": cfg.format,
                 "split": cfg.split, "train_faces": int(n_train), "val_faces": int(len(val_idx))},
                 "parameters": count_parameters(model), "shape_model_components": shape_model.num_components,
                 "asm_loss_components": projector.num_components if projector else 0, "world_size": proc.world,
                 "device": str(proc.device), "torch": str(torch.__version__), "initialisation": init_info,
                 # by name, so later checks use exactly these faces (asmnet.training.validation_set)
                 "validation_names": [faces.names[i] for i in val_idx]}
    return RunSetup(proc=proc, out=out, train_faces=train_faces,
                    val_faces=faces.subset(val_idx) if len(val_idx) else None, shape_model=shape_model,
                    criterion=ASMLoss(projector, schedule, cfg.pose_weight), model=model, opt=opt,
                    mem_format=mem_format, amp_dtype=amp_dtype, scaler=scaler,
                    gen=torch.Generator().manual_seed(cfg.seed + proc.rank),
                    steps_per_epoch=max((n_train // proc.world) // cfg.batch_size, 1), config=config,
                    card_base=card_base)


def wrap_for_processes(run: RunSetup) -> torch.nn.Module:
    """The network as the training step calls it: DistributedDataParallel under torchrun, else itself."""
    if not run.proc.distributed:
        return run.model
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = run.proc.device
    return DDP(run.model, device_ids=[device.index] if device.type == "cuda" else None)
