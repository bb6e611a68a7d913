"""Fully Bayesian hyperparameters by HMC: convergence, mixture predictions and LOO densities."""

import numpy as np
import pytest

from bayesphys import results
from bayesphys.gp import GPRegression
from bayesphys.inference import NUTS
from bayesphys.priors import LogNormal


def _data(n=20, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 4, size=(n, 1))
    return X, np.sin(2 * X[:, 0]) + 0.2 * rng.normal(size=n)


def _check_convergence(idata, min_ess):
    rhat = results.rhat(idata).to_array().values
    ess = results.ess(idata).to_array().values
    assert np.all(rhat < 1.01), rhat
    assert np.all(ess > min_ess), ess
    assert int(idata.sample_stats["diverging"].values.sum()) == 0


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    gp = GPRegression(
        method=NUTS(draws=500, tune=300, chains=4), random_state=0, max_predict_draws=6
    ).fit(X, y, progressbar=False)
    return gp, X, y


def test_quick_run_converges(fitted):
    gp, _, y = fitted
    # 4 x 500 draws: NUTS makes ~0.45 effective draws per draw here, so R-hat < 1.01 holds with
    # margin (at 4 x 200 it scattered 1.009-1.014 over seeds, for NUTS and the old HMC alike).
    _check_convergence(gp.idata_, min_ess=400)
    post = gp.idata_.posterior
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 500
    assert set(post.data_vars) == {"lengthscale", "outputscale", "noise"}
    assert gp.idata_.log_likelihood["y"].shape == (4, 500, len(y))
    assert gp.idata_.posterior_predictive["y"].shape == (4, 500, len(y))
    # hyperparameters_ are the posterior medians.
    np.testing.assert_allclose(gp.hyperparameters_["noise"], np.median(post["noise"].values))


def test_predictions_mix_over_the_draws(fitted):
    gp, X, y = fitted
    X_new = np.array([[0.3], [2.0], [5.0]])
    # max_predict_draws=6 thins the 2000 draws to every 334th; rebuild each as a fixed GP.
    flat = {k: v.values.reshape(-1) for k, v in gp.idata_.posterior.items()}
    means, variances = [], []
    for i in range(0, 2000, 334):
        fixed = {"lengthscale": flat["lengthscale"][i], "outputscale": flat["outputscale"][i]}
        one = GPRegression(priors=fixed, noise=flat["noise"][i]).fit(X, y)
        m, s = one.predict(X_new, return_std=True)
        means.append(m)
        variances.append(s**2)
    means, variances = np.array(means), np.array(variances)
    mean, std = gp.predict(X_new, return_std=True)
    np.testing.assert_allclose(mean, means.mean(0), rtol=1e-8)
    np.testing.assert_allclose(std**2, variances.mean(0) + means.var(0), rtol=1e-8)
    _, cov = gp.predict(X_new, return_cov=True)
    np.testing.assert_allclose(np.diag(cov), std**2, rtol=1e-8)


def test_pointwise_log_likelihood_is_the_loo_predictive_density(fitted):
    gp, X, y = fitted
    post = gp.idata_.posterior
    draw = {k: float(v.values[1, 7]) for k, v in post.items()}
    i = 5
    keep = np.arange(len(y)) != i
    fixed = {"lengthscale": draw["lengthscale"], "outputscale": draw["outputscale"]}
    loo = GPRegression(priors=fixed, noise=draw["noise"]).fit(X[keep], y[keep])
    m, s = loo.predict(X[i : i + 1], return_std=True, include_noise=True)
    expected = -0.5 * np.log(2 * np.pi * s[0] ** 2) - 0.5 * (y[i] - m[0]) ** 2 / s[0] ** 2
    np.testing.assert_allclose(gp.idata_.log_likelihood["y"].values[1, 7, i], expected, rtol=1e-8)
    assert np.isfinite(results.loo(gp.idata_).elpd_loo)


@pytest.mark.slow
def test_longer_run_converges_with_informative_priors():
    X, y = _data(n=40, seed=2)
    gp = GPRegression(
        priors={"lengthscale": LogNormal(0.0, 1.0)},
        method=NUTS(draws=1000, tune=1000, chains=4),
        random_state=3,
    ).fit(X, y, progressbar=False)
    _check_convergence(gp.idata_, min_ess=1000)
    # The posterior concentrates around the truth's noise level.
    assert 0.1 < gp.hyperparameters_["noise"] < 0.35


def test_replicates_at_the_training_inputs_are_the_marginal_posterior_predictive(fitted):
    gp, X, y = fitted
    post = gp.idata_.posterior
    # Pool the replicates of y_5 over the draws and compare with the mixture over draws of
    # N(mean_f + 0, var_f + noise^2) from fixed-hyperparameter GPs at a few draws: moments
    # of the pooled replicates match those of the rebuilt mixture within Monte Carlo error.
    i = 5
    rep = gp.idata_.posterior_predictive["y"].values[..., i].ravel()
    flat = {k: v.values.reshape(-1) for k, v in post.items()}
    means, variances = [], []
    for j in range(0, 2000, 40):
        fixed = {"lengthscale": flat["lengthscale"][j], "outputscale": flat["outputscale"][j]}
        one = GPRegression(priors=fixed, noise=flat["noise"][j]).fit(X, y)
        m, s = one.predict(X[i : i + 1], return_std=True, include_noise=True)
        means.append(m[0])
        variances.append(s[0] ** 2)
    mix_mean = np.mean(means)
    mix_sd = np.sqrt(np.mean(variances) + np.var(means))
    # The replicates are autocorrelated through the draws only weakly (fresh noise each draw).
    assert abs(rep.mean() - mix_mean) < 4 * mix_sd / np.sqrt(len(rep) / 4)
    assert abs(rep.std() / mix_sd - 1) < 0.1
    # Replicates are spread around the observation, not copies of it.
    assert np.all(np.isfinite(rep)) and rep.std() > 0


def test_sample_posterior_predictive_thins_within_chains(fitted):
    gp, X, _ = fitted
    pp = gp.sample_posterior_predictive(X[:3], random_state=0)
    # 2000 draws, max_predict_draws=6: every 334th draw of each chain, 2 per chain.
    assert pp.posterior_predictive["y"].shape == (4, 2, 3)
    np.testing.assert_array_equal(
        pp.posterior["noise"].values, gp.idata_.posterior["noise"].values[:, ::334]
    )
    f = pp.posterior_predictive["f"].values
    assert np.all(np.abs(pp.posterior_predictive["y"].values - f) > 0)
