"""Draws from the priors treat a scalar prior on a vector hyperparameter as one per value."""

import numpy as np

from bayesphys.gp import GPRegression
from bayesphys.priors import LogNormal, Normal


def _fitted(draws_seed=0):
    rng = np.random.default_rng(draws_seed)
    X = rng.uniform(0, 10, size=(30, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=30)
    priors = {"lengthscale": LogNormal(0.0, 1.0), "mean_coef": Normal(0.0, 1.0)}
    return GPRegression(mean="linear", priors=priors, random_state=0).fit(X, y), X


def test_prior_predictive_draws_each_feature_independently():
    gp, X = _fitted()
    draws = 4000
    prior = gp.sample_prior_predictive(X[:2], draws=draws, random_state=1).prior
    # The log prior of the fit is a sum over the features: independent LogNormal(0, 1) and
    # Normal(0, 1) per feature. One shared draw per row had correlation 1.
    for name, values in [
        ("lengthscale", np.log(prior["lengthscale"].values[0])),
        ("mean_coef", prior["mean_coef"].values[0]),
    ]:
        assert values.shape == (draws, 2), name
        np.testing.assert_allclose(values.mean(0), 0.0, atol=4 / np.sqrt(draws), err_msg=name)
        np.testing.assert_allclose(values.std(0), 1.0, atol=4 / np.sqrt(2 * draws), err_msg=name)
        assert abs(np.corrcoef(values.T)[0, 1]) < 4 / np.sqrt(draws), name


def test_restart_starting_points_differ_between_features():
    gp, _ = _fitted()
    space = gp._model.space
    rng = np.random.default_rng(2)
    starts = np.array([space.draw(rng) for _ in range(200)])
    names = [p.name for p in space.free]
    offset = sum(p.size for p in space.free[: names.index("lengthscale")])
    lengthscale = starts[:, offset : offset + 2]
    assert abs(np.corrcoef(lengthscale.T)[0, 1]) < 4 / np.sqrt(200)
