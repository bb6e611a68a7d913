"""Solvers of the MAP estimates of linear-model coefficients (used by ``inference.map``).

Normal and Laplace coefficient priors with a Gaussian likelihood are ridge and lasso: they are
solved exactly (a linear solve; for Laplace, coordinate descent plus an exact active-set solve,
which gives exact zeros). Any other smooth prior or a
Student-t likelihood goes through L-BFGS on the log posterior in torch. Constrained parameters
(noise, positive coefficients) are optimised through their support transform; the mode is that of
the density in the original parameter, since no Jacobian is added. Uncertainties of a MAP fit
come from the Gaussian (Laplace) approximation at the mode (``active_set_covariance``,
``hessian_covariance``).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg, optimize
from sklearn.exceptions import ConvergenceWarning

from bayesphys.core.priors import Laplace, Normal, Prior

MAX_ACTIVE_SET_ROUNDS = 200
SWEEPS_PER_ROUND = 100


def solve_penalised_quadratic(G, c, l2, l1, center, beta0=None, max_iter=None):
    """Exact minimiser of ``b'Gb/2 - c'b + sum_j l2_j (b_j - m_j)^2/2 + l1_j |b_j - m_j|``.

    ``G`` is the (weighted) Gram matrix, ``c`` the correlation vector, ``m = center``. Without an
    L1 part this is one linear solve. With one, coordinate descent finds the active set and signs
    (it converges slowly on ill-conditioned designs), and the stationarity equations on that set
    are then solved exactly; the result is returned once it satisfies the optimality conditions.
    ``max_iter`` caps the coordinate-descent sweeps in total (default
    ``MAX_ACTIVE_SET_ROUNDS * SWEEPS_PER_ROUND``).
    """
    H = G + np.diag(l2)
    rhs = c + l2 * center
    if not np.any(l1 > 0):
        return np.linalg.solve(H, rhs)
    budget = MAX_ACTIVE_SET_ROUNDS * SWEEPS_PER_ROUND if max_iter is None else int(max_iter)
    scale = max(float(np.max(np.abs(rhs))), 1e-300)
    beta = np.array(center if beta0 is None else beta0, dtype=float)
    used = 0
    while used < budget:
        beta, done = _coordinate_sweeps(
            G, c, l2, l1, center, beta, min(SWEEPS_PER_ROUND, budget - used)
        )
        used += done
        candidate = _active_set_solution(H, rhs, l1, center, beta)
        if candidate is None:
            continue
        grad = H @ candidate - rhs
        inactive = candidate == center
        if np.all(np.abs(grad[inactive]) <= l1[inactive] * (1 + 1e-9) + 1e-12 * scale):
            return candidate
        beta = candidate
    # Duplicated (collinear) columns leave the active-set equations singular, so no exact
    # candidate is ever found; the lasso optimum is then not unique, and the coordinate-descent
    # point is one if it meets the optimality conditions.
    if _meets_optimality(H, rhs, l1, center, beta, scale):
        return beta
    raise RuntimeError(
        f"the lasso MAP did not converge in {budget} coordinate-descent sweeps: raise "
        "MAP(max_iter=...), rescale X or change the prior"
    )


def _meets_optimality(H, rhs, l1, center, beta, scale, rtol=1e-8) -> bool:
    """Whether ``beta`` satisfies the lasso's subgradient conditions to ``rtol * scale``."""
    grad = H @ beta - rhs
    active = beta != center
    sign = np.sign(beta - center)
    slack = rtol * scale
    on_active = np.abs(grad[active] + l1[active] * sign[active]) <= slack
    on_inactive = np.abs(grad[~active]) <= l1[~active] + slack
    return bool(np.all(on_active) and np.all(on_inactive))


def _active_set_solution(H, rhs, l1, center, beta):
    """Solve the stationarity equations with the active set and signs of ``beta`` held fixed."""
    active = beta != center
    sign = np.sign(beta - center)
    out = center.copy()
    if not np.any(active):
        return out
    H_aa = H[np.ix_(active, active)]
    b = rhs[active] - l1[active] * sign[active] - H[np.ix_(active, ~active)] @ center[~active]
    try:
        out[active] = np.linalg.solve(H_aa, b)
    except np.linalg.LinAlgError:
        return None
    if np.any(np.sign(out[active] - center[active]) != sign[active]):
        return None  # the sign pattern is not settled yet: keep descending
    return out


def _coordinate_sweeps(G, c, l2, l1, center, beta, n_sweeps, tol=1e-13):
    """At most ``n_sweeps`` sweeps; returns the coefficients and the sweeps made."""
    beta = beta.copy()
    Gb = G @ beta
    diag = np.diag(G) + l2
    scale = max(float(np.max(np.abs(c))), 1e-300)
    done = 0
    for _ in range(n_sweeps):
        done += 1
        max_step = 0.0
        for j in range(len(c)):
            old = beta[j]
            u = c[j] - Gb[j] + G[j, j] * old + l2[j] * center[j] - diag[j] * center[j]
            new = center[j] + np.sign(u) * max(abs(u) - l1[j], 0.0) / diag[j]
            if new != old:
                Gb += G[:, j] * (new - old)
                beta[j] = new
                max_step = max(max_step, abs(new - old) * diag[j])
        if max_step <= tol * scale:
            break
    return beta, done


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


def penalised_least_squares(X, y, weights, prior, *, flat_intercept, beta0=None, max_iter=None):
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
    coef = solve_penalised_quadratic(Xw.T @ Xc, Xw.T @ yc, l2, l1, center, beta0, max_iter)
    intercept = float(y_mean - x_mean @ coef) if flat_intercept else 0.0
    return intercept, coef


def noise_map(residuals, y_err, noise_prior: Prior, on_variance: bool, scaled_coef=None) -> float:
    """Mode of the noise standard deviation given residuals (prior on sigma or on sigma^2).

    ``scaled_coef``: ``(count, quad)`` for a coefficient prior scaled by the noise
    (``coef_j | sigma^2 ~ N(mu_j, sigma^2 s_j^2)``, ``quad = sum ((coef_j - mu_j) / s_j)^2``):
    that prior's density depends on sigma too, so the joint mode has it in the noise's objective.
    """
    err2 = 0.0 if y_err is None else y_err**2
    scale = max(float(np.std(residuals)), 1e-8)
    count, quad = (0, 0.0) if scaled_coef is None else scaled_coef

    def negative_log_post(log_sigma):
        sigma2 = np.exp(2.0 * log_sigma)
        var = sigma2 + err2
        loglik = -0.5 * np.sum(np.log(2 * np.pi * var) + residuals**2 / var)
        loglik -= 0.5 * (count * np.log(sigma2) + quad / sigma2)
        logprior = noise_prior.logpdf(sigma2 if on_variance else np.sqrt(sigma2))
        return -(loglik + float(np.sum(logprior)))

    res = optimize.minimize_scalar(
        negative_log_post, bracket=(np.log(scale) - 1.0, np.log(scale)), tol=1e-12
    )
    return float(np.exp(res.x))


def lbfgs_map(neg_log_post, n_params: int, x0=None, max_iter: int | None = None):
    """Minimise a torch objective of an unconstrained parameter vector with L-BFGS-B (scipy).

    ``neg_log_post(z: Tensor[n_params]) -> Tensor[]``; ``max_iter`` L-BFGS iterations (default
    5000, with a ``ConvergenceWarning`` when they run out). Returns the optimum as numpy.
    """
    max_iter = 5000 if max_iter is None else int(max_iter)
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
    if res.nit >= max_iter:
        warnings.warn(
            f"the MAP optimiser stopped after max_iter={max_iter} iterations: "
            "raise MAP(max_iter=...)",
            ConvergenceWarning,
            stacklevel=4,
        )
    return res.x, res


def active_set_covariance(X, weights, active, *, flat_intercept: bool) -> np.ndarray | None:
    """Gaussian (Laplace) approximation at a lasso MAP: covariance of ``[intercept, coef]``.

    The Laplace prior's log density is linear on each side of its centre, so where it is smooth
    the curvature of the log posterior is the likelihood's alone: the active (non-zero)
    coefficients get the inverse weighted Gram matrix of their columns. A coefficient at the
    centre sits on the kink, where no Gaussian approximation exists; it is held there (zero
    variance). A flat intercept is integrated out by weighted centring as in the closed forms.
    ``None`` (as for :func:`hessian_covariance`) when the active columns are collinear.
    """
    p = X.shape[1]
    w = np.asarray(weights, dtype=float)
    x_mean = w @ X / w.sum() if flat_intercept else np.zeros(p)
    cov = np.zeros((p, p))
    if np.any(active):
        Xa = X[:, active] - x_mean[active]
        try:
            chol = linalg.cholesky((Xa * w[:, None]).T @ Xa, lower=True)
        except linalg.LinAlgError:
            # More non-zero coefficients than the data determine (e.g. duplicated columns):
            # the log posterior is flat along some direction, so no Gaussian approximation.
            return None
        inv_chol = linalg.solve_triangular(chol, np.eye(len(chol)), lower=True)
        cov[np.ix_(active, active)] = inv_chol.T @ inv_chol
    full = np.zeros((p + 1, p + 1))
    full[1:, 1:] = cov
    if flat_intercept:
        # intercept = weighted mean of y - x_mean @ coef + independent N(0, 1/sum(w)) part
        full[0, 0] = 1.0 / w.sum() + x_mean @ cov @ x_mean
        full[0, 1:] = full[1:, 0] = -cov @ x_mean
    return full


def hessian_covariance(neg_log_post, z, n_intercept: int, coef_transform, p: int):
    """Laplace approximation at a mode ``z`` of a smooth objective: covariance of
    ``[intercept, coef]`` (the inverse Hessian, marginal over the noise parameters, mapped
    to the coefficients' own scale by the delta method). ``None`` if the Hessian is not
    positive definite (the mode is on a boundary or a direction is flat)."""
    zt = torch.as_tensor(np.asarray(z, dtype=np.float64))
    hess = torch.autograd.functional.hessian(neg_log_post, zt).numpy()
    try:
        chol = linalg.cholesky(0.5 * (hess + hess.T), lower=True)
    except linalg.LinAlgError:
        return None
    inv_chol = linalg.solve_triangular(chol, np.eye(len(z)), lower=True)
    block = (inv_chol.T @ inv_chol)[: n_intercept + p, : n_intercept + p]
    zc = zt[n_intercept : n_intercept + p]
    jac = torch.autograd.functional.jacobian(coef_transform.forward, zc).numpy().reshape(p, p)
    J = linalg.block_diag(np.eye(n_intercept), jac)
    cov = J @ block @ J.T
    full = np.zeros((p + 1, p + 1))
    full[1 - n_intercept :, 1 - n_intercept :] = cov
    return full
