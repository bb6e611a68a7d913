"""The exact GP's negative log marginal posterior with its analytic gradient, for L-BFGS-B.

One evaluation is one LAPACK Cholesky factorisation (``dpotrf``), one solve and one inverse
from the factor (``dpotri``): with ``alpha = K^{-1} r`` the gradient of the log evidence with
respect to the covariance is ``G / 2 = (alpha alpha^T - K^{-1}) / 2`` and each hyperparameter
derivative is ``sum_ij G_ij dK_ij / 2``. That is ``n^3`` flops in all, against scikit-learn's
``7 n^3 / 3`` (its ``K^{-1}`` is a solve against the identity). The LAPACK routines are SciPy's
(OpenBLAS), measured faster than torch's for this pair (benchmarks/README.md, "GP linear algebra
and threads"); the small parameter-to-matrix maps stay in torch, so that any prior transform
and mean function are differentiated by autograd.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import lapack

from bayesphys.gp.inference import optimizer
from bayesphys.gp.inference.optimizer import INVALID_OBJECTIVE
from bayesphys.gp.linalg import lapack_cholesky
from bayesphys.gp.model import GPModel
from bayesphys.gp.stationary import fast_term

# Points of the random subset whose MAP starts a large exact or sparse fit: its optimiser runs
# cost ~1/60 of full-data ones at n = 2000, and it lands near the full-data optimum (at n = 2000
# of the benchmark: L-BFGS-B then needed 21 instead of 24 full-data evaluations).
INIT_SUBSET = 500


class DenseObjective:
    """``z -> (-log p(y | z) - log prior(z), gradient)`` of an exact GP, original y units.

    Parameters
    ----------
    model : GPModel
    prior : bool
        Add the log prior.
    jacobian : bool
        Include the Jacobian of the transforms in the prior: the negative log density of the
        unconstrained ``z`` itself (what NUTS samples). Without it (default), the mode is the
        MAP in the original parametrisation.
    """

    def __init__(self, model: GPModel, *, prior: bool = True, jacobian: bool = False):
        self.model, self.prior, self.jacobian = model, prior, jacobian
        self.term = fast_term(model.kernel, model.X_np)
        self.evaluations = 0
        # Work arrays reused between calls (see StationaryTerm): the matrix LAPACK factorises
        # and inverts in place, and the weights G.
        self._A = torch.empty(model.n, model.n, dtype=torch.float64)
        self._G = torch.empty(model.n, model.n, dtype=torch.float64)

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        values, grads, _ = self.evaluate(flat[None])
        if not np.isfinite(values[0]):
            return INVALID_OBJECTIVE, np.zeros_like(flat)
        return -float(values[0]), -grads[0]

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """Log posterior ``(b,)``, its gradient ``(b, dim)`` and LOO statistics at rows of ``z``.

        The parameter maps (transforms, standardisation, prior) run once for the batch under
        autograd, the LAPACK algebra row by row. The LOO statistics of a row are ``(alpha,
        diag(K^{-1}))`` in standardised units, all that its leave-one-out densities need.
        Invalid rows (covariance not positive definite even with jitter, non-finite results)
        get ``-inf``, a zero gradient and ``None``.
        """
        self.evaluations += len(z)
        model, space = self.model, self.model.space
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        std = space.standardise(space.values(zt))
        noise = model.noise_var(std)  # (b, n)
        mean = model.mean_std(std, model.X)  # (b, n)
        K = None if self.term is not None else model.kernel(std, model.X)  # (b, n, n)
        outputs = {"noise": noise, "mean": mean}
        if K is None:
            outputs.update(outputscale=std["outputscale"], lengthscale=std["lengthscale"])
        else:
            outputs["K"] = K
        outputs = {name: t for name, t in outputs.items() if t.requires_grad}
        weights = {name: torch.zeros_like(t) for name, t in outputs.items()}
        resid = (model.r - mean.detach()).numpy()
        values = np.full(len(z), -np.inf)
        loo: list = [None] * len(z)
        for i in range(len(z)):
            row = self._row(i, std, K, noise.detach()[i], resid[i], weights)
            if row is not None:
                values[i], loo[i] = row
        if self.prior:
            log_prior = space.log_prior(zt, jacobian=self.jacobian)
            values = values + log_prior.detach().numpy()
            if log_prior.requires_grad:
                outputs["prior"], weights["prior"] = log_prior, torch.ones_like(log_prior)
        grads = np.zeros_like(z)
        if outputs:
            (grad,) = torch.autograd.grad(
                list(outputs.values()), zt, list(weights.values()), allow_unused=True
            )
            if grad is not None:
                grads = grad.numpy()
        bad = ~(np.isfinite(values) & np.isfinite(grads).all(axis=1))
        values[bad], grads[bad] = -np.inf, 0.0
        return values, grads, [None if b else stats for b, stats in zip(bad, loo, strict=True)]

    def _row(self, i: int, std: dict, K, noise: torch.Tensor, resid: np.ndarray, weights: dict):
        """Log evidence of row ``i`` and its LOO statistics; writes its weights into ``weights``.

        The weights are ``d log p / d output`` for the outputs of the parameter maps; None is
        returned for an invalid covariance.
        """
        model = self.model
        if K is None:
            ls = std["lengthscale"].detach()[i]
            os = std["outputscale"].detach()[i, 0]
            k, w = self.term.correlation(ls)

        def build(jitter: float) -> np.ndarray:
            A = torch.mul(k, os, out=self._A) if K is None else self._A.copy_(K.detach()[i])
            diag = A.diagonal()
            diag.add_(noise)
            if jitter:
                diag.add_(jitter * float(diag.mean()))
            return A.numpy()

        c, _ = lapack_cholesky(build)
        if c is None:
            return None
        alpha, _ = lapack.dpotrs(c, resid, lower=1)
        n = model.n
        lml = (
            -0.5 * float(resid @ alpha)
            - float(np.log(np.diagonal(c)).sum())
            - 0.5 * n * math.log(2 * math.pi)
            - n * math.log(model.space.y_scale)
        )
        inv, info = lapack.dpotri(c, lower=1, overwrite_c=1)
        if info != 0:
            return None
        inv_diag = np.diagonal(inv).copy()
        # The C-ordered view of the F-ordered result holds K^{-1} on and above the diagonal.
        # G_half = (alpha alpha^T - K^{-1}) on the upper triangle, half of it on the diagonal
        # and zero below, so that sum(G_half * B) = sum(G * B) / 2 for every symmetric B.
        at = torch.from_numpy(alpha)
        G = torch.outer(at, at, out=self._G).sub_(torch.from_numpy(inv.T)).triu_()
        if "noise" in weights:
            weights["noise"][i] = 0.5 * G.diagonal()
        if "mean" in weights:
            weights["mean"][i] = at
        G.diagonal().mul_(0.5)
        if "outputscale" in weights:
            weights["outputscale"][i, 0] = torch.dot(G.view(-1), k.view(-1))
        if "lengthscale" in weights:
            weights["lengthscale"][i] = self.term.lengthscale_grad(G.mul_(w), ls, os)
        if "K" in weights:
            weights["K"][i] = G
        return lml, (alpha, inv_diag)


def subset_start(
    model: GPModel, rng: np.random.Generator, *, n_restarts: int, max_iter: int = 1000
) -> tuple[np.ndarray | None, int]:
    """MAP on a random subset of ``INIT_SUBSET`` points, as the start of a large fit.

    Returns the start (None when ``n < 2 INIT_SUBSET``: the full fit is then cheap enough) and
    the restarts left for the full fit. Restarts run on the subset, where they cost
    ``(INIT_SUBSET / n)^3`` of a full-data start; only the best subset optimum is refined.
    ``max_iter`` caps each L-BFGS-B run.
    """
    if model.n < 2 * INIT_SUBSET or model.space.dim == 0:
        return None, n_restarts
    return subset_map(model, rng, n_restarts=n_restarts, max_iter=max_iter), 0


def subset_map(
    model: GPModel, rng: np.random.Generator, *, n_restarts: int, max_iter: int = 1000
) -> np.ndarray:
    """Exact MAP (unconstrained hyperparameters) on at most ``INIT_SUBSET`` random points."""
    sub = model
    if model.n > INIT_SUBSET:
        sub = model.subset(np.sort(rng.choice(model.n, INIT_SUBSET, replace=False)))
    start, _ = optimizer.maximise(
        None,
        model.space,
        objective=DenseObjective(sub),
        n_restarts=n_restarts,
        rng=rng,
        maxiter=max_iter,
        options=optimizer.map_options(sub.n),
    )
    return start
