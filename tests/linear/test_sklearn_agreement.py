"""Ridge, lasso and empirical Bayes against scikit-learn on the same data."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import BayesianRidge, Lasso, Ridge

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP
from bayesphys.linear.gaussian import gaussian_posterior, log_evidence_fixed_noise
from bayesphys.priors import Laplace, Normal


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


def test_ridge_is_normal_prior_map(diabetes):
    X, y = diabetes
    sigma, tau = 50.0, 20.0
    ours = BayesianLinearRegression(Normal(0, tau), noise=sigma, method="map").fit(X, y)
    ref = Ridge(alpha=sigma**2 / tau**2).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10)
    # Gaussian prior + fixed noise: the MAP carries the exact posterior covariance.
    assert ours.coef_cov_.shape == (10, 10)


def test_lasso_is_laplace_prior_map_with_exact_zeros(diabetes):
    X, y = diabetes
    n = len(y)
    sigma, b = 50.0, 0.5
    ours = BayesianLinearRegression(Laplace(0, b), noise=sigma, method="map").fit(X, y)
    ref = Lasso(alpha=sigma**2 / (n * b), tol=1e-12, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8)
    assert np.sum(ours.coef_ == 0.0) == np.sum(ref.coef_ == 0.0) >= 1
    # Gaussian approximation at the mode: the likelihood's curvature on the active set (the
    # Laplace prior is linear there); coefficients on the kink (exact zeros) are held at zero.
    active = ours.coef_ != 0.0
    Xc = X - X.mean(axis=0)
    cov = sigma**2 * np.linalg.inv(Xc[:, active].T @ Xc[:, active])
    np.testing.assert_allclose(ours.coef_cov_[np.ix_(active, active)], cov, rtol=1e-8)
    assert np.all(ours.coef_cov_[~active] == 0.0)
    d = Xc[:2, active]
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, cov, d) + sigma**2 / n)
    _, std = ours.predict(X[:2], return_std=True)
    np.testing.assert_allclose(std, expected, rtol=1e-8)
    _, noisy = ours.predict(X[:2], return_std=True, include_noise=True)
    np.testing.assert_allclose(noisy, np.sqrt(expected**2 + sigma**2), rtol=1e-10)


def test_lasso_sweep_budget_is_map_max_iter():
    # Nearly collinear monomials: coordinate descent needs tens of sweeps to settle the signs.
    from bayesphys.linear import polynomial_features

    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(-1, 1, 40))
    y = 0.3 + x - 0.8 * x**2 + 1.2 * x**3 + 0.1 * rng.normal(size=40)
    X, err = polynomial_features(x, 7), np.full(40, 0.1)

    def fit(method):
        return BayesianLinearRegression(Laplace(0, 0.1), noise=0.0, method=method).fit(
            X, y, y_err=err
        )

    with pytest.raises(RuntimeError, match="max_iter"):
        fit(MAP(max_iter=5))
    np.testing.assert_array_equal(fit(MAP(max_iter=500)).coef_, fit(MAP()).coef_)


def test_evidence_method_agrees_with_bayesian_ridge(diabetes):
    X, y = diabetes
    ours = BayesianLinearRegression(Normal(0, 1), method="evidence", random_state=0).fit(X, y)
    ref = BayesianRidge(tol=1e-10, max_iter=10_000, compute_score=True).fit(X, y)
    # BayesianRidge counts n (not n - 1) data for the noise with a centred intercept and adds
    # tiny Gamma hyperpriors; both shift the optimum by O(1/n) ~ 0.2% here.
    np.testing.assert_allclose(ours.noise_, ref.alpha_**-0.5, rtol=5e-3)
    np.testing.assert_allclose(ours.coef_prior_scale_, ref.lambda_**-0.5, rtol=5e-3)
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, rtol=1e-2, atol=1e-2 * np.abs(ref.coef_).max()
    )
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-3)


@pytest.mark.parametrize("use_err", [False, True])
def test_evidence_optimum_is_stationary(diabetes, use_err):
    """Our hyperparameters maximise our exact log evidence (the fixed point is not approximate)."""
    X, y = diabetes
    y_err = np.full(len(y), 20.0) * np.linspace(0.5, 1.5, len(y)) if use_err else None
    model = BayesianLinearRegression(Normal(0, 1), method="evidence", random_state=0).fit(
        X, y, y_err=y_err
    )

    def log_z(log_tau, log_sigma):
        var = np.exp(2 * log_sigma) + (0 if y_err is None else y_err**2)
        w = 1.0 / np.broadcast_to(var, y.shape)
        prec0 = np.full(10, np.exp(-2 * log_tau))
        post = gaussian_posterior(X, y, w, np.zeros(10), prec0, flat_intercept=True)
        return log_evidence_fixed_noise(post, w)

    t, s = np.log(model.coef_prior_scale_), np.log(model.noise_)
    best = log_z(t, s)
    np.testing.assert_allclose(model.log_evidence_, best, rtol=1e-12)
    for dt, ds in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert log_z(t + dt, s + ds) <= best + 1e-9


def test_normal_map_equals_conjugate_on_ill_conditioned_polynomial():
    # Degree-7 monomials on [-1, 1] are nearly collinear: the MAP solver must still be exact.
    from bayesphys.linear import polynomial_features

    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(-1, 1, 40))
    err = rng.uniform(0.05, 0.2, 40)
    y = 0.3 + x - 0.8 * x**2 + 1.2 * x**3 + err * rng.normal(size=40)
    X = polynomial_features(x, 7)
    kw = {"noise": 0.0, "random_state": 0}
    exact = BayesianLinearRegression(Normal(0, 10), method="conjugate", **kw).fit(X, y, y_err=err)
    mapped = BayesianLinearRegression(Normal(0, 10), method="map", **kw).fit(X, y, y_err=err)
    np.testing.assert_allclose(mapped.coef_, exact.coef_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(mapped.intercept_, exact.intercept_, rtol=1e-8, atol=1e-8)
