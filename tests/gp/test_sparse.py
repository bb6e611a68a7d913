"""Sparse (SGPR) fits: exact when the inducing points are the data, accurate at large n."""

import numpy as np
import pytest

from bayesphys.gp import GPRegression
from bayesphys.gp.inference.sgpr import select_inducing
from bayesphys.inference import SGPR


def _truth(X):
    return np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.3 * X[:, 1]


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    X_test = rng.uniform(-3, 3, size=(1000, 2))
    return X, _truth(X) + 0.2 * rng.normal(size=n), X_test


def _rmse(gp, X_test):
    return float(np.sqrt(np.mean((gp.predict(X_test) - _truth(X_test)) ** 2)))


def test_inducing_points_at_the_data_reproduce_the_exact_gp():
    X, y, X_test = _data(40, 0)
    y_err = np.random.default_rng(1).uniform(0.1, 0.3, size=40)
    fixed = {"lengthscale": [0.9, 1.4], "outputscale": 1.3}
    exact = GPRegression(priors=fixed, noise=0.1).fit(X, y, y_err=y_err)
    sparse = GPRegression(priors=fixed, noise=0.1, method=SGPR(n_inducing=40), random_state=0).fit(
        X, y, y_err=y_err
    )
    # With Z = X the Nystrom approximation is exact and the trace term vanishes.
    np.testing.assert_allclose(sparse.inducing_points_, X)
    np.testing.assert_allclose(
        sparse.log_marginal_likelihood_, exact.log_marginal_likelihood_, rtol=1e-6
    )
    for kw in ({"return_std": True}, {"return_cov": True}):
        for a, b in zip(
            sparse.predict(X_test[:20], **kw), exact.predict(X_test[:20], **kw), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bound_is_below_the_exact_evidence_with_fewer_inducing_points():
    X, y, _ = _data(300, 2)
    fixed = {"lengthscale": [0.9, 1.4], "outputscale": 1.3}
    exact = GPRegression(priors=fixed, noise=0.2).fit(X, y)
    bounds = [
        GPRegression(
            priors=fixed, noise=0.2, method=SGPR(n_inducing=m, inducing="random"), random_state=0
        )
        .fit(X, y)
        .log_marginal_likelihood_
        for m in (10, 40, 300)
    ]
    assert bounds[0] < bounds[1] < exact.log_marginal_likelihood_
    # Equal up to the relative 1e-8 jitter kept on K_mm for stability.
    np.testing.assert_allclose(bounds[2], exact.log_marginal_likelihood_, rtol=1e-5)


def test_kmeans_inducing_points_spread_over_the_data():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(-5, 0.1, size=(500, 1)), rng.normal(5, 0.1, size=(500, 1))])
    Z = select_inducing(X, 10, "kmeans", rng)
    assert Z.shape == (10, 1)
    assert np.sum(Z[:, 0] < 0) >= 3 and np.sum(Z[:, 0] > 0) >= 3


def test_sparse_fit_is_close_to_the_exact_fit():
    X, y, X_test = _data(2000, 4)
    sparse = GPRegression(method=SGPR(n_inducing=64), random_state=0).fit(X, y)
    exact = GPRegression(random_state=0).fit(X[:400], y[:400])
    # The sparse fit sees five times more data through 64 inducing points: it is at least as
    # accurate as the exact GP on a subset it can afford.
    assert _rmse(sparse, X_test) < 1.1 * _rmse(exact, X_test)
    np.testing.assert_allclose(sparse.hyperparameters_["noise"], 0.2, rtol=0.1)
    mean, std = sparse.predict(X_test, return_std=True)
    z = (mean - _truth(X_test)) / std
    assert 0.5 < np.std(z) < 2.0


@pytest.mark.slow
def test_fifty_thousand_points_match_an_exact_gp_on_a_subset():
    X, y, X_test = _data(50_000, 5)
    sparse = GPRegression(method="sgpr", random_state=0).fit(X, y)
    exact = GPRegression(random_state=0).fit(X[:2000], y[:2000])
    assert _rmse(sparse, X_test) < 1.1 * _rmse(exact, X_test)
