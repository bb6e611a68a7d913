"""MAP estimates of linear-model coefficients.

Normal and Laplace coefficient priors with a Gaussian likelihood are ridge and lasso: they are
solved by exact coordinate descent (Laplace gives exact zeros). Any other smooth prior or a
Student-t likelihood goes through L-BFGS on the log posterior in torch. Constrained parameters
(noise, positive coefficients) are optimised through their support transform; the mode is that of
the density in the original parameter, since no Jacobian is added.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize

from bayesphys.core.priors import Laplace, Normal, Prior

CD_MAX_SWEEPS = 100_000


def coordinate_descent(G, c, l2, l1, center, beta0=None, tol=1e-13):
    """Minimise ``b'Gb/2 - c'b + sum_j l2_j (b_j - m_j)^2/2 + l1_j |b_j - m_j|``.

    ``G`` is the (weighted) Gram matrix and ``c`` the correlation vector; ``m = center``.
    """
    p = len(c)
    beta = np.array(center if beta0 is None else beta0, dtype=float)
    Gb = G @ beta
    diag = np.diag(G) + l2
    scale = max(float(np.max(np.abs(c))), 1e-300)
    for _ in range(CD_MAX_SWEEPS):
        max_step = 0.0
        for j in range(p):
            old = beta[j]
            r = c[j] - Gb[j] + G[j, j] * old + l2[j] * center[j]
            u = r - diag[j] * center[j]
            new = center[j] + np.sign(u) * max(abs(u) - l1[j], 0.0) / diag[j]
            if new != old:
                Gb += G[:, j] * (new - old)
                beta[j] = new
                max_step = max(max_step, abs(new - old) * diag[j])
        if max_step <= tol * scale:
            return beta
    raise RuntimeError("coordinate descent did not converge; rescale X")


def prior_penalties(prior: Prior, p: int):
    """Per-coefficient (l2 precision, l1 weight, centre) of a Normal or Laplace prior."""
    if isinstance(prior, Normal):
        sigma = np.broadcast_to(np.asarray(prior.sigma, float), (p,))
        mu = np.broadcast_to(np.asarray(prior.mu, float), (p,))
        return 1.0 / sigma**2, np.zeros(p), mu.copy()
    if isinstance(prior, Laplace):
        b = np.broadcast_to(np.asarray(prior.b, float), (p,))
        mu = np.broadcast_to(np.asarray(prior.mu, float), (p,))
        return np.zeros(p), 1.0 / b, mu.copy()
    raise TypeError(f"coordinate descent needs a Normal or Laplace prior, got {prior!r}")


def penalised_least_squares(X, y, weights, prior, *, flat_intercept, beta0=None):
    """Weighted ridge/lasso: the MAP of the slopes at fixed per-point weights 1/variance.

    Returns ``(intercept, coef)``; the intercept has a flat prior (unpenalised) or is absent.
    """
    w = weights
    if flat_intercept:
        x_mean = w @ X / w.sum()
        y_mean = float(w @ y / w.sum())
        Xc, yc = X - x_mean, y - y_mean
    else:
        Xc, yc = X, y
    Xw = Xc * w[:, None]
    l2, l1, center = prior_penalties(prior, X.shape[1])
    coef = coordinate_descent(Xw.T @ Xc, Xw.T @ yc, l2, l1, center, beta0)
    intercept = float(y_mean - x_mean @ coef) if flat_intercept else 0.0
    return intercept, coef


def noise_map(residuals, y_err, noise_prior: Prior, on_variance: bool) -> float:
    """Mode of the noise standard deviation given residuals (prior on sigma or on sigma^2)."""
    err2 = 0.0 if y_err is None else y_err**2
    scale = max(float(np.std(residuals)), 1e-8)

    def negative_log_post(log_sigma):
        sigma2 = np.exp(2.0 * log_sigma)
        var = sigma2 + err2
        loglik = -0.5 * np.sum(np.log(2 * np.pi * var) + residuals**2 / var)
        logprior = noise_prior.logpdf(sigma2 if on_variance else np.sqrt(sigma2))
        return -(loglik + float(np.sum(logprior)))

    res = optimize.minimize_scalar(
        negative_log_post, bracket=(np.log(scale) - 1.0, np.log(scale)), tol=1e-12
    )
    return float(np.exp(res.x))


def lbfgs_map(neg_log_post, n_params: int, x0=None, max_iter: int = 5000):
    """Minimise a torch objective of an unconstrained parameter vector with L-BFGS-B (scipy).

    ``neg_log_post(z: Tensor[n_params]) -> Tensor[]``. Returns the optimum as numpy.
    """
    z0 = np.zeros(n_params) if x0 is None else np.asarray(x0, float)

    def fun(z):
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        value = neg_log_post(zt)
        if not torch.isfinite(value):
            return np.inf, np.zeros_like(z)
        (grad,) = torch.autograd.grad(value, zt)
        return value.item(), grad.numpy().copy()

    res = optimize.minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not np.all(np.isfinite(res.x)):
        raise RuntimeError(f"MAP optimisation failed: {res.message}")
    return res.x, res
