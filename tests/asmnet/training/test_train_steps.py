"""The small steps of the training loop, without training: validation summary, schedule, time budget."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from asmnet.training.train import _fit_time_budget, _lr_factor, _rescale_step, _State, summarise
from asmnet.training.train_config import TrainConfig
from asmnet.training.train_setup import Process, resolve_device


def _box_nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Independent reference: mean point error / sqrt(w * h) of the GT landmark box, percent."""
    wh = gt.max(1) - gt.min(1)
    return 100 * np.sqrt(((pred - gt) ** 2).sum(-1)).mean(-1) / np.sqrt(wh[:, 0] * wh[:, 1])


def test_summarise_is_box_nme_per_yaw_bucket_and_pose_mae():
    rng = np.random.default_rng(0)
    gt = rng.uniform(-1, 1, (6, 68, 2))
    pred = gt + rng.normal(0, 0.03, gt.shape)
    gt_pose = np.array([[10, 0, 0], [-30, 0, 0], [45, 5, 0], [-59, 0, 0], [20, 0, 0], [0, 0, 0]], float)
    pred_pose = gt_pose + np.array([[2, -1, 0], [0, 0, 4], [-3, 1, 0], [1, 1, 1], [0, 0, 0], [178, 0, 0]])
    pred_pose[5, 0] = 181.0  # 179 degrees off after wrapping, not 181
    valid = np.array([True, True, True, True, False, True])
    s = summarise(pred, gt, pred_pose, gt_pose, valid, "ibug68")
    nme = _box_nme(pred, gt)
    low, mid = [0, 1, 4, 5], [2, 3]  # |yaw| 30 goes in the low bucket
    assert s["nme"] == pytest.approx(nme.mean())
    assert s["nme_0_30"] == pytest.approx(nme[low].mean()) and s["nme_30_60"] == pytest.approx(nme[mid].mean())
    assert "nme_60_90" not in s  # an empty bucket is left out of the balanced mean
    assert s["nme_balanced"] == pytest.approx((nme[low].mean() + nme[mid].mean()) / 2)
    d = np.abs((pred_pose - gt_pose + 180) % 360 - 180)[valid]
    assert s["yaw_mae"] == pytest.approx(d[:, 0].mean()) and s["pose_mae"] == pytest.approx(d.mean())
    assert d[-1, 0] == pytest.approx(179.0)


def test_lr_schedule_and_step_rescaling():
    assert _lr_factor(0.0, 0.1) == pytest.approx(1e-3)
    assert _lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert _lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert _lr_factor(1.0, 0.1) == pytest.approx(0.01)
    # 10 of 20 planned epochs done = half way; a plan of 40 epochs keeps the progress at one half
    assert _rescale_step(100, 20, 40, 10) == 200
    assert _rescale_step(7, 3, 5, 4) == round(7 / 12 * 20)


def test_time_budget_shrinks_and_grows_the_plan_within_epochs():
    run = SimpleNamespace(proc=Process(1, 0, torch.device("cpu")), steps_per_epoch=10)
    cfg = TrainConfig(epochs=50, time_budget_min=10.0)
    state = _State(planned_epochs=50, rng=np.random.default_rng(0), epoch=4, step=40, epoch_times=[60.0] * 4)
    _fit_time_budget(cfg, run, state, elapsed=240.0)  # 6 minutes left at 1 min per epoch
    # the schedules keep their progress: 40 of 500 steps done = 8 of 100
    assert state.planned_epochs == 10 and state.step == 8
    state.epoch_times += [6.0] * 5  # the machine got 10x faster: the plan grows back, up to --epochs
    _fit_time_budget(cfg, run, state, elapsed=300.0)
    assert state.planned_epochs == 50
    _fit_time_budget(cfg, run, state, elapsed=10_000.0)  # over budget: stop after this epoch
    assert state.planned_epochs == state.epoch


def test_one_device_rule_for_training_and_finetuning(monkeypatch):
    """'auto' follows CUDA's presence, 'cuda' without CUDA is refused (not silently CPU), other names pass."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
