"""PyMC rendering of the linear model from the core Prior/Likelihood specs (the NUTS path)."""

from __future__ import annotations

import warnings

import numpy as np

from bayesphys.core.priors import Normal


def build_pymc_model(spec, X, y, y_err, feature_names):
    """A ``pm.Model`` for ``y ~ likelihood(intercept + X coef)`` with the spec's priors.

    Posterior variables: ``coef`` (dim ``feature``), ``intercept`` (if fitted) and the
    likelihood's free parameters under their own names (``sigma``, ``variance``, ``nu``).
    """
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"feature": list(feature_names), "obs": np.arange(len(y))}
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X, dims=("obs", "feature"))
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
        if spec.fit_intercept:
            if spec.intercept_prior is None:
                intercept = pm.Flat("intercept")
            else:
                intercept = spec.intercept_prior.to_pymc("intercept")
            f = f + intercept
        if y_err is not None:
            pm.Data("y_err", y_err, dims="obs")  # recorded in constant_data
        spec.likelihood.to_pymc("y", f, observed=y, y_err=y_err, **params)
    return model


def _noise_sigma(spec, params):
    import pytensor.tensor as pt

    if "variance" in params:
        return pt.sqrt(params["variance"])
    if "sigma" in params:
        return params["sigma"]
    return spec.likelihood.fixed_params["sigma"]


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
