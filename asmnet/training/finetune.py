"""Fine-tune a checkpoint on a workspace's accepted faces and register the result as a model version.

    from asmnet.training.train import TrainConfig
    res = finetune_from_workspace("project.db", "asmnet/weights/asmnet68.pt",
                                  TrainConfig(out="runs/ft1", epochs=15, lr=5e-4))
    res.model_id        # the new version in the workspace (Workspace.models())

This is what ``asmnet train --from-workspace WS.db --init CKPT ...`` runs. The training loop is
``asmnet.training.train.train`` itself (same augmentation, loss, validation split, checkpoints, CPU or CUDA);
this module only builds its data from the workspace (``asmnet.training.workspace_data``), optionally mixed with a
base dataset, keeps the init checkpoint's shape model unless asked to refit it on the training shapes,
measures the held-out part, and registers ``best.pt`` with a card::

    {"kind": "finetune", "name", "created_by": "asmnet train --from-workspace",
     "data": {"workspace", "statuses", "faces", "corrections", "ground_truth", "left_out", "image_ids",
              "mix": {"root", "format", "split", "faces", "duplicates_dropped"} | None},
     "init": {"checkpoint", "sha256", "name"},
     "shape_model": {"source": "init" | "refit", "components"},
     "settings": TrainConfig as a dict,
     "metrics": {"selected_on", "held_out": {...best validation metrics...},
                 "held_out_workspace": {"faces", "init": {...}, "finetuned": {...}}},
     "train": {"epochs_trained", "wall_time_s", "device"}}

Held-out metrics are box-normalised NME percentages on plain centred crops (``asmnet.training.train.evaluate_faces``):
``held_out`` over the whole validation part the loop holds out (``val_fraction`` of the training faces,
|yaw|-stratified, seed ``cfg.seed``), ``held_out_workspace`` over the workspace faces in it, for the init
checkpoint and the fine-tuned one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from asmnet_studio.datasets.sample import Dataset
from asmnet_studio.datasets.store import Workspace, parse_statuses

from asmnet.training.workspace_data import ACCEPTED_STATUSES, merge_datasets, workspace_samples


@dataclass
class FinetuneResult:
    """``model_id`` (workspace model version), ``checkpoint`` (best.pt), ``card`` (as registered), ``train``
    (the ``asmnet.training.train.TrainResult``)."""

    model_id: int
    checkpoint: Path
    card: dict[str, Any]
    train: Any = None


def _json_ready(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def finetune_from_workspace(workspace: str | Path | Workspace, init: str | Path, cfg, *,
                            statuses: str | Iterable[str] | None = ACCEPTED_STATUSES,
                            mix: Dataset | None = None, mix_split: str | None = None,
                            refit_shape_model: bool = False, name: str | None = None) -> FinetuneResult:
    """Fine-tune ``init`` on the accepted faces of ``workspace`` (plus ``mix``) and register the result.

    Args:
        workspace: a workspace file (must exist) or an open ``Workspace``.
        init: the checkpoint to start from; its architecture and input size override ``cfg.model`` /
            ``cfg.input_size``.
        cfg: an ``asmnet.training.train.TrainConfig`` (``out``, ``epochs``, ``lr``, ``device`` ...); its ``data``,
            ``format``, ``split`` and ``init`` are set here.
        statuses: annotation statuses that count as accepted (default done, reviewed).
        mix: a base dataset trained on together with the workspace faces (same image: the workspace wins).
        mix_split: the split ``mix`` was read with (for the card).
        refit_shape_model: fit the shape model (ASM loss, uncertainty, annotator constraint) on the
            training shapes instead of keeping the init checkpoint's.
        name: model name in the workspace (default: the output folder's name).
    Raises:
        ValueError when the workspace has no accepted face of the checkpoint's schema.
    """
    from asmnet.model.checkpoint import build_model, file_sha256, load_checkpoint, load_shape_model, save_checkpoint
    from asmnet.training.data import cache_size_for, cached_faces
    from asmnet.training.train import evaluate_faces, train
    from asmnet.training.train_setup import resolve_device
    from asmnet.training.validation_set import checkpoint_split

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace, create=False)
    ws_name = str(ws.path.resolve()) if ws.path is not None else "in-memory workspace"
    init = Path(init)
    init_obj = load_checkpoint(init)
    init_cfg = init_obj["config"]
    init_card = init_obj.get("card", {})
    schema = str(init_cfg["schema"])
    wsd = workspace_samples(ws, statuses, schema=schema)
    if not wsd.image_ids:
        raise ValueError(f"{ws_name}: no accepted face to train on (statuses {list(parse_statuses(statuses, ACCEPTED_STATUSES))}, "
                         f"schema {schema}); mark corrections done or pass --statuses")
    ds = wsd.dataset
    mix_info = None
    if mix is not None:
        ds, counts = merge_datasets(wsd.dataset, mix)
        mix_info = {"root": str(mix.root), "format": mix.format, "split": mix_split,
                    "faces": counts["1"], "duplicates_dropped": counts["duplicates"]}

    cfg.model = str(init_cfg["model"])
    cfg.input_size = int(init_cfg["input_size"])
    cfg.init = str(init)
    cfg.data = ws_name
    cfg.format = "workspace" if mix is None else f"workspace+{mix.format}"
    cfg.split = None
    shape_model = None if refit_shape_model else load_shape_model(init_obj)
    result = train(cfg, dataset=ds, shape_model=shape_model)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 measures and registers
        return FinetuneResult(-1, Path(result.best_checkpoint), {}, result)

    # ---- held-out metrics: the loop's validation part, and the workspace faces in it (init vs fine-tuned)
    best_obj = load_checkpoint(result.best_checkpoint)
    best_card = dict(best_obj.get("card", {}))
    flip = bool(best_card.get("flip_tta", False))
    device = resolve_device(cfg.device)   # the rule training used (train() has already refused a missing CUDA)
    faces = cached_faces(ds, cfg.cache_dir, cache_size_for(cfg.input_size))
    _, val_idx, _ = checkpoint_split(faces.names, faces.pose, result.best_checkpoint, best_card, cfg.val_fraction,
                                     cfg.seed)
    # the workspace's faces come first in ``ds`` (a merge re-roots names but keeps that order)
    ws_names = {s.image for s in ds.samples[:len(wsd.image_ids)]}
    ws_val = np.array([i for i in val_idx if faces.names[i] in ws_names], dtype=np.int64)
    held_ws: dict[str, Any] = {"faces": int(len(ws_val))}
    if len(ws_val):
        sub = faces.subset(ws_val)
        for label, obj, path in (("init", init_obj, init), ("finetuned", best_obj, result.best_checkpoint)):
            model = build_model(obj, path).to(device)
            held_ws[label] = evaluate_faces(model, sub, cfg.input_size, flip=flip, device=device)

    sm = shape_model if shape_model is not None else load_shape_model(best_obj)
    card = {
        "kind": "finetune",
        "name": name or Path(cfg.out).name,
        "created_by": "asmnet train --from-workspace",
        "data": {"workspace": ws_name, "statuses": list(parse_statuses(statuses, ACCEPTED_STATUSES)), **wsd.counts(),
                 "image_ids": wsd.image_ids, "mix": mix_info},
        "init": {"checkpoint": str(init.resolve()), "sha256": file_sha256(init),
                 "name": str(init_card.get("name", init.stem))},
        "shape_model": {"source": "refit" if refit_shape_model or shape_model is None else "init",
                        "components": None if sm is None else sm.num_components},
        "settings": cfg.to_dict(),
        "metrics": {"selected_on": best_card.get("selected_on"), "held_out": result.best,
                    "held_out_workspace": held_ws, "units": "box-normalised NME, percent; pose MAE degrees"},
        "train": {"epochs_trained": best_card.get("epochs_trained"), "wall_time_s": best_card.get("wall_time_s"),
                  "device": best_card.get("device"), "flip_tta": flip},
    }
    card = _json_ready(card)
    # the checkpoint carries its name and the fine-tuning card too (Predictor.name / .card)
    model = build_model(best_obj, result.best_checkpoint)
    save_checkpoint(result.best_checkpoint, model, best_obj["config"], shape_model=load_shape_model(best_obj),
                    card={**best_card, "name": card["name"], "finetune": {k: v for k, v in card.items()
                                                                           if k not in ("settings",)}})
    (Path(cfg.out) / "card.json").write_text(json.dumps(card, indent=2))
    model_id = ws.register_model(card["name"], str(Path(result.best_checkpoint).resolve()),
                                 file_sha256(result.best_checkpoint), card)
    return FinetuneResult(model_id, Path(result.best_checkpoint), card, result)
