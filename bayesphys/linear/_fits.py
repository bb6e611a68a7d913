"""One function per inference path; each returns a ``FitOutcome`` for the estimator."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from bayesphys.core.interrupts import warn_interrupted
from bayesphys.core.priors import Horseshoe, Laplace, Normal
from bayesphys.core.schema import SAMPLE_STATS
from bayesphys.linear import _gaussian as gauss
from bayesphys.linear._evidence import maximize_evidence
from bayesphys.linear._map import (
    active_set_covariance,
    hessian_covariance,
    lbfgs_map,
    noise_map,
    penalised_least_squares,
)
from bayesphys.linear._predictive import ClosedForm, Draws, PointEstimate
from bayesphys.linear._pymc import build_pymc_model, sample_nuts


@dataclass
class FitOutcome:
    predictive: ClosedForm | Draws | PointEstimate
    posterior: dict  # name -> array (chain, draw, ...)
    log_evidence: float | None = None
    extras: dict = field(default_factory=dict)  # learned attributes beyond the common ones
    sample_stats: dict | None = None  # MCMC statistics under the shared schema's names
    progress: str | None = None  # None if complete, else how far Ctrl-C let the fit get


def _weights(noise_var, y_err, n):
    var = noise_var + (0.0 if y_err is None else y_err**2)
    return np.broadcast_to(1.0 / var, (n,)).astype(float)


def closed_form_posterior(spec, X, y, y_err, kind, noise_var=None):
    """Exact posterior (``kind`` "fixed" or "nig") as a ``ClosedForm`` and its log evidence."""
    Xd = np.column_stack([np.ones(len(X)), X]) if spec.augmented else X
    if kind == "fixed":
        if noise_var is None:
            noise_var = spec.likelihood.fixed_variance
        w = _weights(noise_var, y_err, len(y))
        m0, p0 = spec.prior_arrays(X.shape[1], noise_var)
        post = gauss.gaussian_posterior(Xd, y, w, m0, p0, flat_intercept=spec.flat_intercept)
        return ClosedForm(post, spec.augmented, noise_var), gauss.log_evidence_fixed_noise(post, w)
    ig = spec.likelihood.free_params["variance"]
    a0, b0 = float(ig.alpha), float(ig.beta)
    m0, p0 = spec.prior_arrays(X.shape[1], None)
    post = gauss.gaussian_posterior(
        Xd, y, np.ones(len(y)), m0, p0, flat_intercept=spec.flat_intercept
    )
    nig = gauss.nig_update(post, a0, b0)
    return ClosedForm(post, spec.augmented, None, nig), gauss.log_evidence_nig(post, a0, b0)


def draws_from_closed_form(cf: ClosedForm, chains, draws, rng):
    size = chains * draws
    noise_var = None
    if cf.nig is not None:
        a_n, b_n = cf.nig
        noise_var = b_n / rng.gamma(a_n, 1.0, size=size)
    intercept, coef = gauss.draw_coefficients(cf.post, size, rng, noise_var)
    if cf.augmented:
        intercept = intercept + coef[:, 0]
        coef = coef[:, 1:]
    posterior = {"intercept": intercept, "coef": coef}
    if noise_var is not None:
        posterior["sigma"] = np.sqrt(noise_var)
    return {k: v.reshape(chains, draws, *v.shape[1:]) for k, v in posterior.items()}


def fit_closed_form(spec, X, y, y_err, kind, chains, draws, rng) -> FitOutcome:
    cf, log_z = closed_form_posterior(spec, X, y, y_err, kind)
    return FitOutcome(cf, draws_from_closed_form(cf, chains, draws, rng), log_z)


def fit_evidence(spec, X, y, y_err, chains, draws, rng) -> FitOutcome:
    if not isinstance(spec.coef_prior, Normal) or spec.augmented:
        raise ValueError(
            "method='evidence' optimises the scale of a Normal coef_prior (flat or no intercept); "
            f"got coef_prior={spec.coef_prior!r}, intercept_prior={spec.intercept_prior!r}"
        )
    if spec.noise_kind == "studentt":
        raise ValueError("method='evidence' needs a Gaussian likelihood")
    fixed = np.sqrt(spec.likelihood.fixed_variance) if spec.noise_kind == "fixed" else None
    mu = np.broadcast_to(np.asarray(spec.coef_prior.mu, float), (X.shape[1],)).copy()
    opt = maximize_evidence(
        X, y, prior_mean=mu, y_err=y_err, noise=fixed, flat_intercept=spec.flat_intercept
    )
    if not opt.converged:
        warnings.warn("evidence maximisation did not fully converge", RuntimeWarning, stacklevel=3)
    tuned = type(spec)(
        Normal(mu, opt.prior_scale), None, spec.fit_intercept, spec.likelihood, False
    )
    cf, log_z = closed_form_posterior(tuned, X, y, y_err, "fixed", noise_var=opt.noise**2)
    outcome = FitOutcome(cf, draws_from_closed_form(cf, chains, draws, rng), log_z)
    outcome.extras = {"coef_prior_scale_": opt.prior_scale, "noise_": opt.noise}
    return outcome


def fit_map(spec, X, y, y_err, max_iter=None) -> FitOutcome:
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


def _map_penalised(spec, X, y, y_err, max_iter) -> FitOutcome:
    lik = spec.likelihood
    if spec.noise_kind == "fixed":
        noise_var = lik.fixed_variance
        free_noise = None
    else:
        noise_var = float(np.var(y)) if np.var(y) > 0 else 1.0
        free_noise = next(iter(lik.free_params.values()))
    scaled = spec.coef_prior_scaled_by_noise
    coef = None
    for _ in range(500):  # coordinate ascent between slopes and noise
        prior = _scaled_prior(spec.coef_prior, noise_var) if scaled else spec.coef_prior
        w = _weights(noise_var, y_err, len(y))
        intercept, coef = penalised_least_squares(
            X, y, w, prior, flat_intercept=spec.flat_intercept, beta0=coef, max_iter=max_iter
        )
        if free_noise is None:
            break
        resid = y - intercept - X @ coef
        new_var = noise_map(resid, y_err, free_noise, spec.noise_kind == "variance") ** 2
        if abs(new_var - noise_var) <= 1e-12 * noise_var:
            noise_var = new_var
            break
        noise_var = new_var
    closed = cov = None
    if isinstance(spec.coef_prior, Normal):
        # Gaussian prior: the conditional posterior at the noise mode is exact (Laplace approx.).
        closed, _ = closed_form_posterior(spec, X, y, y_err, "fixed", noise_var=noise_var)
    else:  # Laplace: Gaussian approximation on the active set, at the noise mode
        center = np.broadcast_to(np.asarray(spec.coef_prior.mu, float), coef.shape)
        cov = active_set_covariance(
            X,
            _weights(noise_var, y_err, len(y)),
            coef != center,
            flat_intercept=spec.flat_intercept,
        )
    point = PointEstimate(intercept, coef, noise_var, closed, cov)
    return FitOutcome(point, _point_posterior(intercept, coef, np.sqrt(noise_var), spec))


def _scaled_prior(prior, noise_var):
    sd = np.sqrt(noise_var)
    if isinstance(prior, Normal):
        return Normal(prior.mu, np.asarray(prior.sigma) * sd)
    return Laplace(prior.mu, np.asarray(prior.b) * sd)


def _point_posterior(intercept, coef, sigma, spec, extra=None):
    posterior = {"intercept": np.array([[intercept]]), "coef": coef[None, None, :]}
    if spec.noise_kind != "fixed":
        posterior["sigma"] = np.array([[sigma]])
    posterior.update(extra or {})
    return posterior


def _map_general(spec, X, y, y_err, max_iter) -> FitOutcome:
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
        value = lik.log_prob(yt, f, y_err=et, **params).sum() + coef_dist.log_prob(coef).sum()
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
    noise_var = _noise_variance(lik, params)
    extra = {k: np.array([[v]]) for k, v in params.items() if k != "sigma"}
    values = {**lik.fixed_params, **params}
    sigma = values["sigma"] if "sigma" in values else np.sqrt(values["variance"])
    coef = coef.numpy()
    point = PointEstimate(float(intercept), coef, noise_var, cov=cov)
    return FitOutcome(point, _point_posterior(float(intercept), coef, sigma, spec, extra))


def _noise_variance(lik, params):
    """Variance of the observation noise (Student-t: sigma^2 nu/(nu-2), inf for nu <= 2)."""
    values = {**lik.fixed_params, **params}
    var = values["variance"] if "variance" in values else values["sigma"] ** 2
    if "nu" in values:
        nu = values["nu"]
        var = np.where(nu > 2, var * nu / np.maximum(nu - 2, 1e-300), np.inf)
    return var


def fit_nuts(spec, X, y, y_err, *, feature_names, method, seed, progressbar) -> FitOutcome:
    """PyMC NUTS; the draws and sampler statistics are handed back as arrays for the schema."""
    model = build_pymc_model(spec, X, y, y_err, feature_names)
    idata = sample_nuts(
        model,
        draws=method.draws,
        tune=method.tune,
        chains=method.chains,
        random_seed=seed,
        target_accept=method.target_accept,
        max_treedepth=method.max_treedepth,
        progressbar=progressbar,
    )
    post = idata.posterior
    progress = None
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    if chains < method.chains or draws < method.draws:  # Ctrl-C: PyMC kept what it had
        progress = f"{draws} of {method.draws} draws per chain"
        if chains < method.chains:
            progress = f"{chains} of {method.chains} chains, {progress}"
        # stacklevel: the user's call of BayesianLinearRegression.fit
        warn_interrupted("BayesianLinearRegression.fit (NUTS)", progress, stacklevel=4)
    # The model's own variables only (PyMC's reparametrisation ``coef_raw`` stays inside).
    names = ["coef", *(["intercept"] if spec.fit_intercept else []), *spec.likelihood.free_params]
    posterior = {name: np.asarray(post[name].values) for name in names}
    if "sigma" not in posterior and "variance" in posterior:
        posterior["sigma"] = np.sqrt(posterior["variance"])
    stats = idata.sample_stats
    sample_stats = {k: np.asarray(stats[k].values) for k in SAMPLE_STATS if k in stats}
    coef = posterior["coef"].reshape(-1, X.shape[1])  # fewer draws after a Ctrl-C
    size = coef.shape[0]
    intercept = posterior["intercept"].reshape(-1) if spec.fit_intercept else np.zeros(size)
    params = {k: posterior[k].reshape(-1) for k in spec.likelihood.free_params}
    noise_var = _noise_variance(spec.likelihood, params)
    return FitOutcome(
        Draws(intercept, coef, noise_var),
        posterior,
        None,
        sample_stats=sample_stats,
        progress=progress,
    )
