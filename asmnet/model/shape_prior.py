"""The editor's shape constraint: a drag as evidence about the whole face (numpy only).

A drag tells us where one point really is. Under the shape model the true face is Gaussian in the model
frame (``asmnet.model.asm``), with covariance

    C = Pᵀ Λ P  +  ρ² I  +  τ² Q Qᵀ          (2K x 2K, model units²)

(P the components, Λ their variances, ρ² the variance the kept components leave per coordinate, Q the four
similarity directions with a loose τ² so that the pose is left free). The points on screen before the drag
are noisy observations of the true face, point j with standard deviation ``σ_j`` (model units; the less the
network trusts a point, the larger). Conditioning first on those observations gives a covariance

    S = (C⁻¹ + diag(1 / σ²))⁻¹

of what is still unknown; conditioning then on the pinned points (the dropped point and every point the
user placed before, all *exact*) moves every other point by the conditional mean

    Δ = S[:, pins] S[pins, pins]⁻¹ (pins now − pins before)

and nothing else: without a drag nothing moves, a pinned point stays exactly where it was put, confident
points far from the drag hardly move, doubtful points and those that vary with the dragged one follow it.
Everything is computed in model units after taking out the similarity, so the result is the same on an
image and on its upscaled copy (up to that scale), and a rotated face behaves like an upright one.

``stiffness`` s in [0, 1] scales the observation noise, σ_j = σ0 · s / (1 − s) / sqrt(w_j): 0 is a free drag
(nothing else moves), 1 trusts the shape model alone (the points on screen carry no weight). The default
was chosen on validation faces by ``python -m bench correction`` (see README, "Correction effort").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from asmnet.model.asm import ShapeModel
from asmnet.model.procrustes import similarity_basis

#: the editor's shape model file (``editor_shape_model``)
EDITOR_SHAPE_MODEL = Path(__file__).resolve().parents[1] / "weights" / "editor_shape_model68.npz"
#: the typical error of a network point, model units (the mean face is ~0.32 model units across, so this is
#: ~5 % of the face size, the shipped model's NME)
NOISE_SD = 0.016
#: variance of the similarity directions (model units²): loose, so the pose follows the pins freely
POSE_VARIANCE = 1.0
#: lower bound of the per-coordinate residual variance, as a fraction of the model's total variance
RESIDUAL_FLOOR = 1e-5
#: stiffness at or above this trusts the shape model alone (no observation noise term)
STIFF_LIMIT = 0.999


def prior_precision(model) -> np.ndarray:
    """C⁻¹ (2K, 2K) of the model's shape prior (see the module docstring); cached on the model."""
    cache = getattr(model, "_prior_precision_cache", None)
    if cache is not None and cache[0] is model.components and cache[1] is model.eigenvalues:
        return cache[2]
    n = 2 * model.num_points
    rho2 = max(float(model.residual_variance), RESIDUAL_FLOOR * float(model.total_variance), 1e-12)
    q = similarity_basis(model.mean)
    c = (model.components.T * model.eigenvalues) @ model.components + rho2 * np.eye(n) + POSE_VARIANCE * (q @ q.T)
    prec = np.linalg.inv(c)
    prec = (prec + prec.T) / 2
    model._prior_precision_cache = (model.components, model.eigenvalues, prec)
    return prec


def noise_precision(weights: np.ndarray, stiffness: float, noise_sd: float = NOISE_SD) -> np.ndarray:
    """(K,) 1 / σ_j² (model units⁻²) for per-point trust ``weights`` (K,) at ``stiffness`` in (0, 1]."""
    if stiffness >= STIFF_LIMIT:
        return np.zeros_like(np.asarray(weights, np.float64))
    ratio = stiffness / (1.0 - stiffness)
    return np.asarray(weights, np.float64) / (noise_sd * ratio) ** 2


def conditional_move(model, points: np.ndarray, pinned: np.ndarray, weights: np.ndarray, stiffness: float,
                     previous: np.ndarray | None = None) -> np.ndarray:
    """The other points moved by the conditional mean of the pinned points' displacement.

    Args:
        model: an ``asmnet.model.asm.ShapeModel``.
        points: (K, 2) float64 pixels, the pinned points at their new places.
        pinned: (n,) int indices of the exact points (n >= 1).
        weights: (K,) non-negative trust in each on-screen point (1 = a typical network point).
        stiffness: in (0, 1]; see the module docstring.
        previous: (K, 2) the points before this edit (the pins' displacement is ``points - previous``);
            None when unknown: then each pin's displacement is taken from where the other points (through
            the model) put it.
    Returns:
        (K, 2) float64 pixels; ``out[pinned] == points[pinned]``.
    """
    k = model.num_points
    base = points if previous is None else previous
    _, T = model.project(base)
    q = T.invert(points).reshape(-1)                                     # (2K,) model frame
    prec0 = prior_precision(model)
    dinv = noise_precision(weights, stiffness)
    if previous is None:
        dinv = dinv.copy()
        dinv[pinned] = 0.0                                               # the pins' old places are unknown
    dinv2 = np.repeat(dinv, 2)
    prec = prec0 + np.diag(dinv2)
    s = np.linalg.inv(prec)
    pc = np.stack([2 * pinned, 2 * pinned + 1], 1).reshape(-1)
    if previous is None:
        m = s @ (prec0 @ model.mean.reshape(-1) + dinv2 * q)              # posterior mean given the others
        ref = m[pc]
    else:
        ref = T.invert(previous).reshape(-1)[pc]
    delta = s[:, pc] @ np.linalg.solve(s[np.ix_(pc, pc)], q[pc] - ref)
    start = q.copy()
    start[pc] = ref                                                      # pins at their old places ...
    out = T.apply((start + delta).reshape(k, 2))                         # ... plus delta: exactly the new ones
    out[pinned] = points[pinned]
    return out


def editor_shape_model(fallback=None):
    """The annotator's shape model: ``asmnet/weights/editor_shape_model68.npz`` when it exists (trained on
    more face shapes and calibrated for the plausibility readout, see the model card), else ``fallback``
    (the checkpoint's shape model). Its ``source`` attribute says which."""
    if EDITOR_SHAPE_MODEL.is_file():
        model = ShapeModel.load(EDITOR_SHAPE_MODEL)
        model.source = f"asmnet/weights/{EDITOR_SHAPE_MODEL.name}"
        return model
    if fallback is not None:
        fallback.source = "the checkpoint's shape model"
    return fallback
