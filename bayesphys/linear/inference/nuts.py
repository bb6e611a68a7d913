"""NUTS with PyMC: the linear model rendered from the core Prior/Likelihood specs, sampled."""

from __future__ import annotations

import warnings

import numpy as np

from bayesphys.core.fit_result import FitResult
from bayesphys.core.interrupts import warn_interrupted
from bayesphys.core.priors import Normal
from bayesphys.core.samplers import warn_transitions
from bayesphys.core.schema import SAMPLE_STATS
from bayesphys.linear.predictors import Draws
from bayesphys.linear.spec import noise_variance


def build_pymc_model(spec, X, y, y_err, feature_names, *, centre_intercept: bool = True):
    """A ``pm.Model`` for ``y ~ likelihood(intercept + X coef)`` with the spec's priors.

    Posterior variables: ``coef`` (dim ``feature``), ``intercept`` (if fitted) and the
    likelihood's free parameters under their own names (``sigma``, ``variance``, ``nu``).

    With an intercept on the real line, NUTS moves the intercept at the mean of ``X``
    (``intercept_centred``, flat, with the intercept prior as a potential on
    ``intercept = intercept_centred - mean(X) @ coef``): the same posterior, but without the
    strong intercept-slope correlation of uncentred features, which otherwise makes NUTS build
    trees several times deeper (e.g. features around 100 with a spread of 15).
    ``centre_intercept=False`` samples the intercept itself (the parametrisation before; kept
    for ``benchmarks/linear.py``).
    """
    import pymc as pm
    import pytensor.tensor as pt

    centre = centre_intercept and _centres_intercept(spec)
    x_mean = X.mean(axis=0) if centre else np.zeros(X.shape[1])
    coords = {"feature": list(feature_names), "obs": np.arange(len(y))}
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X - x_mean, dims=("obs", "feature"))
        params = {name: prior.to_pymc(name) for name, prior in spec.likelihood.free_params.items()}
        if spec.coef_prior_scaled_by_noise:
            prior: Normal = spec.coef_prior
            raw = pm.Normal("coef_raw", 0.0, 1.0, dims="feature")
            coef = pm.Deterministic(
                "coef", prior.mu + _noise_sigma(spec, params) * prior.sigma * raw, dims="feature"
            )
        else:
            coef = spec.coef_prior.to_pymc("coef", dims="feature")
        f = pt.dot(X_data, coef)
        # With coef_prior_scaled_by_noise a (Normal) intercept prior is scaled by the noise too:
        # the Normal-Inverse-Gamma model of the closed form, N(mu, sigma^2 s^2) for every weight.
        scaled_intercept = spec.coef_prior_scaled_by_noise and spec.intercept_prior is not None
        if centre:
            level = pm.Flat("intercept_centred")
            intercept = pm.Deterministic("intercept", level - pt.dot(x_mean, coef))
            if spec.intercept_prior is not None:
                if scaled_intercept:
                    prior_dist = pm.Normal.dist(
                        spec.intercept_prior.mu,
                        _noise_sigma(spec, params) * spec.intercept_prior.sigma,
                    )
                else:
                    prior_dist = _pymc_dist(spec.intercept_prior)
                pm.Potential("intercept_prior", pm.logp(prior_dist, intercept))
            f = f + level
        elif spec.fit_intercept:
            if spec.intercept_prior is None:
                intercept = pm.Flat("intercept")
            elif scaled_intercept:
                level_prior: Normal = spec.intercept_prior
                raw_intercept = pm.Normal("intercept_raw", 0.0, 1.0)
                intercept = pm.Deterministic(
                    "intercept",
                    level_prior.mu + _noise_sigma(spec, params) * level_prior.sigma * raw_intercept,
                )
            else:
                intercept = spec.intercept_prior.to_pymc("intercept")
            f = f + intercept
        if y_err is not None:
            pm.Data("y_err", y_err, dims="obs")  # recorded in constant_data
        spec.likelihood.to_pymc("y", f, observed=y, y_err=y_err, **params)
    return model


def _centres_intercept(spec) -> bool:
    """The intercept can be moved to the centre of the data: flat, or a prior on the real line
    that PyMC renders as one distribution (its log density then serves as a potential)."""
    from bayesphys.core.priors.base import Prior

    prior = spec.intercept_prior
    if not spec.fit_intercept or prior is None:
        return spec.fit_intercept
    return prior.support == "real" and type(prior).to_pymc is Prior.to_pymc


def _pymc_dist(prior):
    """The PyMC distribution (unregistered, ``.dist``) of a prior with the generic ``to_pymc``."""
    import pymc as pm

    return getattr(pm, prior._pymc_name or type(prior).__name__).dist(**prior._pymc_constants())


def _noise_sigma(spec, params):
    import pytensor.tensor as pt

    if "variance" in params:
        return pt.sqrt(params["variance"])
    if "sigma" in params:
        return params["sigma"]
    fixed = spec.likelihood.fixed_params
    return fixed["sigma"] if "sigma" in fixed else float(np.sqrt(fixed["variance"]))


def sample_nuts(
    model, *, draws, tune, chains, random_seed, target_accept, max_treedepth, progressbar
):
    """Run PyMC's NUTS; the caller computes log-likelihoods and predictive draws itself.

    After Ctrl-C PyMC returns the draws made so far (it keeps the chains and the common length
    that give the most draws); Ctrl-C before the first draw re-raises ``KeyboardInterrupt``
    (PyMC itself raises ``ValueError("Not enough samples to build a trace.")``).
    """
    import pymc as pm

    with model, warnings.catch_warnings():
        # pip's PyTensor finds no BLAS to link its C code against (NumPy's and SciPy's bundled
        # OpenBLAS export prefixed symbols only), says so at every first compile, and falls back
        # to NumPy's BLAS calls: for these models of a few coefficients it changes nothing.
        warnings.filterwarnings(
            "ignore", message="PyTensor could not link to a BLAS", category=UserWarning
        )
        try:
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=random_seed,
                nuts={"target_accept": target_accept, "max_treedepth": max_treedepth},
                progressbar=progressbar,
                idata_kwargs={"log_likelihood": False},
                compute_convergence_checks=False,
            )
        except ValueError as err:
            # PyMC's only way of saying that no chain got past tuning: draws >= 1 is
            # validated, so this is an interrupt during tuning (the one policy re-raises it).
            if "Not enough samples to build a trace" not in str(err):
                raise
            raise KeyboardInterrupt(
                "linear NUTS was interrupted during tuning; no draws to keep"
            ) from None


def fit_nuts(
    spec, X, y, y_err, *, feature_names, method, seed, progressbar, centre_intercept=True
) -> FitResult:
    """PyMC NUTS; the draws and sampler statistics are handed back as arrays for the schema.

    ``centre_intercept``: see :func:`build_pymc_model`.
    """
    model = build_pymc_model(spec, X, y, y_err, feature_names, centre_intercept=centre_intercept)
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
    # PyMC's own checks are off (compute_convergence_checks=False): the shared policy warns
    # about divergences and trees cut at max_treedepth, as the GP and BNN samplers do.
    # stacklevel: the user's call of BayesianLinearRegression.fit
    warn_transitions(sample_stats, "BayesianLinearRegression.fit (NUTS)", stacklevel=3)
    coef = posterior["coef"].reshape(-1, X.shape[1])  # fewer draws after a Ctrl-C
    size = coef.shape[0]
    intercept = posterior["intercept"].reshape(-1) if spec.fit_intercept else np.zeros(size)
    params = {k: posterior[k].reshape(-1) for k in spec.likelihood.free_params}
    noise_var = noise_variance(spec.likelihood, params)
    return FitResult(
        posterior=posterior,
        sample_stats=sample_stats,
        extras={"predictive": Draws(intercept, coef, noise_var), "attributes": {}},
        progress=progress,
    )
