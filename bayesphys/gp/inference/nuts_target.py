"""The NUTS target of the exact GP on the LAPACK evidence, and the whitening of its coordinates.

Every leapfrog step of NUTS is one evaluation of the log marginal posterior and its gradient.
Through GPyTorch and autograd that is several times slower than the closed-form LAPACK objective
of the MAP fit (:class:`~bayesphys.gp.inference.map_objective.DenseObjective`: one Cholesky
factorisation, one inverse; timings in benchmarks/README.md), or, for small common models, than
its batched form (:mod:`bayesphys.gp.inference.batched_target`). The value and the gradient
that it computes reach the core sampler through ``ChainDensity.value_and_grad`` (without
autograd), and through a torch autograd function for callers that differentiate the density.

The sampler moves ``u``, with ``z = center + C u``: a linear map, so its Jacobian is constant
and the draws of ``z`` are exact. ``C C^T`` is first the inverse Hessian at the mode (a Laplace
approximation), then the covariance of pilot draws (see :mod:`bayesphys.gp.inference.nuts`); the
core's diagonal metric then faces a nearly isotropic target even where the outputscale and the
lengthscales are correlated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch
from scipy.linalg import solve_triangular

from bayesphys.gp.inference.batched_target import BatchedEvidence
from bayesphys.gp.inference.map_objective import DenseObjective
from bayesphys.gp.inference.optimizer import INVALID_OBJECTIVE
from bayesphys.gp.linalg import loo_from_inverse_diagonal
from bayesphys.gp.model import GPModel

# Finite-difference step of the Laplace Hessian, in z (log units for positive parameters). The
# analytic gradient carries rounding noise of ~1e-4 at n = 500 (see optimizer.GTOL_PER_POINT), which
# this step turns into Hessian errors of ~0.05: negligible against entries of 1 / posterior
# variance (~10 to 1000 on the benchmark data), while the truncation error is O(step^2).
HESSIAN_STEP = 1e-3
# Floats of cached evaluations (2 n + dim + 1 per point, most of it the LOO statistics) kept per
# group of chains. A draw is a leaf of its transition's tree or the previous draw, so the latest
# few thousand evaluations hold almost all draws; the others are evaluated again.
CACHE_FLOATS = 2_000_000
# Pseudo-draws at the Laplace covariance added to the pilot draws' covariance (Stan's
# regularisation of its adapted metrics).
PILOT_PRIOR_DRAWS = 5.0


class _LogDensity(torch.autograd.Function):
    """``log p(z | y)`` per row of ``u`` (``z = center + u C^T``), with the gradient that the
    objective returns, mapped to ``u`` here: one autograd node per evaluation instead of three
    (at n = 11 the autograd bookkeeping cost more than the evidence itself)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, density: ChainDensity) -> torch.Tensor:
        values, ctx.grads = density.value_and_grad(u.detach())
        return values

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        return grad_out.unsqueeze(-1) * ctx.grads, None


class ChainDensity:
    """Target of a group of chains: ``u (batch, dim) -> log p(z | y)``, ``z = center + u C^T``.

    Evaluations are cached by the bytes of ``u``: in a lockstep batch the chains whose tree is
    complete ask for the same point again at every step, and the LOO densities of the draws
    come from the cached statistics.

    Parameters
    ----------
    model : GPModel
    center : ndarray (dim,)
    factor : ndarray (dim, dim)
        ``C``.
    stop : threading.Event, optional
        When set, the next evaluation raises ``KeyboardInterrupt``: how an interrupt of the
        main thread reaches chains that run on other threads (``sample`` then returns the
        draws so far).
    """

    def __init__(
        self,
        model: GPModel,
        center: np.ndarray,
        factor: np.ndarray,
        stop: threading.Event | None = None,
    ):
        # One objective per group: its work arrays are overwritten by every evaluation.
        self.objective = DenseObjective(model, jacobian=True)
        # The closed form of small common models (None: the objective evaluates every row).
        self.batched = BatchedEvidence.build(model)
        self.center = torch.as_tensor(center, dtype=torch.float64)
        self.factor = torch.as_tensor(factor, dtype=torch.float64)
        self.center_np, self.factor_np = self.center.numpy(), self.factor.numpy()
        self.stop = stop
        self._cache: OrderedDict[bytes, tuple] = OrderedDict()
        self._capacity = max(64, CACHE_FLOATS // (2 * model.n + len(center) + 1))

    def to_z(self, u: torch.Tensor) -> torch.Tensor:
        """``z = center + u C^T`` for ``u`` of shape ``(..., dim)``."""
        return self.center + u @ self.factor.T

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return _LogDensity.apply(u, self)

    def value_and_grad(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log densities ``(batch,)`` and their gradients in ``u``, without autograd (the
        core's gradient-based samplers call this instead of differentiating ``__call__``)."""
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt("another chain was interrupted")
        u_np = np.ascontiguousarray(u.numpy())
        z = self.center_np + u_np @ self.factor_np.T
        # The reference objective differentiates its parameter maps by autograd.
        with torch.enable_grad():
            values, grads = self.evaluate(z, u_np)
        return torch.from_numpy(values), torch.from_numpy(grads @ self.factor_np)  # C^T d/dz

    def evaluate(self, z: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log densities ``(batch,)`` and their gradients in ``z``; -inf where invalid."""
        keys = [row.tobytes() for row in u]
        values, grads = np.empty(len(z)), np.empty_like(z)
        todo = []
        for i, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is None:
                todo.append(i)
            else:
                values[i], grads[i] = hit[0], hit[1]
        if todo:
            new_values, new_grads, loo = self._evaluate(z[todo])
            values[todo], grads[todo] = new_values, new_grads
            for j, i in enumerate(todo):
                self._cache[keys[i]] = (new_values[j], new_grads[j], loo[j])
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return values, grads

    def _evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        if self.batched is None:
            return self.objective.evaluate(z)
        values, grads, loo, reference = self.batched.evaluate(z)
        if reference.any():  # covariances that need jitter
            rows = np.flatnonzero(reference)
            values[rows], grads[rows], fallback = self.objective.evaluate(z[rows])
            for row, stats in zip(rows, fallback, strict=True):
                loo[row] = stats
        return values, grads, loo

    def log_likelihood(self, u: np.ndarray) -> np.ndarray:
        """``log p(y_i | y_-i, z)`` in original units at each row of ``u``, shape ``(draws, n)``."""
        return self.pointwise(u)[0]

    def pointwise(
        self, u: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """LOO densities and (with ``rng``) replicated ``y`` at each row of ``u``, original units.

        Both come from ``alpha = K^{-1} r`` and ``diag(K^{-1})`` of the row's evaluation. With
        ``D`` the noise variances (learned noise plus known errors), the posterior of the latent
        ``f_i`` at a training input has mean ``r_i - D_i alpha_i`` and variance
        ``D_i - D_i^2 [K^{-1}]_ii``; a replicate adds noise of variance ``D_i``. Each point is
        drawn from its marginal (the correlations between points are not kept): exact for
        pointwise checks such as ``az.plot_ppc``, and free, where joint draws would need a
        factorisation per draw.

        Returns
        -------
        log_lik : ndarray (draws, n)
        replicates : ndarray (draws, n) or None
        """
        model = self.objective.model
        space = model.space
        out = np.empty((len(u), model.n))
        replicates = None
        if rng is not None:
            replicates = np.empty((len(u), model.n))
            with torch.no_grad():
                z = self.to_z(torch.as_tensor(u))
                noise = model.noise_var(space.standardise(space.values(z))).numpy()
            r = model.r.numpy()
        for i, row in enumerate(u):
            hit = self._cache.get(np.ascontiguousarray(row).tobytes())
            if hit is None:  # evicted: evaluate again
                z_row = self.to_z(torch.as_tensor(row[None, :])).numpy()
                stats = self._evaluate(z_row)[2][0]
            else:
                stats = hit[2]
            alpha, inv_diag = stats
            out[i] = loo_from_inverse_diagonal(
                torch.from_numpy(alpha), torch.from_numpy(inv_diag)
            ).numpy()
            if replicates is not None:
                d = noise[i]
                var = np.maximum(d - d**2 * inv_diag, 0.0) + d
                replicates[i] = r - d * alpha + np.sqrt(var) * rng.standard_normal(model.n)
        if replicates is not None:
            base, _ = model.to_original(model.X_np, np.zeros(model.n), np.zeros(model.n))
            replicates = base + space.y_scale * replicates
        return out - np.log(space.y_scale), replicates


def laplace_factor(objective: DenseObjective, mode: np.ndarray) -> np.ndarray:
    """``C`` with ``C C^T`` the inverse Hessian of ``objective`` (a -log density) at ``mode``.

    The Hessian comes from central differences of the analytic gradient. Where it is not
    positive definite (a mode on a ridge), each axis is scaled by its own curvature where that
    is positive: the sampler's adaptation then has to do the rest.
    """
    dim = len(mode)
    H = np.empty((dim, dim))
    for j in range(dim):
        step = np.zeros(dim)
        step[j] = HESSIAN_STEP
        (f_plus, g_plus), (f_minus, g_minus) = objective(mode + step), objective(mode - step)
        if max(f_plus, f_minus) >= INVALID_OBJECTIVE:
            return np.eye(dim)
        H[:, j] = (g_plus - g_minus) / (2 * HESSIAN_STEP)
    H = 0.5 * (H + H.T)
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        d = np.diag(H)
        return np.diag(np.where(d > 0, 1.0 / np.sqrt(np.abs(d)), 1.0))
    # H = L L^T, so H^{-1} = L^{-T} L^{-1}: C = L^{-T}.
    return solve_triangular(L, np.eye(dim), lower=True).T


def pilot_whitening(z: np.ndarray, laplace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Center and ``C`` (lower, ``C C^T`` the covariance) from pilot draws ``(chain, draw, dim)``.

    The sample covariance of the ``N`` draws is shrunk towards the Laplace one as if by
    ``PILOT_PRIOR_DRAWS`` extra draws, as Stan regularises its adapted metrics.
    """
    flat = z.reshape(-1, z.shape[-1])
    n = len(flat)
    cov = (
        n * np.cov(flat, rowvar=False).reshape(len(laplace), -1)
        + PILOT_PRIOR_DRAWS * laplace @ laplace.T
    )
    try:
        return flat.mean(0), np.linalg.cholesky(cov / (n + PILOT_PRIOR_DRAWS))
    except np.linalg.LinAlgError:
        return flat.mean(0), laplace
