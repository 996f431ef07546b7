"""Landmark schemas as data: one definition serves drawing, mirroring, metrics and augmentation.

A schema names each point, groups points into face regions, lists the edges to draw, the left/right
flip pairs (for mirrored augmentation and mirror-mode editing) and the indices the normalisers use.
"Left" and "right" are the *subject's*: the subject's right eye appears on the image's left.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LandmarkSchema:
    """A landmark layout.

    Attributes:
        name: registry key, e.g. ``"ibug68"``.
        names: one name per point, K entries.
        groups: face region -> point indices (every point in exactly one region).
        edges: (i, j) pairs to draw as lines.
        flip_pairs: (i, j) pairs that swap under a horizontal mirror; unpaired points map to themselves.
        interocular: indices of the outer eye corners (subject's right, subject's left).
        pupils: (right-eye indices, left-eye indices); the pupil is the mean of each.
    """

    name: str
    names: tuple[str, ...]
    groups: dict[str, tuple[int, ...]]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    interocular: tuple[int, int] | None = None
    pupils: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    description: str = ""
    _perm: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @property
    def num_points(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> np.ndarray:
        """(K,) int array p such that mirrored_points = flip_x(points)[p]."""
        perm = np.arange(self.num_points)
        for i, j in self.flip_pairs:
            perm[i], perm[j] = j, i
        return perm

    def mirror(self, points: np.ndarray, width: float) -> np.ndarray:
        """Mirror (..., K, 2) points horizontally in an image of ``width`` pixels (0-based pixel centres).

        x' = (width - 1) - x, then left/right partners swap so index i still means the same anatomical point.
        """
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (width - 1) - out[..., 0]
        return out[..., self.flip_permutation(), :]

    def group_of(self, index: int) -> str:
        """The region name of point ``index``."""
        for g, idx in self.groups.items():
            if index in idx:
                return g
        raise ValueError(f"point index {index} is not in schema {self.name} (0..{self.num_points - 1})")

    def validate(self) -> None:
        """Check internal consistency; raises ValueError naming the problem."""
        k = self.num_points
        seen: list[int] = [i for idx in self.groups.values() for i in idx]
        if sorted(seen) != list(range(k)):
            raise ValueError(f"schema {self.name}: groups must cover each of the {k} points exactly once")
        for a, b in self.edges + self.flip_pairs:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"schema {self.name}: index out of range in pair ({a}, {b})")
        flat = [i for p in self.flip_pairs for i in p]
        if len(flat) != len(set(flat)):
            raise ValueError(f"schema {self.name}: a point appears in two flip pairs")


def _chain(idx: range | list[int], closed: bool = False) -> list[tuple[int, int]]:
    idx = list(idx)
    e = list(zip(idx[:-1], idx[1:]))
    if closed:
        e.append((idx[-1], idx[0]))
    return e


def _ibug68() -> LandmarkSchema:
    names: list[str] = []
    names += [f"jaw_{i}" for i in range(17)]
    names += [f"right_brow_{i}" for i in range(5)]
    names += [f"left_brow_{i}" for i in range(5)]
    names += [f"nose_bridge_{i}" for i in range(4)]
    names += [f"nose_base_{i}" for i in range(5)]
    names += ["right_eye_outer", "right_eye_top_outer", "right_eye_top_inner", "right_eye_inner",
              "right_eye_bottom_inner", "right_eye_bottom_outer"]
    names += ["left_eye_inner", "left_eye_top_inner", "left_eye_top_outer", "left_eye_outer",
              "left_eye_bottom_outer", "left_eye_bottom_inner"]
    names += [f"outer_lip_{i}" for i in range(12)]
    names += [f"inner_lip_{i}" for i in range(8)]
    groups = {
        "jaw": tuple(range(0, 17)),
        "right_eyebrow": tuple(range(17, 22)),
        "left_eyebrow": tuple(range(22, 27)),
        "nose": tuple(range(27, 36)),
        "right_eye": tuple(range(36, 42)),
        "left_eye": tuple(range(42, 48)),
        "outer_lip": tuple(range(48, 60)),
        "inner_lip": tuple(range(60, 68)),
    }
    edges = (_chain(range(0, 17)) + _chain(range(17, 22)) + _chain(range(22, 27)) + _chain(range(27, 31))
             + _chain(range(31, 36)) + [(30, 33)] + _chain(range(36, 42), True) + _chain(range(42, 48), True)
             + _chain(range(48, 60), True) + _chain(range(60, 68), True))
    flips = [(i, 16 - i) for i in range(8)]
    flips += [(17 + i, 26 - i) for i in range(5)]
    flips += [(31, 35), (32, 34)]
    flips += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    flips += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56)]
    flips += [(60, 64), (61, 63), (67, 65)]
    return LandmarkSchema(
        name="ibug68", names=tuple(names), groups=groups, edges=tuple(edges), flip_pairs=tuple(flips),
        interocular=(36, 45), pupils=(tuple(range(36, 42)), tuple(range(42, 48))),
        description="iBUG 68-point markup (300-W, AFLW2000-3D, 300-VW, 300W-LP, Multi-PIE)",
    )


SCHEMAS: dict[str, LandmarkSchema] = {}


def register(schema: LandmarkSchema) -> LandmarkSchema:
    """Validate and add a schema to ``SCHEMAS``; returns it."""
    schema.validate()
    SCHEMAS[schema.name] = schema
    return schema


IBUG68 = register(_ibug68())


def get_schema(name: str) -> LandmarkSchema:
    """The schema called ``name``; ValueError listing the valid names otherwise."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValueError(f"unknown landmark schema {name!r}; choose one of {sorted(SCHEMAS)}") from None
