"""Sparse GP regression (SGPR): inducing points and the collapsed bound of Titsias (2009).

With inducing inputs ``Z`` (m points) and ``Q = K_nm K_mm^{-1} K_mn``, the bound is
``log N(y | mu, Q + D) - tr(D^{-1} (K_nn - Q)) / 2`` with ``D = diag(y_err^2 + noise^2)``. It
costs ``O(n m^2)``; the inducing inputs are fixed (k-means centres or a random subset) and the
hyperparameters maximise the bound, starting from an exact MAP fit on a random subset.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.cluster.vq import kmeans2

from bayesphys.gp import _fit
from bayesphys.gp._exact import cholesky, cholesky_or_none
from bayesphys.gp._model import GPModel

# Size of the random subset whose exact MAP fit starts the sparse optimisation.
INIT_SUBSET = 500
# Points k-means sees: more only slows it down without moving the centres much.
KMEANS_SUBSET = 20_000
KMM_JITTER = 1e-8
# The subset MAP starts the bound's optimisation close to its optimum; each further iteration
# costs O(n m^2), so the search is capped (a warning says when the cap is hit).
MAX_BOUND_ITERATIONS = 60


def select_inducing(X: np.ndarray, m: int, how: str, rng: np.random.Generator) -> np.ndarray:
    """``m`` inducing inputs: k-means centres (on features scaled to unit spread) or a subset."""
    n = len(X)
    if m >= n:
        return X.copy()
    if how == "random":
        return X[np.sort(rng.choice(n, m, replace=False))].copy()
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    pts = X[rng.choice(n, min(n, KMEANS_SUBSET), replace=False)] / scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty clusters are refilled below
        centres, labels = kmeans2(pts, m, minit="++", seed=rng, iter=20)
    empty = np.setdiff1d(np.arange(m), labels)
    if len(empty):
        centres[empty] = pts[rng.choice(len(pts), len(empty), replace=False)]
    return centres * scale


class SparseGP:
    """A fitted SGPR: inducing inputs, hyperparameters and the prediction algebra."""

    def __init__(self, model: GPModel, Z: np.ndarray, z: np.ndarray, bound: float):
        self.model, self.Z, self.z, self.bound = model, Z, z, bound

    def _terms(self, z: torch.Tensor, *, safe: bool):
        """Shared pieces of the bound and the predictions.

        With ``P = Lm^{-1} K_mn`` and ``W = P D^{-1}``: ``B = I + W P^T`` and
        ``c = LB^{-1} W r``. Only ``P`` and ``W`` are (m, n): every other product is small, which
        keeps the passes over n-sized arrays (the cost at large n) to a handful.
        """
        model = self.model
        space = model.space
        std = space.standardise(space.values(z))
        Zt = torch.as_tensor(self.Z)
        m = Zt.shape[0]
        Kmm = model.kernel(std, Zt)
        eye = torch.eye(m, dtype=Kmm.dtype)
        Kmm = Kmm + KMM_JITTER * Kmm.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None] * eye
        if safe:
            Lm, ok = cholesky_or_none(Kmm)
        else:
            Lm, ok = cholesky(Kmm, context=" (inducing-point covariance)"), None
        P = torch.linalg.solve_triangular(Lm, model.kernel(std, Zt, model.X), upper=False)
        D = model.noise_var(std)
        W = P / D[:, None, :]
        LB = torch.linalg.cholesky(eye + W @ P.transpose(-1, -2))
        resid = model.r - model.mean_std(std, model.X)
        c = torch.linalg.solve_triangular(LB, W @ resid.unsqueeze(-1), upper=False).squeeze(-1)
        return std, Lm, LB, P, W, D, resid, c, ok

    def log_bound(self, z: torch.Tensor, *, safe: bool = True) -> torch.Tensor:
        """The collapsed bound in original y units, ``(batch,)``."""
        model = self.model
        std, _, LB, P, W, D, resid, c, ok = self._terms(z, safe=safe)
        k_diag = model.kernel(std, model.X, diag=True)
        n = model.n
        bound = (
            -0.5 * n * math.log(2 * math.pi)
            - torch.log(LB.diagonal(dim1=-2, dim2=-1)).sum(-1)
            - 0.5 * torch.log(D).sum(-1)
            - 0.5 * (resid**2 / D).sum(-1)
            + 0.5 * (c**2).sum(-1)
            - 0.5 * ((k_diag / D).sum(-1) - (W * P).sum((-1, -2)))
        ) - n * math.log(model.space.y_scale)
        if ok is not None:
            bound = torch.where(ok, bound, torch.full_like(bound, -math.inf))
        return bound

    def _predict_std(self, X: np.ndarray, *, full_cov: bool):
        model = self.model
        with torch.no_grad():
            zt = torch.as_tensor(self.z[None, :])
            std, Lm, LB, _, _, _, _, c, _ = self._terms(zt, safe=False)
            Xt = torch.as_tensor(X)
            Kms = model.kernel(std, torch.as_tensor(self.Z), Xt)
            t1 = torch.linalg.solve_triangular(Lm, Kms, upper=False)
            t2 = torch.linalg.solve_triangular(LB, t1, upper=False)
            mean = (t2 * c.unsqueeze(-1)).sum(-2) + model.mean_std(std, Xt)
            if full_cov:
                K_test = model.kernel(std, Xt)
                cov = K_test - t1.transpose(-1, -2) @ t1 + t2.transpose(-1, -2) @ t2
            else:
                k_diag = model.kernel(std, Xt, diag=True)
                cov = (k_diag - (t1**2).sum(-2) + (t2**2).sum(-2)).clamp_min(0.0)
        return mean[0].numpy(), cov[0].numpy(), float(std["noise"][0, 0] ** 2)

    def moments(self, X: np.ndarray, *, full_cov: bool, include_noise: bool):
        """Predictive mean and variance (or covariance) in original units."""
        mean, cov, noise = self._predict_std(X, full_cov=full_cov)
        if include_noise:
            cov = cov + (noise * np.eye(len(X)) if full_cov else noise)
        return self.model.to_original(X, mean, cov)

    def sample(self, X: np.ndarray, n: int, rng: np.random.Generator, *, include_noise: bool):
        """``n`` joint draws at ``X``, shape ``(m, n)``."""
        mean, cov = self.moments(X, full_cov=True, include_noise=include_noise)
        L = cholesky(torch.as_tensor(cov[None]), context=" (predictive covariance)")[0].numpy()
        return mean[:, None] + L @ rng.standard_normal((len(X), n))

    def __getstate__(self):
        return dict(self.__dict__)


def fit_sparse(
    model: GPModel, rng: np.random.Generator, *, n_inducing: int, inducing: str, n_restarts: int
) -> SparseGP:
    """Choose inducing inputs and maximise the bound plus the log prior."""
    space = model.space
    sub = model.subset(np.sort(rng.choice(model.n, min(model.n, INIT_SUBSET), replace=False)))
    z0, _ = _fit.maximise(
        lambda z: sub.log_marginal(z, safe=True)[0] + space.log_prior(z, jacobian=False),
        space,
        n_restarts=n_restarts,
        rng=rng,
    )
    Z = select_inducing(model.X_np, n_inducing, inducing, rng)
    sparse = SparseGP(model, Z, z0, float("nan"))
    z_hat, _ = _fit.maximise(
        lambda z: sparse.log_bound(z) + space.log_prior(z, jacobian=False),
        space,
        n_restarts=0,
        rng=rng,
        start=z0,
        maxiter=MAX_BOUND_ITERATIONS,
    )
    sparse.z = z_hat
    with torch.no_grad():
        sparse.bound = float(sparse.log_bound(torch.as_tensor(z_hat[None, :]), safe=False)[0])
    return sparse
