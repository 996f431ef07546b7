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


def _wflw98() -> LandmarkSchema:
    """WFLW 98 points (Wu et al., CVPR 2018), layout checked on the mmpose WFLW fixture image.

    0-32 jaw (subject's right ear to left ear); 33-41 right brow (33-37 upper edge outer->inner,
    38-41 lower edge inner->outer); 42-50 left brow (42-46 upper inner->outer, 47-50 lower outer->inner);
    51-54 nose bridge; 55-59 nose base; 60-67 right eye (60 outer corner, 61-63 upper lid, 64 inner corner,
    65-67 lower lid); 68-75 left eye (68 inner, 69-71 upper, 72 outer, 73-75 lower); 76-87 outer lip
    (76 right corner, 82 left corner); 88-95 inner lip (88 right corner, 92 left corner); 96/97 pupils.
    """
    names: list[str] = [f"jaw_{i}" for i in range(33)]
    names += [f"right_brow_upper_{i}" for i in range(5)] + [f"right_brow_lower_{i}" for i in range(4)]
    names += [f"left_brow_upper_{i}" for i in range(5)] + [f"left_brow_lower_{i}" for i in range(4)]
    names += [f"nose_bridge_{i}" for i in range(4)] + [f"nose_base_{i}" for i in range(5)]
    names += ["right_eye_outer", "right_eye_top_0", "right_eye_top_1", "right_eye_top_2", "right_eye_inner",
              "right_eye_bottom_0", "right_eye_bottom_1", "right_eye_bottom_2"]
    names += ["left_eye_inner", "left_eye_top_0", "left_eye_top_1", "left_eye_top_2", "left_eye_outer",
              "left_eye_bottom_0", "left_eye_bottom_1", "left_eye_bottom_2"]
    names += [f"outer_lip_{i}" for i in range(12)] + [f"inner_lip_{i}" for i in range(8)]
    names += ["right_pupil", "left_pupil"]
    groups = {
        "jaw": tuple(range(0, 33)),
        "right_eyebrow": tuple(range(33, 42)),
        "left_eyebrow": tuple(range(42, 51)),
        "nose": tuple(range(51, 60)),
        "right_eye": tuple(range(60, 68)) + (96,),
        "left_eye": tuple(range(68, 76)) + (97,),
        "outer_lip": tuple(range(76, 88)),
        "inner_lip": tuple(range(88, 96)),
    }
    edges = (_chain(range(0, 33)) + _chain(range(33, 42), True) + _chain(range(42, 51), True)
             + _chain(range(51, 55)) + _chain(range(55, 60)) + [(54, 57)] + _chain(range(60, 68), True)
             + _chain(range(68, 76), True) + _chain(range(76, 88), True) + _chain(range(88, 96), True))
    flips = [(i, 32 - i) for i in range(16)]
    flips += [(33 + i, 46 - i) for i in range(5)]                   # upper brow edges
    flips += [(38, 50), (39, 49), (40, 48), (41, 47)]               # lower brow edges
    flips += [(55, 59), (56, 58)]
    flips += [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)]
    flips += [(76, 82), (77, 81), (78, 80), (87, 83), (86, 84)]
    flips += [(88, 92), (89, 91), (95, 93)]
    flips += [(96, 97)]
    return LandmarkSchema(
        name="wflw98", names=tuple(names), groups=groups, edges=tuple(edges), flip_pairs=tuple(flips),
        interocular=(60, 72), pupils=(tuple(range(60, 68)), tuple(range(68, 76))),
        description="WFLW 98-point markup (Wu et al. 2018); pupils 96/97 are annotated too, the 'pupils' "
                    "normaliser uses the eye-contour means like the 68-point schema",
    )


def _cofw29() -> LandmarkSchema:
    """COFW 29 points (Burgos-Artizzu et al., ICCV 2013), layout checked on the mmpose COFW fixture image.

    Pairs are (subject's right, subject's left): 0/1 brow outer corners, 2/3 brow inner corners,
    4/6 brow tops, 5/7 brow bottoms, 8/9 eye outer corners, 10/11 eye inner corners, 12/14 upper lids,
    13/15 lower lids, 16/17 pupils, 18/19 nostrils, 22/23 mouth corners; unpaired: 20 nose tip,
    21 subnasale, 24/25 upper lip top/bottom, 26/27 lower lip top/bottom, 28 chin.
    """
    names = ("right_brow_outer", "left_brow_outer", "right_brow_inner", "left_brow_inner",
             "right_brow_top", "right_brow_bottom", "left_brow_top", "left_brow_bottom",
             "right_eye_outer", "left_eye_outer", "right_eye_inner", "left_eye_inner",
             "right_eye_top", "right_eye_bottom", "left_eye_top", "left_eye_bottom",
             "right_pupil", "left_pupil", "right_nostril", "left_nostril", "nose_tip", "subnasale",
             "mouth_right", "mouth_left", "upper_lip_top", "upper_lip_bottom", "lower_lip_top",
             "lower_lip_bottom", "chin")
    groups = {
        "right_eyebrow": (0, 2, 4, 5),
        "left_eyebrow": (1, 3, 6, 7),
        "right_eye": (8, 10, 12, 13, 16),
        "left_eye": (9, 11, 14, 15, 17),
        "nose": (18, 19, 20, 21),
        "mouth": (22, 23, 24, 25, 26, 27),
        "jaw": (28,),
    }
    edges = ((0, 4), (4, 2), (2, 5), (5, 0), (1, 6), (6, 3), (3, 7), (7, 1),
             (8, 12), (12, 10), (10, 13), (13, 8), (9, 14), (14, 11), (11, 15), (15, 9),
             (18, 20), (20, 19), (18, 21), (21, 19),
             (22, 24), (24, 23), (23, 27), (27, 22), (22, 25), (25, 23), (23, 26), (26, 22))
    flips = ((0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17), (18, 19), (22, 23))
    return LandmarkSchema(
        name="cofw29", names=names, groups=groups, edges=edges, flip_pairs=flips,
        interocular=(8, 9), pupils=((16,), (17,)),
        description="COFW 29-point markup (Burgos-Artizzu et al. 2013); COFW papers usually normalise by the "
                    "pupil distance (16/17)",
    )


def _aflw19() -> LandmarkSchema:
    """AFLW 19 points (the 21 AFLW points without the ear lobes), checked on the mmpose AFLW fixture.

    0-2 right brow (outer, centre, inner), 3-5 left brow (inner, centre, outer), 6-8 right eye
    (outer, centre, inner), 9-11 left eye (inner, centre, outer), 12-14 nose (right, tip, left),
    15-17 mouth (right corner, centre, left corner), 18 chin.
    """
    names = ("right_brow_outer", "right_brow_centre", "right_brow_inner",
             "left_brow_inner", "left_brow_centre", "left_brow_outer",
             "right_eye_outer", "right_eye_centre", "right_eye_inner",
             "left_eye_inner", "left_eye_centre", "left_eye_outer",
             "nose_right", "nose_tip", "nose_left", "mouth_right", "mouth_centre", "mouth_left", "chin")
    groups = {
        "right_eyebrow": (0, 1, 2), "left_eyebrow": (3, 4, 5), "right_eye": (6, 7, 8), "left_eye": (9, 10, 11),
        "nose": (12, 13, 14), "mouth": (15, 16, 17), "jaw": (18,),
    }
    edges = tuple(_chain(range(0, 3)) + _chain(range(3, 6)) + _chain(range(6, 9)) + _chain(range(9, 12))
                  + _chain(range(12, 15)) + _chain(range(15, 18)))
    flips = ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17))
    return LandmarkSchema(
        name="aflw19", names=names, groups=groups, edges=edges, flip_pairs=flips,
        interocular=(6, 11), pupils=((7,), (10,)),
        description="AFLW 19-point markup (Koestinger et al. 2011, ear points dropped as in the usual protocol)",
    )


SCHEMAS: dict[str, LandmarkSchema] = {}


def register(schema: LandmarkSchema) -> LandmarkSchema:
    """Validate and add a schema to ``SCHEMAS``; returns it."""
    schema.validate()
    SCHEMAS[schema.name] = schema
    return schema


IBUG68 = register(_ibug68())
WFLW98 = register(_wflw98())
COFW29 = register(_cofw29())
AFLW19 = register(_aflw19())


def get_schema(name: str) -> LandmarkSchema:
    """The schema called ``name``; ValueError listing the valid names otherwise."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValueError(f"unknown landmark schema {name!r}; choose one of {sorted(SCHEMAS)}") from None


def schema_for_points(num_points: int) -> str:
    """The name of the only registered schema with ``num_points`` points.

    Raises ValueError when no schema, or more than one, has that many points (the caller must then
    name the schema); the message lists the registered schemas and their sizes.
    """
    matches = [name for name, sc in SCHEMAS.items() if sc.num_points == num_points]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{n} ({sc.num_points} points)" for n, sc in sorted(SCHEMAS.items()))
    if not matches:
        raise ValueError(f"no landmark schema has {num_points} points; known schemas: {known}")
    raise ValueError(f"{num_points} points is ambiguous ({sorted(matches)}); name the schema. Known: {known}")
