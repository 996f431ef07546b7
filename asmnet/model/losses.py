"""ASM-assisted loss (ASMNet paper) and its alpha schedule.

    L = MSE(pred, gt) + alpha * MSE(pred, ASM(gt)) + pose_weight * MSE(pose_pred, pose_gt)

ASM(gt) is the ground truth projected onto the shape model (default 90% of the variance) with each
coefficient clamped to +-3 sqrt(lambda): the closest *plausible* shape (``ShapeModel.closest_plausible``,
the project's one closed-form projection; no gradient flows through it). Alpha hardens over training:
2 -> 1 -> 0.5 over thirds by default.
Points are normalised crop coordinates in [-1, 1]; pose is in radians; the pose term is averaged only
over samples that have a usable pose.
"""
from __future__ import annotations

import torch
from torch import nn

from asmnet.model.asm import LIMIT_SD, ShapeModel

DEFAULT_ALPHAS = (2.0, 1.0, 0.5)


class AlphaSchedule:
    """Piecewise-constant alpha over equal parts of training.

    Args:
        values: alpha for each part, e.g. (2, 1, 0.5) over thirds; () or None switches the ASM term off.
    """

    def __init__(self, values: tuple[float, ...] | list[float] | None = DEFAULT_ALPHAS):
        self.values = tuple(float(v) for v in (values or ()))
        if any(v < 0 for v in self.values):
            raise ValueError(f"alpha values must be non-negative, found {self.values}")

    @classmethod
    def parse(cls, text: str) -> "AlphaSchedule":
        """From a CLI string: ``"2,1,0.5"``, a single number, or ``"off"``."""
        text = text.strip().lower()
        if text in ("off", "none", "0", ""):
            return cls(())
        try:
            return cls(tuple(float(v) for v in text.split(",")))
        except ValueError:
            raise ValueError(f"alpha schedule must be comma-separated numbers or 'off', found {text!r}") from None

    def __call__(self, progress: float) -> float:
        """Alpha at ``progress`` in [0, 1] (fraction of training done)."""
        if not self.values:
            return 0.0
        i = int(min(max(progress, 0.0), 1.0 - 1e-9) * len(self.values))
        return self.values[i]

    def __repr__(self) -> str:
        return f"AlphaSchedule({self.values})"


class ShapeProjector(nn.Module):
    """Gradient-free projection of a batch of shapes onto a (truncated) shape model.

    It calls ``ShapeModel.closest_plausible`` (the one projection of the project: closed form, exact, with
    each coefficient clipped to ±3 sd) on the CPU in float64; for B = 32 faces of 68 points that costs about
    a millisecond, far below a training step.

    Args:
        model: the ``ShapeModel`` (numpy); its leading components explaining ``variance`` are used.
        variance: fraction of the shape variance to keep (0.9 in ASMNet's loss).
    """

    def __init__(self, model: ShapeModel, variance: float = 0.9):
        super().__init__()
        self.model = model.truncated(variance)
        self.num_components = self.model.num_components

    @torch.no_grad()
    def forward(self, shapes: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) shapes -> (B, K, 2) closest plausible shapes in the same frame (same dtype and device)."""
        x = shapes.detach().double().cpu().numpy()
        out = self.model.closest_plausible(x, LIMIT_SD)
        return torch.from_numpy(out).to(device=shapes.device, dtype=shapes.dtype)


class ASMLoss(nn.Module):
    """L = MSE(pred, gt) + alpha * MSE(pred, ASM(gt)) + pose_weight * masked MSE(pose).

    Args:
        projector: a ``ShapeProjector``, or None (then the ASM term is always 0).
        schedule: the ``AlphaSchedule``.
        pose_weight: weight of the pose term (0.5 in the paper).
    """

    def __init__(self, projector: ShapeProjector | None, schedule: AlphaSchedule | None = None,
                 pose_weight: float = 0.5):
        super().__init__()
        self.projector = projector
        self.schedule = schedule if schedule is not None else AlphaSchedule()
        self.pose_weight = pose_weight

    def forward(self, pred_points: torch.Tensor, gt_points: torch.Tensor, pred_pose: torch.Tensor | None = None,
                gt_pose: torch.Tensor | None = None, pose_valid: torch.Tensor | None = None, *,
                progress: float = 0.0) -> tuple[torch.Tensor, dict]:
        """Total loss and its parts.

        Args:
            pred_points, gt_points: (B, K, 2) normalised crop coordinates.
            pred_pose, gt_pose: (B, 3) radians (optional).
            pose_valid: (B,) bool; samples without a pose are left out of the pose term.
            progress: fraction of training done, in [0, 1] (selects alpha).
        Returns:
            (loss scalar tensor, {"landmark", "asm", "pose", "alpha"} floats).
        """
        pred_points = pred_points.float()
        gt_points = gt_points.float()
        l_pts = torch.mean((pred_points - gt_points) ** 2)
        alpha = self.schedule(progress)
        l_asm = torch.zeros((), device=pred_points.device)
        if alpha > 0 and self.projector is not None:
            target = self.projector(gt_points)
            l_asm = torch.mean((pred_points - target.float()) ** 2)
        l_pose = torch.zeros((), device=pred_points.device)
        if pred_pose is not None and gt_pose is not None and self.pose_weight > 0:
            err = (pred_pose.float() - gt_pose.float()) ** 2  # (B, 3)
            if pose_valid is None:
                l_pose = err.mean()
            else:
                mask = pose_valid.float().unsqueeze(1)
                l_pose = (err * mask).sum() / (mask.sum() * 3).clamp_min(1.0)
        loss = l_pts + alpha * l_asm + self.pose_weight * l_pose
        return loss, {"landmark": float(l_pts.detach()), "asm": float(l_asm.detach()),
                      "pose": float(l_pose.detach()), "alpha": alpha}
