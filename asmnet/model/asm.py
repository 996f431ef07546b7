"""Active Shape Model: a point distribution model of face shapes (numpy only; never imports torch).

A shape is (K, 2) x, y points. The model describes shapes in a normalised *model frame* (centred at the
origin, the mean shape has unit Frobenius norm) and places them in the image with a similarity transform::

    image_points = scale * (mean + (components.T @ b).reshape(K, 2)) @ R.T + translation

``b`` (m,) are the shape coefficients, ``eigenvalues`` (m,) their variances (model units squared).
Fitting = generalised Procrustes alignment (similarity) followed by PCA keeping a variance fraction.

Used by the ASM-assisted loss (projection of ground truth onto the model), by the predictor
(``mahalanobis`` as an implausibility score) and by the annotator (``constrain``: the closest plausible
shape that keeps the points the user pinned where they are).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from asmnet.model import shape_model_file
from asmnet.model.procrustes import (Similarity, as_complex, as_xy, procrustes_align, rotation_matrices, similarity_basis,
                                     similarity_lsq)

#: bound on each coefficient in standard deviations (|b_j| <= LIMIT_SD * sqrt(lambda_j))
LIMIT_SD = 3.0
CLAMP_MODES = ("box", "ellipse")
#: ``ShapeModel.constrain`` methods: the editor's conditional update, and the fit used before it
CONSTRAIN_METHODS = ("conditional", "legacy")
#: quantiles of held-out ground-truth distances that become the "unusual" / "implausible" thresholds
PLAUSIBILITY_QUANTILES = (0.97, 0.995)


class ShapeModel:
    """Point distribution model: mean shape, PCA components and their variances.

    Attributes:
        mean: (K, 2) mean shape in the model frame (centred, unit Frobenius norm).
        components: (m, 2K) orthonormal rows (x0, y0, x1, y1, ...).
        eigenvalues: (m,) variance of each coefficient, model units squared, descending.
        total_variance: total variance of the aligned training shapes (for variance fractions).
        residual_variance: mean variance per dimension outside the kept components (for ``mahalanobis``).
        schema: landmark schema name (e.g. ``"ibug68"``).
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, eigenvalues: np.ndarray, *,
                 total_variance: float | None = None, residual_variance: float = 0.0, schema: str = "ibug68"):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64)
        self.eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        k = self.mean.shape[0]
        if self.mean.shape != (k, 2) or self.components.shape[1:] != (2 * k,) or \
                self.eigenvalues.shape != (self.components.shape[0],):
            raise ValueError(f"inconsistent shape model arrays: mean {self.mean.shape}, components "
                             f"{self.components.shape}, eigenvalues {self.eigenvalues.shape}")
        self.total_variance = float(self.eigenvalues.sum() if total_variance is None else total_variance)
        self.residual_variance = float(residual_variance)
        self.schema = schema
        #: (unusual, implausible) Mahalanobis thresholds from held-out ground truth (``calibrate``), or None
        self.plausibility_thresholds: tuple[float, float] | None = None

    # ------------------------------------------------------------------ fitting and io
    @classmethod
    def fit(cls, shapes: np.ndarray, variance: float = 0.95, *, schema: str = "ibug68",
            mirror_permutation: np.ndarray | None = None) -> "ShapeModel":
        """Fit to (N, K, 2) shapes (pixels, any frame), keeping the components that explain ``variance``.

        mirror_permutation: optional (K,) flip permutation (``schema.flip_permutation()``); when given the
        mirrored shapes are added, which makes the model left/right symmetric.
        """
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be in (0, 1], found {variance}")
        shapes = np.asarray(shapes, dtype=np.float64)
        if shapes.ndim != 3 or shapes.shape[2] != 2 or len(shapes) < 3:
            raise ValueError(f"shapes must be (N >= 3, K, 2), found {shapes.shape}")
        if not np.isfinite(shapes).all():
            bad = np.argwhere(~np.isfinite(shapes).all(axis=2))[0]
            raise ValueError(f"shape {bad[0]} has a non-finite point {bad[1]}")
        if mirror_permutation is not None:
            mirrored = shapes.copy()
            mirrored[..., 0] = -mirrored[..., 0]
            shapes = np.concatenate([shapes, mirrored[:, np.asarray(mirror_permutation)]])
        aligned, mean = procrustes_align(shapes)
        x = aligned.reshape(len(aligned), -1)
        mflat = mean.reshape(-1)
        # tangent space (Cootes): scale each aligned shape so that it touches the mean's tangent plane
        x = x / (x @ mflat)[:, None] - mflat
        # remove what a similarity transform already explains (scale, rotation, translation), so that the
        # shape coefficients and the pose never compete for the same motion
        q = similarity_basis(mean)
        x = x - (x @ q) @ q.T
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        ev = s ** 2 / (len(x) - 1)
        total = float(ev.sum())
        frac = np.cumsum(ev) / total
        m = int(np.searchsorted(frac, variance - 1e-12) + 1)
        m = min(m, len(ev))
        dims_left = x.shape[1] - 4 - m
        residual = float(ev[m:].sum() / max(dims_left, 1))
        return cls(mean, vt[:m], ev[:m], total_variance=total, residual_variance=residual, schema=schema)

    def truncated(self, variance: float) -> "ShapeModel":
        """A model keeping the leading components that explain ``variance`` of the total (e.g. 0.9)."""
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be in (0, 1], found {variance}")
        frac = np.cumsum(self.eigenvalues) / self.total_variance
        m = int(min(np.searchsorted(frac, variance - 1e-12) + 1, len(frac)))
        dims_left = self.components.shape[1] - 4 - m
        residual = (self.total_variance - self.eigenvalues[:m].sum()) / max(dims_left, 1)
        return ShapeModel(self.mean, self.components[:m], self.eigenvalues[:m], total_variance=self.total_variance,
                          residual_variance=residual, schema=self.schema)

    @property
    def num_points(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def variance_explained(self) -> float:
        """Fraction of the training shapes' variance the kept components explain."""
        return float(self.eigenvalues.sum() / self.total_variance)

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (arrays only, no pickle; ``asmnet.model.shape_model_file``)."""
        return shape_model_file.write(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "ShapeModel":
        """Read a model written by ``save``; ValueError naming the file when it is not one."""
        return shape_model_file.read(path, cls)

    # ------------------------------------------------------------------ core operations
    def _check(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        if p.shape != (self.num_points, 2):
            raise ValueError(f"points must be ({self.num_points}, 2), found {p.shape}")
        if not np.isfinite(p).all():
            bad = int(np.argwhere(~np.isfinite(p).all(axis=1))[0, 0])
            raise ValueError(f"point {bad} is not finite")
        return p

    def instance(self, b: np.ndarray) -> np.ndarray:
        """(K, 2) model-frame shape for coefficients b (m,)."""
        return self.mean + (np.asarray(b, dtype=np.float64) @ self.components).reshape(-1, 2)

    def reconstruct(self, b: np.ndarray, transform: Similarity | None = None) -> np.ndarray:
        """(K, 2) shape for coefficients b (m,), placed by ``transform`` (model frame when None)."""
        x = self.instance(b)
        return x if transform is None else transform.apply(x)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, Similarity]:
        """Coefficients and pose of (K, 2) points: returns (b (m,), transform), unclamped.

        The exact least-squares optimum over (similarity, b) in closed form (``project_batch``);
        ``reconstruct(*project(x))`` is the closest shape the model can express (without limits) and
        projecting it again returns the same b.
        """
        p = self._check(points)
        b, scale, angle, t = self.project_batch(p[None])
        return b[0], Similarity(float(scale[0]), float(angle[0]), t[0])

    def _projection_basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(D (2K, m+3), D⁺ (m+3, 2K), Q = I − D D⁺ (2K, 2K)): design columns mean, components, x shift, y shift,
        and the projector onto what they cannot express (cached)."""
        cache = getattr(self, "_basis_cache", None)
        if cache is not None and cache[0] is self.components and cache[1] is self.mean:
            return cache[2], cache[3], cache[4]
        k = self.num_points
        d = np.column_stack([self.mean.reshape(-1), self.components.T, np.tile([1.0, 0.0], k),
                             np.tile([0.0, 1.0], k)])
        pinv = np.linalg.pinv(d)
        q = np.eye(2 * k) - d @ pinv
        q = (q + q.T) / 2  # symmetric up to rounding
        self._basis_cache = (self.components, self.mean, d, pinv, q)
        return d, pinv, q

    def similarity_orthogonal(self, tol: float = 1e-6) -> bool:
        """Whether the components are orthogonal to the mean, its 90° turn and both shifts (true for every
        model ``fit`` builds: tangent space with the similarity directions removed)."""
        return bool(np.abs(self.components @ similarity_basis(self.mean)).max() <= tol) if self.num_components else True

    def _orthogonal_cached(self) -> bool:
        """``similarity_orthogonal()`` computed once per components array (it is asked on every projection)."""
        cache = getattr(self, "_orthogonal_cache", None)
        if cache is None or cache[0] is not self.components or cache[1] is not self.mean:
            cache = (self.components, self.mean, self.similarity_orthogonal())
            self._orthogonal_cache = cache
        return cache[2]

    def project_batch(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The one shape projection, batched and in closed form.

        Minimises |T(mean + Pᵀb) − p|² over the similarity T (scale s > 0, angle θ, shift t) and b. In the
        frame turned by −θ the model is linear in (s, s·b, t'): R(θ)ᵀp = D [s, s·b, t'] with a constant design
        D, and R(θ)ᵀp = cos θ · A + sin θ · B (A = p, B = p turned by −90°). The residual after the linear
        solve is cos θ · QA + sin θ · QB (Q = I − D D⁺), so the best θ is the minor axis of the 2 x 2 Gram matrix
        of (QA, QB), an angle in closed form (``_project_closed_form``); the rest is one linear solve. Exact for models whose
        components are orthogonal to the similarity directions (``similarity_orthogonal``); other (old)
        models fall back to a long alternation.

        Args:
            points: (B, K, 2) shapes (any frame, e.g. pixels or normalised crop units).
        Returns:
            b (B, m), scale (B,), angle (B,) radians, translation (B, 2): ``Similarity(scale, angle, t)``.
        """
        p = self._check_batch(points)
        n = len(p)
        if not self._orthogonal_cached():
            out = [self._fit(x, np.ones(self.num_points), prior=0.0, iterations=500) for x in p]
            return (np.array([o[0] for o in out]).reshape(n, self.num_components),
                    np.array([o[1].scale for o in out]), np.array([o[1].angle for o in out]),
                    np.array([o[1].translation for o in out]).reshape(n, 2))
        coef, c, s, _ = self._project_closed_form(p)
        scale = coef[:, 0]
        m = self.num_components
        b = coef[:, 1:m + 1] / np.maximum(scale, 1e-300)[:, None]
        rot = rotation_matrices(c, s)                                   # (B, 2, 2)
        t = np.einsum("bij,bj->bi", rot, coef[:, m + 1:m + 3])
        return b, scale, np.arctan2(s, c), t

    def _check_batch(self, points: np.ndarray) -> np.ndarray:
        """(B, K, 2) float64 copy of ``points``; ValueError for another shape or a non-finite point (named)."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 3 or p.shape[1:] != (self.num_points, 2):
            raise ValueError(f"points must be (B, {self.num_points}, 2), found {p.shape}")
        if not np.isfinite(p).all():
            bad = np.argwhere(~np.isfinite(p).all(axis=2))[0]
            raise ValueError(f"shape {int(bad[0])}: point {int(bad[1])} is not finite")
        return p

    def _project_closed_form(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``project_batch``'s solve for (B, K, 2) finite float64 shapes of a similarity-orthogonal model:
        coefficients (B, m + 3) = [s, s·b, t'] in the frame turned by −θ, cos θ and sin θ (B,), and the squared
        residual (B,) |R(θ)ᵀp − D coef|² (input units²).

        With A = p and B = p turned by −90° (as 2K vectors), the residual for angle θ is cos θ · QA + sin θ · QB,
        whose square is [cos θ, sin θ] G [cos θ, sin θ]ᵀ with the 2 x 2 Gram matrix G of (QA, QB); it is least at
        θ = ½ atan2(2 G₁₂, G₁₁ − G₂₂) + 90° (the minor axis of G, in closed form: no eigen-solver call), and
        θ + 180° gives the same fit with the opposite scale, so the sign is chosen to make the scale positive."""
        _, pinv, q = self._projection_basis()
        n = len(p)
        a = p.reshape(n, -1)                                            # (B, 2K)
        bt = np.stack([p[..., 1], -p[..., 0]], -1).reshape(n, -1)        # p turned by -90 degrees
        qa, qb = a @ q, bt @ q                                          # Q symmetric
        g11, g22, g12 = np.einsum("bi,bi->b", qa, qa), np.einsum("bi,bi->b", qb, qb), np.einsum("bi,bi->b", qa, qb)
        theta = 0.5 * np.arctan2(2.0 * g12, g11 - g22) + np.pi / 2
        c, s = np.cos(theta), np.sin(theta)
        coef = (c[:, None] * a + s[:, None] * bt) @ pinv.T               # (B, m + 3)
        flip = coef[:, 0] < 0                                           # theta + pi: same fit, positive scale
        sign = np.where(flip, -1.0, 1.0)
        r = c[:, None] * qa + s[:, None] * qb
        return coef * sign[:, None], c * sign, s * sign, np.einsum("bi,bi->b", r, r)

    def closest_plausible(self, points: np.ndarray, limit: float = LIMIT_SD) -> np.ndarray:
        """(B, K, 2) -> (B, K, 2): each shape projected (``project_batch``), its coefficients clipped to
        ±``limit`` sd, and the clipped shape placed by the least-squares similarity onto the input.
        Without clipping this is exactly the projection. The ASM-assisted loss's target."""
        p = np.asarray(points, dtype=np.float64)
        b, _, _, _ = self.project_batch(p)
        sd = np.sqrt(self.eigenvalues)
        b = np.clip(b, -limit * sd, limit * sd)
        zi = as_complex(self.mean[None] + (b @ self.components).reshape(len(p), -1, 2))
        z, t = similarity_lsq(zi, as_complex(p))
        return as_xy(z * zi + t)

    def clamp(self, b: np.ndarray, mode: str = "box", limit: float = LIMIT_SD) -> np.ndarray:
        """Limit coefficients: ``box`` clips each |b_j| to limit*sqrt(lambda_j); ``ellipse`` scales b
        so that its Mahalanobis norm is at most ``limit``."""
        b = np.asarray(b, dtype=np.float64)
        sd = np.sqrt(self.eigenvalues)
        if mode == "box":
            return np.clip(b, -limit * sd, limit * sd)
        if mode == "ellipse":
            d = float(np.sqrt(np.sum(b ** 2 / self.eigenvalues)))
            return b * (limit / d) if d > limit else b.copy()
        raise ValueError(f"unknown clamp mode {mode!r}; choose one of {list(CLAMP_MODES)}")

    def _fit(self, p: np.ndarray, w: np.ndarray, prior: float, iterations: int,
             mode: str | None = None) -> tuple[np.ndarray, Similarity]:
        """Alternate the weighted similarity fit (closed form, complex arithmetic) and the regularised
        weighted least-squares solve for b; stops early once the pose no longer changes."""
        m = self.num_components
        b = np.zeros(m)
        P = self.components  # (m, 2K)
        PW = P * np.repeat(w, 2)  # (m, 2K)
        A = PW @ P.T
        inv_lam = np.diag(1.0 / self.eigenvalues)
        pc = as_complex(p)
        mean_flat = self.mean.ravel()
        prev = None
        for it in range(iterations):
            z, t = similarity_lsq(as_complex((mean_flat + b @ P).reshape(-1, 2)), pc, w)
            if prev is not None and abs(z - prev[0]) <= 1e-10 * abs(z) and abs(t - prev[1]) <= 1e-10 * abs(z):
                break  # converged: the pose no longer changes
            prev = (z, t)
            q = (pc - t) / z  # the target in the model frame
            r = np.empty(2 * len(q))
            r[0::2] = q.real
            r[1::2] = q.imag
            lhs = A + (prior / max(abs(z[0]) ** 2, 1e-12)) * inv_lam if prior > 0 else A
            b = np.linalg.solve(lhs, PW @ (r - mean_flat))
            if mode is not None:
                b = self.clamp(b, mode)
        z, t = similarity_lsq(as_complex((mean_flat + b @ P).reshape(-1, 2)), pc, w)
        return b, Similarity(float(abs(z[0])), float(np.angle(z[0])), np.array([t[0].real, t[0].imag]))

    def constrain(self, points: np.ndarray, pinned=(), weights: np.ndarray | None = None,
                  stiffness: float = 1.0, *, previous: np.ndarray | None = None, method: str = "conditional",
                  mode: str = "box", prior: float = 1.0, iterations: int = 4) -> np.ndarray:
        """The points moved as the ``pinned`` ones say, keeping the pinned points exactly where they are.

        Args:
            points: (K, 2) pixels, e.g. a prediction after the user dragged some points.
            pinned: indices of points to keep fixed (exactly).
            weights: (K,) non-negative trust per point (e.g. from the network's confidence); default all ones.
            stiffness: in [0, 1]; 0 returns ``points`` unchanged.
            previous: (K, 2) the points before this edit (``conditional``: the pins' displacement is
                ``points - previous``); None when unknown.
            method: ``conditional`` (the editor's: the other points move by the conditional mean of the pins'
                displacement under the shape model, in model units, see ``asmnet.model.shape_prior``; with nothing
                pinned it is the ``legacy`` fit) or ``legacy`` (the closest plausible shape, blended with
                ``points`` by ``stiffness``; its ``mode`` / ``prior`` / ``iterations`` below).
            mode: coefficient limit, ``box`` (each within ±3 sd) or ``ellipse`` (Mahalanobis <= 3).
            prior: strength of the zero-mean Gaussian prior on the coefficients (0 = plain least squares),
                in units of (pixels^2 per unit Mahalanobis^2) relative to a unit point weight.
            iterations: alternations of pose and shape solves (each a closed-form least-squares step).
        Returns:
            (K, 2) float32 pixels.
        """
        if method not in CONSTRAIN_METHODS:
            raise ValueError(f"unknown constrain method {method!r}; choose one of {list(CONSTRAIN_METHODS)}")
        p = self._check(points)
        k = self.num_points
        if not 0.0 <= stiffness <= 1.0:
            raise ValueError(f"stiffness must be in [0, 1], found {stiffness}")
        if mode not in CLAMP_MODES:
            raise ValueError(f"unknown clamp mode {mode!r}; choose one of {list(CLAMP_MODES)}")
        pinned = np.asarray(list(pinned), dtype=np.int64).ravel()
        if pinned.size and (pinned.min() < 0 or pinned.max() >= k):
            raise ValueError(f"pinned indices must be in 0..{k - 1}, found {pinned.tolist()}")
        if weights is None:
            w = np.ones(k)
        else:
            w = np.asarray(weights, dtype=np.float64).ravel()
            if w.shape != (k,) or (w < 0).any() or not np.isfinite(w).all():
                raise ValueError(f"weights must be ({k},) finite and non-negative")
            if w.sum() <= 0:
                w = np.ones(k)
        if stiffness == 0.0:
            return p.astype(np.float32)
        if method == "conditional" and pinned.size:
            from asmnet.model.shape_prior import conditional_move

            prev = None if previous is None else self._check(previous)
            return conditional_move(self, p, np.unique(pinned), w, stiffness, prev).astype(np.float32)
        w = w.copy()
        if pinned.size:
            w[pinned] = max(w.max(), 1.0) * 1e3
        b, T = self._fit(p, w, prior=prior, iterations=iterations, mode=mode)
        fit = self.reconstruct(b, T)
        out = (1.0 - stiffness) * p + stiffness * fit
        if pinned.size:
            # carry the pinned points' remaining offsets smoothly onto their neighbours, then snap them
            resid = p[pinned] - out[pinned]
            size = np.sqrt(np.prod(np.ptp(p, axis=0)) + 1e-12)
            sigma = 0.15 * size
            d2 = ((out[:, None, :] - out[pinned][None, :, :]) ** 2).sum(-1)
            g = np.exp(-d2 / (2 * sigma ** 2))  # (K, n_pinned)
            g = g / np.maximum(g.sum(1, keepdims=True), 1.0)
            out = out + g @ resid
            out[pinned] = p[pinned]
        return out.astype(np.float32)

    def mahalanobis(self, points: np.ndarray) -> float | np.ndarray:
        """Implausibility of (K, 2) points (a float) or of (N, K, 2) shapes ((N,) float64, one batched
        projection): sqrt(sum b_j^2 / lambda_j + |r|^2 / residual_variance).

        b are the unclamped coefficients and r the part of the aligned shape the model cannot express
        (the second term is left out when ``residual_variance`` is 0). A typical training face scores
        about sqrt(2K - 4); larger means less plausible. Invariant to translation, rotation and scale.
        """
        p = np.asarray(points, dtype=np.float64)
        single = p.ndim == 2
        if single:
            p = self._check(p)[None]
        p = self._check_batch(p)
        if self._orthogonal_cached():  # one closed-form solve gives the coefficients and the residual
            coef, _, _, resid2 = self._project_closed_form(p)
            scale = np.maximum(coef[:, 0], 1e-300)
            b = coef[:, 1:self.num_components + 1] / scale[:, None]
            resid2 = resid2 / scale ** 2                                                 # model frame
        else:  # old models: the alternation's fit, its residual measured in the model frame
            b, scale, angle, t = self.project_batch(p)
            rot = rotation_matrices(np.cos(angle), np.sin(angle))                        # (N, 2, 2)
            model_frame = np.einsum("nki,nij->nkj", p - t[:, None], rot) / scale[:, None, None]
            inst = self.mean[None] + (b @ self.components).reshape(len(p), -1, 2)
            resid2 = np.sum((model_frame - inst) ** 2, axis=(1, 2))
        d2 = np.sum(b ** 2 / self.eigenvalues, axis=1)
        if self.residual_variance > 0:
            d2 = d2 + resid2 / self.residual_variance
        d = np.sqrt(d2)
        return float(d[0]) if single else d

    def calibrate(self, shapes: np.ndarray, quantiles: tuple[float, float] = PLAUSIBILITY_QUANTILES) -> "ShapeModel":
        """This model with ``plausibility_thresholds`` = the ``quantiles`` of the Mahalanobis distances of
        ``shapes`` (N, K, 2): held-out ground-truth faces, never the shapes the model was fitted on (those
        score lower than new faces do)."""
        shapes = np.asarray(shapes, np.float64)
        if shapes.ndim != 3 or shapes.shape[1:] != (self.num_points, 2) or len(shapes) < 20:
            raise ValueError(f"calibration shapes must be (N >= 20, {self.num_points}, 2), found {shapes.shape}")
        q = tuple(float(v) for v in quantiles)
        if len(q) != 2 or not 0.0 < q[0] <= q[1] < 1.0:
            raise ValueError(f"quantiles must be two increasing numbers in (0, 1), found {quantiles}")
        d = self.mahalanobis(shapes)
        self.plausibility_thresholds = tuple(float(v) for v in np.quantile(d, q))
        return self

    def plausibility(self, points: np.ndarray) -> tuple[float, str]:
        """(Mahalanobis distance, level) of (K, 2) points; level ``plausible`` below the first calibrated
        threshold, ``unusual`` below the second, else ``implausible``. A model without calibration uses the
        chi-square quantiles 0.95 / 0.999 with 2K - 4 degrees of freedom (its distance's law for a training
        face)."""
        d = self.mahalanobis(points)
        t = self.plausibility_thresholds
        if t is None:
            from scipy.stats import chi2

            dof = 2 * self.num_points - 4 if self.residual_variance > 0 else self.num_components
            t = tuple(float(np.sqrt(chi2.ppf(q, max(dof, 1)))) for q in (0.95, 0.999))
        if not np.isfinite(d) or d >= t[1]:
            return d, "implausible"
        return d, ("unusual" if d >= t[0] else "plausible")
