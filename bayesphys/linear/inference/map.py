"""MAP estimates: exact ridge/lasso for Normal/Laplace priors with a Gaussian likelihood, else
L-BFGS on the log posterior; uncertainties from the Gaussian approximation at the mode."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from bayesphys.core.fit_result import FitResult
from bayesphys.core.priors import Horseshoe, Laplace, Normal
from bayesphys.linear.inference.conjugate import closed_form_posterior, noise_weights
from bayesphys.linear.map_solvers import (
    active_set_covariance,
    hessian_covariance,
    lbfgs_map,
    noise_map,
    penalised_least_squares,
)
from bayesphys.linear.predictors import PointEstimate
from bayesphys.linear.spec import noise_variance


def fit_map(spec, X, y, y_err, max_iter=None) -> FitResult:
    """MAP: exact ridge/lasso for Normal/Laplace priors with a Gaussian likelihood, else
    L-BFGS; ``max_iter`` caps the lasso's coordinate-descent sweeps or the L-BFGS iterations."""
    prior = spec.coef_prior
    if isinstance(prior, Horseshoe):
        raise ValueError("the Horseshoe density is infinite at 0, so it has no MAP: use 'nuts'")
    gaussian_lik = spec.noise_kind != "studentt"
    if isinstance(prior, Normal | Laplace) and gaussian_lik and not spec.augmented:
        return _map_penalised(spec, X, y, y_err, max_iter)
    if isinstance(prior, Laplace):
        raise ValueError("Laplace MAP needs a Gaussian likelihood and flat intercept; use 'nuts'")
    return _map_general(spec, X, y, y_err, max_iter)


# Relative change of the noise variance between two rounds of coordinate ascent at which the
# slopes-noise alternation stops.
NOISE_ROUND_RTOL = 1e-10
NOISE_ROUNDS = 500


def _map_penalised(spec, X, y, y_err, max_iter) -> FitResult:
    lik = spec.likelihood
    if spec.noise_kind == "fixed":
        noise_var = lik.fixed_variance
        free_noise = None
    else:
        noise_var = float(np.var(y)) if np.var(y) > 0 else 1.0
        free_noise = next(iter(lik.free_params.values()))
    scaled = spec.coef_prior_scaled_by_noise
    coef = None
    for _ in range(NOISE_ROUNDS):  # coordinate ascent between slopes and noise
        prior = _scaled_prior(spec.coef_prior, noise_var) if scaled else spec.coef_prior
        w = noise_weights(noise_var, y_err, len(y))
        intercept, coef = penalised_least_squares(
            X, y, w, prior, flat_intercept=spec.flat_intercept, beta0=coef, max_iter=max_iter
        )
        if free_noise is None:
            break
        resid = y - intercept - X @ coef
        scaled_coef = _scaled_coef_quad(spec.coef_prior, coef) if scaled else None
        on_variance = spec.noise_kind == "variance"
        new_var = noise_map(resid, y_err, free_noise, on_variance, scaled_coef) ** 2
        # The noise step is a 1-D search to ~1e-12 in log(sigma): a tighter test than this
        # never passed, and every fit with a free noise ran all 500 rounds.
        if abs(new_var - noise_var) <= NOISE_ROUND_RTOL * noise_var:
            noise_var = new_var
            break
        noise_var = new_var
    else:
        warnings.warn(
            f"MAP: the slopes and the noise did not settle in {NOISE_ROUNDS} rounds (last "
            f"relative change of the noise variance above {NOISE_ROUND_RTOL:g}); check the "
            "noise prior or use 'nuts'",
            ConvergenceWarning,
            stacklevel=4,
        )
    closed = cov = None
    if isinstance(spec.coef_prior, Normal):
        # Gaussian prior: the conditional posterior at the noise mode is exact (Laplace approx.).
        closed, _ = closed_form_posterior(spec, X, y, y_err, "fixed", noise_var=noise_var)
    else:  # Laplace: Gaussian approximation on the active set, at the noise mode
        center = np.broadcast_to(np.asarray(spec.coef_prior.mu, float), coef.shape)
        cov = active_set_covariance(
            X,
            noise_weights(noise_var, y_err, len(y)),
            coef != center,
            flat_intercept=spec.flat_intercept,
        )
    point = PointEstimate(intercept, coef, noise_var, closed, cov)
    return FitResult(
        posterior=_point_posterior(intercept, coef, np.sqrt(noise_var), spec),
        extras={"predictive": point, "attributes": {}},
    )


def _scaled_coef_quad(prior, coef):
    """``(p, sum ((coef - mu) / s)^2)`` of a Normal prior scaled by the noise (see noise_map)."""
    z = (coef - np.asarray(prior.mu, float)) / np.asarray(prior.sigma, float)
    return len(coef), float(np.sum(z**2))


def _scaled_prior(prior, noise_var):
    sd = np.sqrt(noise_var)
    if isinstance(prior, Normal):
        return Normal(prior.mu, np.asarray(prior.sigma) * sd)
    return Laplace(prior.mu, np.asarray(prior.b) * sd)


def _noise_sd(lik, params):
    """The Gaussian noise's standard deviation (a tensor where it is a free parameter)."""
    values = {**lik.fixed_params, **params}
    if "sigma" in values:
        return values["sigma"]
    variance = values["variance"]
    return torch.sqrt(variance) if torch.is_tensor(variance) else float(np.sqrt(variance))


def _scaled_normal(prior, sd):
    """The torch ``Normal(mu, sigma * sd)`` of a Normal prior scaled by the noise ``sd``."""
    mu = torch.as_tensor(np.asarray(prior.mu, float))
    return torch.distributions.Normal(mu, torch.as_tensor(np.asarray(prior.sigma, float)) * sd)


def _point_posterior(intercept, coef, sigma, spec, extra=None):
    posterior = {"intercept": np.array([[intercept]]), "coef": coef[None, None, :]}
    if spec.noise_kind != "fixed":
        posterior["sigma"] = np.array([[sigma]])
    posterior.update(extra or {})
    return posterior


def _map_general(spec, X, y, y_err, max_iter) -> FitResult:
    """L-BFGS over [intercept?, coef, likelihood params] in unconstrained coordinates."""
    p = X.shape[1]
    lik = spec.likelihood
    names = list(lik.free_params)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    et = None if y_err is None else torch.as_tensor(y_err)
    n_int = 1 if spec.fit_intercept else 0
    coef_dist = spec.coef_prior.to_torch()
    int_dist = None if spec.intercept_prior is None else spec.intercept_prior.to_torch()
    coef_tf = spec.coef_prior.transform  # coefficients start at the transform's z = 0

    def unpack(z):
        intercept = z[0] if n_int else torch.zeros((), dtype=z.dtype)
        coef = coef_tf.forward(z[n_int : n_int + p])
        params = {
            nm: lik.free_params[nm].transform.forward(z[n_int + p + i])
            for i, nm in enumerate(names)
        }
        return intercept, coef, params

    def neg_log_post(z):
        intercept, coef, params = unpack(z)
        f = intercept + Xt @ coef
        value = lik.log_prob(yt, f, y_err=et, **params).sum()
        if spec.coef_prior_scaled_by_noise:
            # coef (and a Normal intercept) | sigma ~ N(mu, sigma^2 s^2), as in the closed form
            sd = _noise_sd(lik, params)
            value = value + _scaled_normal(spec.coef_prior, sd).log_prob(coef).sum()
            if spec.intercept_prior is not None:
                int_prior = _scaled_normal(spec.intercept_prior, sd)
                value = value + int_prior.log_prob(intercept).sum()
        else:
            value = value + coef_dist.log_prob(coef).sum()
            if int_dist is not None:
                value = value + int_dist.log_prob(intercept).sum()
        for nm, val in params.items():
            value = value + lik.free_params[nm].to_torch().log_prob(val).sum()
        return -value

    z0 = np.zeros(n_int + p + len(names))
    if n_int:
        z0[0] = float(np.mean(y))
    starts = {
        "sigma": max(float(np.std(y)), 1e-3),
        "variance": max(float(np.var(y)), 1e-6),
        "nu": 5.0,
    }
    for i, nm in enumerate(names):
        z0[n_int + p + i] = lik.free_params[nm].transform.inverse(np.asarray(starts.get(nm, 1.0)))
    z, _ = lbfgs_map(neg_log_post, len(z0), z0, max_iter=max_iter)
    cov = hessian_covariance(neg_log_post, z, n_int, coef_tf, p)
    with torch.no_grad():
        intercept, coef, params = unpack(torch.as_tensor(z))
    params = {k: float(v) for k, v in params.items()}
    noise_var = noise_variance(lik, params)
    extra = {k: np.array([[v]]) for k, v in params.items() if k != "sigma"}
    values = {**lik.fixed_params, **params}
    sigma = values["sigma"] if "sigma" in values else np.sqrt(values["variance"])
    coef = coef.numpy()
    point = PointEstimate(float(intercept), coef, noise_var, cov=cov)
    return FitResult(
        posterior=_point_posterior(float(intercept), coef, sigma, spec, extra),
        extras={"predictive": point, "attributes": {}},
    )
