"""Similarity maths of the shape model (numpy only): the 2-D similarity transform, the one weighted
least-squares similarity solver, the basis of what a similarity does to a shape, and generalised Procrustes
alignment. Points are (..., K, 2) x, y arrays or, inside the solvers, (..., K) complex numbers x + iy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    """A 2-D similarity transform ``y = scale * x @ R(angle).T + translation``.

    Attributes:
        scale: float, image pixels per model unit.
        angle: float, radians (counter-clockwise in x-right / y-up terms, i.e. clockwise on screen).
        translation: (2,) float, pixels.
    """

    scale: float
    angle: float
    translation: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        """(2, 2) scale * rotation."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.scale * np.array([[c, -s], [s, c]])

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) model-frame points -> (K, 2) image points."""
        return points @ self.matrix.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) image points -> (K, 2) model-frame points."""
        return (points - self.translation) @ np.linalg.inv(self.matrix).T


def as_complex(points: np.ndarray) -> np.ndarray:
    """(..., K, 2) x, y -> (..., K) complex x + iy."""
    return points[..., 0] + 1j * points[..., 1]


def as_xy(z: np.ndarray) -> np.ndarray:
    """(..., K) complex -> (..., K, 2) float64 x, y."""
    return np.stack([z.real, z.imag], -1)


def rotation_matrices(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N, 2, 2) rotations [[c, -s], [s, c]] from (N,) cosines and sines."""
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def similarity_lsq(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least-squares similarity taking ``src`` onto ``dst``, in closed form: the one similarity
    solver of the project (Procrustes alignment, ``closest_plausible``, the ``constrain`` fit).

    Points are complex numbers x + iy, so a similarity is ``dst ~ z * src + t`` with ``z = scale * e^(i angle)``.

    Args:
        src, dst: (..., K) complex point sets (``src`` and ``dst`` broadcast against each other).
        weights: (K,) non-negative weights (not all zero), or None for all ones.
    Returns:
        (z, t): complex arrays of shape (..., 1); ``Similarity(abs(z), angle(z), (t.real, t.imag))``. A
        source whose points all coincide gets z = 0.
    """
    w = np.ones(src.shape[-1]) if weights is None else np.asarray(weights, dtype=np.float64)
    ws = w.sum()
    mu_s = (w * src).sum(-1, keepdims=True) / ws
    mu_d = (w * dst).sum(-1, keepdims=True) / ws
    s0 = src - mu_s
    z = (w * s0.conj() * (dst - mu_d)).sum(-1, keepdims=True) / np.maximum((w * np.abs(s0) ** 2).sum(-1, keepdims=True),
                                                                          1e-300)
    return z, mu_d - z * mu_s


def similarity_basis(mean: np.ndarray) -> np.ndarray:
    """(2K, 4) orthonormal basis of what a similarity does to the (K, 2) ``mean`` (flattened x0, y0, x1 ...):
    scale, 90-degree turn, x shift, y shift. Shape coefficients live orthogonal to it."""
    k = mean.shape[0]
    turn = np.stack([-mean[:, 1], mean[:, 0]], 1).reshape(-1)
    q, _ = np.linalg.qr(np.stack([mean.reshape(-1), turn, np.tile([1.0, 0.0], k), np.tile([0.0, 1.0], k)], 1))
    return q


def _normalise(shape: np.ndarray) -> np.ndarray:
    c = shape - shape.mean(0)
    return c / np.linalg.norm(c)


def _align_all(shapes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Similarity-align every (K, 2) shape of (N, K, 2) onto ``ref`` (K, 2) (``similarity_lsq``)."""
    z = as_complex(shapes)
    a, t = similarity_lsq(z, as_complex(ref))
    return as_xy(a * z + t)


def procrustes_align(shapes: np.ndarray, iterations: int = 20, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Procrustes alignment.

    Args:
        shapes: (N, K, 2) shapes in any frame (pixels).
    Returns:
        aligned (N, K, 2) shapes in the model frame, mean (K, 2) centred with unit Frobenius norm.
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[2] != 2:
        raise ValueError(f"shapes must be (N, K, 2), found {shapes.shape}")
    mean = _normalise(shapes[0])
    for _ in range(iterations):
        aligned = _align_all(shapes, mean)
        new_mean = _normalise(aligned.mean(0))
        new_mean = _normalise(_align_all(new_mean[None], mean)[0])  # keep the reference orientation
        done = np.linalg.norm(new_mean - mean) < tol
        mean = new_mean
        if done:
            break
    return _align_all(shapes, mean), mean
