"""Conjugate posteriors and evidences against closed forms written out in the test."""

import numpy as np
import pytest
from scipy import integrate, special, stats

from bayesphys import BayesianLinearRegression
from bayesphys.inference import Conjugate
from bayesphys.priors import Normal
from tests.linear._models import normal_inverse_gamma


@pytest.fixture
def data():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(40, 3))
    y = 0.7 + X @ np.array([1.5, -2.0, 0.3]) + 0.5 * rng.normal(size=40)
    y_err = rng.uniform(0.1, 0.6, size=40)
    return X, y, y_err


def _gaussian_posterior(A, y, var, m0, prec0):
    """Textbook weighted posterior; prec0 may hold zeros (flat components)."""
    W = np.diag(1.0 / var)
    P = A.T @ W @ A + np.diag(prec0)
    cov = np.linalg.inv(P)
    return cov @ (A.T @ W @ y + prec0 * m0), cov


def _mvn_logpdf(y, mean, cov):
    # scipy's multivariate_normal rejects the wide-prior covariance as near-singular.
    _, logdet = np.linalg.slogdet(cov)
    r = y - mean
    return -0.5 * (len(y) * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(cov, r))


@pytest.mark.parametrize("use_err", [False, True])
def test_fixed_noise_flat_intercept_matches_textbook(data, use_err):
    X, y, y_err = data
    sigma = 0.4
    err = y_err if use_err else None
    # method="auto" picks the closed form for a Normal prior at fixed noise.
    model = BayesianLinearRegression(Normal(0.2, 3.0), noise=sigma, random_state=0).fit(
        X, y, y_err=err
    )
    assert model.method_ == "conjugate"
    var = sigma**2 + (y_err**2 if use_err else np.zeros(len(y)))
    A = np.column_stack([np.ones(len(y)), X])
    m0 = np.array([0.0, 0.2, 0.2, 0.2])
    prec0 = np.array([0.0, 1 / 9, 1 / 9, 1 / 9])
    mean, cov = _gaussian_posterior(A, y, var, m0, prec0)
    np.testing.assert_allclose(model.intercept_, mean[0], rtol=1e-10)
    np.testing.assert_allclose(model.coef_, mean[1:], rtol=1e-10)
    np.testing.assert_allclose(model.coef_cov_, cov[1:, 1:], rtol=1e-9)

    # Flat intercept = limit of a wide Normal intercept prior, renormalised by sqrt(2 pi) s.
    s = 1e4
    marginal_cov = np.diag(var) + 9.0 * X @ X.T + s**2
    log_z_wide = _mvn_logpdf(y, X @ m0[1:], marginal_cov)
    np.testing.assert_allclose(
        model.log_evidence_, log_z_wide + np.log(np.sqrt(2 * np.pi) * s), rtol=1e-7
    )

    # Predictive std of the latent function and of a new observation.
    Xs = np.array([[0.1, 0.2, -0.3], [2.0, -1.0, 0.5]])
    As = np.column_stack([np.ones(2), Xs])
    f_mean, f_std = model.predict(Xs, return_std=True, include_noise=False)
    np.testing.assert_allclose(f_mean, As @ mean, rtol=1e-10)
    np.testing.assert_allclose(f_std, np.sqrt(np.einsum("ij,jk,ik->i", As, cov, As)), rtol=1e-9)
    _, y_std = model.predict(Xs, return_std=True, include_noise=True)
    np.testing.assert_allclose(y_std, np.sqrt(f_std**2 + sigma**2), rtol=1e-10)


def test_proper_intercept_prior_evidence_is_marginal_gaussian(data):
    X, y, _ = data
    model = BayesianLinearRegression(
        Normal(0.0, 2.0),
        noise=0.5,
        intercept_prior=Normal(1.0, 3.0),
        method=Conjugate(draws=20, chains=1),
        random_state=0,
    ).fit(X, y)
    cov = 0.25 * np.eye(len(y)) + 4.0 * X @ X.T + 9.0
    expected = stats.multivariate_normal(np.ones(len(y)), cov).logpdf(y)
    np.testing.assert_allclose(model.log_evidence_, expected, rtol=1e-10)


def test_normal_inverse_gamma_matches_multivariate_t(data):
    X, y, _ = data
    a0, b0 = 3.0, 2.0
    model = normal_inverse_gamma(
        2.0, a0, b0, intercept_prior=Normal(0.0, 5.0), method=Conjugate(draws=2000, chains=2),
        random_state=3,
    ).fit(X, y)  # fmt: skip
    assert model.method_ == "conjugate"
    A = np.column_stack([np.ones(len(y)), X])
    V0 = np.diag([25.0, 4.0, 4.0, 4.0])
    marginal = stats.multivariate_t(
        np.zeros(len(y)), b0 / a0 * (np.eye(len(y)) + A @ V0 @ A.T), df=2 * a0
    )
    np.testing.assert_allclose(model.log_evidence_, marginal.logpdf(y), rtol=1e-10)

    P = np.linalg.inv(V0) + A.T @ A
    mean = np.linalg.solve(P, A.T @ y)
    a_n = a0 + len(y) / 2
    b_n = b0 + 0.5 * (y @ y - mean @ P @ mean)
    np.testing.assert_allclose(model.coef_, mean[1:], rtol=1e-10)
    mean_sigma = np.sqrt(b_n) * np.exp(special.gammaln(a_n - 0.5) - special.gammaln(a_n))
    np.testing.assert_allclose(model.noise_, mean_sigma, rtol=1e-10)
    np.testing.assert_allclose(
        model.coef_cov_, b_n / (a_n - 1) * np.linalg.inv(P)[1:, 1:], rtol=1e-9
    )
    # The exact draws of sigma^2 follow InvGamma(a_n, b_n): compare mean within MC error.
    s2 = model.idata_.posterior["sigma"].values.ravel() ** 2
    sd = np.sqrt(b_n**2 / ((a_n - 1) ** 2 * (a_n - 2)))
    assert abs(s2.mean() - b_n / (a_n - 1)) < 5 * sd / np.sqrt(s2.size)


def test_nig_flat_intercept_is_fixed_noise_evidence_averaged_over_sigma(data):
    """p(y) = int p(y | s2) InvGamma(s2) ds2, with the fixed-noise path giving p(y | s2)."""
    X, y, _ = data
    a0, b0 = 2.0, 1.0
    nig = normal_inverse_gamma(
        2.0, a0, b0, method=Conjugate(draws=10, chains=1), random_state=0
    ).fit(X, y)

    def integrand(log_s2):
        fixed = BayesianLinearRegression(
            Normal(0.0, 2.0),
            noise=float(np.exp(0.5 * log_s2)),
            coef_prior_scaled_by_noise=True,
            method=Conjugate(draws=1, chains=1),
            random_state=0,
        ).fit(X, y)
        s2 = np.exp(log_s2)
        log_prior = stats.invgamma(a0, scale=b0).logpdf(s2) + log_s2  # ds2 = s2 dlog_s2
        return np.exp(fixed.log_evidence_ + log_prior - nig.log_evidence_)

    ratio, _ = integrate.quad(integrand, -8, 4, limit=200)
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-6)


def test_exact_draws_match_posterior_moments(data):
    X, y, _ = data
    model = BayesianLinearRegression(
        Normal(0, 10), noise=0.5, method=Conjugate(draws=4000, chains=2), random_state=11
    ).fit(X, y)
    coef = model.idata_.posterior["coef"].values.reshape(-1, 3)
    se = np.sqrt(np.diag(model.coef_cov_) / len(coef))
    assert np.all(np.abs(coef.mean(axis=0) - model.coef_) < 5 * se)
    cov = model.coef_cov_
    # Standard error of a sample covariance of Gaussian draws: sqrt((S_ii S_jj + S_ij^2) / N).
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / len(coef))
    assert np.all(np.abs(np.cov(coef, rowvar=False) - cov) < 5 * cov_se)
    intercept = model.idata_.posterior["intercept"].values.ravel()
    assert abs(intercept.mean() - model.intercept_) < 5 * intercept.std() / np.sqrt(len(intercept))
