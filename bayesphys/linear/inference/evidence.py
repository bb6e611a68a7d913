"""Empirical Bayes (type-II maximum likelihood) for the Gaussian linear model.

MacKay's fixed point maximises the exact log evidence over the shared prior precision of the
slopes, ``alpha = 1/tau^2``, and the noise precision, ``lam = 1/sigma^2``. With known per-point
errors the noise enters as ``sigma^2 + y_err^2`` and no fixed point exists, so the same evidence is
maximised numerically.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from bayesphys.core.fit_result import FitResult
from bayesphys.core.priors import Normal
from bayesphys.linear.gaussian import gaussian_posterior, log_evidence_fixed_noise
from bayesphys.linear.inference.conjugate import DeferredDraws, closed_form_posterior

# A noise below sqrt(machine epsilon) times the scatter of y cannot be told apart from the
# round-off of an exact fit (which leaves residuals of about 1e-16 of y).
COLLAPSED_NOISE = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True)
class EvidenceOptimum:
    """Hyperparameters that maximise the evidence."""

    prior_scale: float  # tau
    noise: float  # sigma
    n_iter: int
    converged: bool


def _evidence(X, y, y_err, prior_mean, tau, sigma, flat_intercept):
    var = sigma**2 + (0.0 if y_err is None else y_err**2)
    weights = np.broadcast_to(1.0 / var, y.shape).copy()
    prec0 = np.full(X.shape[1], 1.0 / tau**2)
    post = gaussian_posterior(X, y, weights, prior_mean, prec0, flat_intercept=flat_intercept)
    return log_evidence_fixed_noise(post, weights)


def maximize_evidence(
    X,
    y,
    *,
    prior_mean,
    y_err=None,
    noise=None,
    flat_intercept=True,
    max_iter=300,
    tol=1e-10,
) -> EvidenceOptimum:
    """Maximise the log evidence over the prior scale (and the noise, unless ``noise`` is fixed).

    Parameters
    ----------
    noise : float or None
        Fixed noise standard deviation; ``None`` to optimise it.
    """
    if y_err is None:
        return _mackay_fixed_point(X, y, prior_mean, noise, flat_intercept, max_iter, tol)

    def objective(log_params):
        tau = np.exp(log_params[0])
        sigma = noise if noise is not None else np.exp(log_params[1])
        return -_evidence(X, y, y_err, prior_mean, tau, sigma, flat_intercept)

    start = _start_with_errors(X, y, y_err, prior_mean, noise, flat_intercept, max_iter, tol)
    # A simplex one e-fold wide: Nelder-Mead's default (5% of each start value, 0.00025 for a
    # zero) is far too small for log-scales, and it stalls on the evidence's flat shoulders.
    simplex = np.vstack([start, start + np.eye(len(start))])
    # fatol relative to the evidence's size: its round-off (1e-16 of |log Z|, hundreds of nats
    # for y in units far from 1) otherwise never lets the simplex meet an absolute 1e-12.
    fatol = 1e-12 * max(1.0, abs(float(objective(start))))
    res = optimize.minimize(
        objective,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": fatol, "maxiter": 4000, "initial_simplex": simplex},
    )
    sigma = noise if noise is not None else float(np.exp(res.x[1]))
    return EvidenceOptimum(float(np.exp(res.x[0])), float(sigma), int(res.nit), bool(res.success))


def _start_with_errors(X, y, y_err, prior_mean, noise, flat_intercept, max_iter, tol):
    """Log prior scale (and log noise, if free) to start the numerical search from.

    The fixed point without the known errors, on a noise that stands for both (``sigma^2 +
    mean(y_err^2)``), lands near the optimum at any scale of X and y; a start at a unit prior
    scale left the search stuck there for y of order 1e6 (every slope shrunk to ~0).
    """
    mean_err2 = float(np.mean(y_err**2))
    total = None if noise is None else float(np.sqrt(noise**2 + mean_err2))
    rough = _mackay_fixed_point(X, y, prior_mean, total, flat_intercept, max_iter, tol)
    log_tau = np.log(rough.prior_scale)
    if noise is not None:
        return np.array([log_tau])
    # What the errors leave to sigma; a tenth of the total where they explain it all (the
    # optimum may then be sigma -> 0, which the search approaches from there).
    extra2 = max(rough.noise**2 - mean_err2, 0.01 * rough.noise**2)
    return np.array([log_tau, 0.5 * np.log(extra2)])


def collapsed_noise(y, noise: float, flat_intercept: bool) -> str | None:
    """Why the evidence has no maximum, if the optimal noise collapsed to round-off; else None.

    Without known errors the evidence of data that the model reproduces exactly (noise-free
    data, constant ``y``) grows without bound as the noise goes to 0: the fixed point stops at
    a noise of round-off size and a log evidence of arbitrary size (1e17, -7e272), which must
    not be reported as a result.

    Parameters
    ----------
    y : ndarray (n,)
    noise : float
        The (free) noise standard deviation at the end of the optimisation.
    flat_intercept : bool
        ``y`` is compared with its mean (the intercept absorbs a constant).
    """
    resid = y - y.mean() if flat_intercept else y
    scale = float(np.sqrt(np.mean(resid**2)))
    if scale == 0.0:
        what = "constant" if flat_intercept else "all zero"
        return f"y is {what}, so nothing is left for the prior scale and the noise to explain"
    if noise <= COLLAPSED_NOISE * scale:
        return (
            f"the optimal noise collapsed to {noise:.3g} ({noise / scale:.1e} of the scatter "
            "of y): the model fits y exactly (noise-free data?)"
        )
    return None


def _mackay_fixed_point(X, y, prior_mean, noise, flat_intercept, max_iter, tol):
    n, _ = X.shape
    n_eff = n - 1 if flat_intercept else n
    if flat_intercept:
        X = X - X.mean(axis=0)
        y = y - y.mean()
    eigval, eigvec = np.linalg.eigh(X.T @ X)
    eigval = np.clip(eigval, 0.0, None)
    xty = X.T @ y
    lam = 1.0 / noise**2 if noise is not None else 1.0 / max(float(np.var(y)), 1e-12)
    alpha = 1.0
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        rhs = eigvec.T @ (lam * xty + alpha * prior_mean)
        mean = eigvec @ (rhs / (lam * eigval + alpha))
        gamma = float(np.sum(lam * eigval / (lam * eigval + alpha)))
        dev = float(np.sum((mean - prior_mean) ** 2))
        alpha_new = gamma / max(dev, 1e-300)
        lam_new = lam
        if noise is None:
            rss = float(np.sum((y - X @ mean) ** 2))
            lam_new = (n_eff - gamma) / max(rss, 1e-300)
        change = abs(np.log(alpha_new / alpha)) + abs(np.log(lam_new / lam))
        alpha, lam = alpha_new, lam_new
        if change < tol:
            converged = True
            break
    return EvidenceOptimum(float(alpha**-0.5), float(lam**-0.5), it, converged)


def fit_evidence(spec, X, y, y_err, chains, draws) -> FitResult:
    """Empirical Bayes: the prior scale (and noise) that maximise the evidence, then the exact
    posterior at them; ``extras["attributes"]`` holds ``coef_prior_scale_`` and ``noise_``,
    ``extras["deferred_draws"]`` makes the exact draws when first needed."""
    if not isinstance(spec.coef_prior, Normal) or spec.augmented:
        raise ValueError(
            "method='evidence' optimises the scale of a Normal coef_prior (flat or no intercept); "
            f"got coef_prior={spec.coef_prior!r}, intercept_prior={spec.intercept_prior!r}"
        )
    if spec.noise_kind == "studentt":
        raise ValueError("method='evidence' needs a Gaussian likelihood")
    sigma = np.asarray(spec.coef_prior.sigma, float)
    if sigma.size > 1 and np.any(sigma != sigma.flat[0]):
        # The evidence is maximised over one scale shared by all slopes: per-feature scales
        # would be dropped without a word, and the slopes shrunk alike.
        raise ValueError(
            "method='evidence' fits one prior scale shared by all coefficients, so the "
            f"per-feature scales of coef_prior={spec.coef_prior!r} would be ignored: give a "
            "scalar sigma (and rescale the columns of X to express their relative scales), "
            "or fix the scales with method='conjugate'"
        )
    fixed = np.sqrt(spec.likelihood.fixed_variance) if spec.noise_kind == "fixed" else None
    mu = np.broadcast_to(np.asarray(spec.coef_prior.mu, float), (X.shape[1],)).copy()
    opt = maximize_evidence(
        X, y, prior_mean=mu, y_err=y_err, noise=fixed, flat_intercept=spec.flat_intercept
    )
    if not opt.converged:
        # Both ways it runs out are optima on a boundary, where the fit itself is still right.
        warnings.warn(
            f"evidence maximisation did not fully converge (prior scale {opt.prior_scale:.3g}, "
            f"noise {opt.noise:.3g} after {opt.n_iter} iterations): the evidence may keep "
            "growing toward a boundary. A prior scale going to 0 means y shows no linear "
            "dependence on X beyond the noise (the coefficients stay at the prior mean); a "
            "noise going to 0 means the model can fit y exactly (e.g. as many features as "
            "points). Fix the noise or the prior scale (method='conjugate') to choose them",
            RuntimeWarning,
            stacklevel=3,
        )
    tuned = type(spec)(
        Normal(mu, opt.prior_scale), None, spec.fit_intercept, spec.likelihood, False
    )
    cf, log_z = closed_form_posterior(tuned, X, y, y_err, "fixed", noise_var=opt.noise**2)
    return FitResult(
        log_evidence=log_z,
        extras={
            "predictive": cf,
            "attributes": {"coef_prior_scale_": opt.prior_scale, "noise_": opt.noise},
            "deferred_draws": DeferredDraws(cf, chains, draws),
        },
    )
