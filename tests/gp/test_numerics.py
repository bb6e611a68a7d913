"""Jitter handling, units, mean functions, sampling and the LOO densities."""

import dataclasses
import warnings

import gpytorch
import numpy as np
import pytest
import torch

from bayesphys.gp import GPRegression, kernels
from bayesphys.gp.kernels import BaseKernel
from bayesphys.gp.linalg import NotPositiveDefiniteError, cholesky, loo_log_predictive


def _data(n=25, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 3, size=(n, 1))
    return X, np.cos(2 * X[:, 0]) + 0.1 * rng.normal(size=n)


def test_duplicate_inputs_without_noise_add_jitter_with_a_warning():
    X, y = _data()
    X = np.vstack([X, X[:3]])
    y = np.concatenate([y, y[:3]])
    gp = GPRegression(priors={"lengthscale": 0.5, "outputscale": 1.0}, noise=0.0)
    with pytest.warns(RuntimeWarning, match="added jitter"):
        gp.fit(X, y)
    assert np.all(np.isfinite(gp.predict(X)))


def test_indefinite_matrix_escalates_then_raises_a_clear_error():
    K = torch.tensor([[[1.0, 2.0], [2.0, 1.0]]], dtype=torch.float64)  # eigenvalues 3, -1
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite even after"):
        cholesky(K)
    assert issubclass(NotPositiveDefiniteError, ValueError)
    # Rank-deficient but PSD: a little jitter fixes it, with a warning.
    v = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="added jitter"):
        L = cholesky(torch.outer(v, v)[None])
    np.testing.assert_allclose((L @ L.mT)[0], torch.outer(v, v), atol=1e-6)


class _IndefiniteRBF(gpytorch.kernels.RBFKernel):
    """``2 k_rbf - 1``: unit diagonal but negative correlations, so not a valid kernel."""

    def forward(self, x1, x2, diag=False, **params):
        return 2.0 * super().forward(x1, x2, diag=diag, **params) - 1.0


@dataclasses.dataclass(frozen=True, repr=False)
class _Indefinite(BaseKernel):
    label = "indefinite"
    hyper = (("lengthscale", True),)

    def make(self, n_features, ard):
        return _IndefiniteRBF(lengthscale_constraint=kernels._log_positive())


def test_invalid_kernel_in_a_fit_raises_after_jitter():
    X = np.linspace(0, 10, 12)[:, None]
    gp = GPRegression(_Indefinite(), priors={"lengthscale": 1.0, "outputscale": 1.0}, noise=0.0)
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite even after"):
        gp.fit(X, np.sin(X[:, 0]))


def test_hyperparameters_and_evidence_are_in_original_units():
    X, y = _data(seed=1)
    a = GPRegression(random_state=0).fit(X, y)
    b = GPRegression(random_state=0).fit(X, 10.0 * y)
    ha, hb = a.hyperparameters_, b.hyperparameters_
    np.testing.assert_allclose(hb["outputscale"], 100 * ha["outputscale"], rtol=1e-4)
    np.testing.assert_allclose(hb["noise"], 10 * ha["noise"], rtol=1e-4)
    np.testing.assert_allclose(hb["lengthscale"], ha["lengthscale"], rtol=1e-4)
    np.testing.assert_allclose(
        b.log_marginal_likelihood_, a.log_marginal_likelihood_ - len(y) * np.log(10), rtol=1e-6
    )
    np.testing.assert_allclose(b.predict(X), 10 * a.predict(X), rtol=1e-4, atol=1e-6)


def test_fixed_constant_and_physics_means_equal_a_zero_mean_gp_on_the_residual():
    X, y = _data(seed=2)
    fixed = {"lengthscale": 0.6, "outputscale": 0.8}
    X_new = np.linspace(-1, 4, 7)[:, None]
    base = GPRegression(priors=fixed, noise=0.1).fit(X, y - 5.0)
    const = GPRegression(mean="constant", priors={**fixed, "mean_constant": 5.0}, noise=0.1)
    physics = GPRegression(mean=lambda X: np.full(len(X), 5.0), priors=fixed, noise=0.1)
    for gp in (const.fit(X, y), physics.fit(X, y)):
        mean, cov = gp.predict(X_new, return_cov=True)
        mean0, cov0 = base.predict(X_new, return_cov=True)
        np.testing.assert_allclose(mean, mean0 + 5.0, rtol=1e-10)
        np.testing.assert_allclose(cov, cov0, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(gp.log_marginal_likelihood_, base.log_marginal_likelihood_)


def test_learned_linear_mean_extrapolates_the_trend():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 5, size=(40, 1))
    y = 2.0 + 3.0 * X[:, 0] + 0.05 * rng.normal(size=40)
    gp = GPRegression(mean="linear", random_state=0).fit(X, y)
    np.testing.assert_allclose(gp.hyperparameters_["mean_coef"], 3.0, rtol=0.02)
    # Far outside the data the GP reverts to its mean function, here the line.
    np.testing.assert_allclose(gp.predict([[20.0]]), 62.0, rtol=0.02)


def test_sample_y_moments_match_predict():
    X, y = _data(seed=4)
    gp = GPRegression(random_state=0).fit(X, y)
    X_new = np.array([[0.5], [1.5], [3.5]])
    draws = gp.sample_y(X_new, 4000, random_state=1)
    assert draws.shape == (3, 4000)
    mean, cov = gp.predict(X_new, return_cov=True)
    se = np.sqrt(np.diag(cov) / 4000)
    assert np.all(np.abs(draws.mean(1) - mean) < 4 * se)
    np.testing.assert_allclose(np.cov(draws), cov, atol=6 * np.max(np.diag(cov)) / np.sqrt(4000))
    np.testing.assert_array_equal(draws, gp.sample_y(X_new, 4000, random_state=1))


@pytest.mark.parametrize("method", ["map", "sgpr"])
def test_sample_y_on_a_dense_grid_is_exact_and_quiet(method):
    # On a plotting grid the latent covariance is singular to rounding. sample_y added jitter
    # and warned "consider a larger noise or removing duplicate inputs", advice about the
    # training data that had nothing to do with it.
    X, y = _data(seed=4)
    gp = GPRegression(method=method, random_state=0).fit(X, y)
    grid = np.linspace(0, 3, 200)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = gp.sample_y(grid, 2000, random_state=1)
    mean, std = gp.predict(grid, return_std=True)
    assert np.all(np.abs(draws.mean(1) - mean) < 5 * std / np.sqrt(2000))
    np.testing.assert_allclose(draws.std(1), std, rtol=5 / np.sqrt(2 * 2000))


def test_loo_densities_match_brute_force():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(6, 6))
    K = torch.as_tensor(A @ A.T + 6 * np.eye(6))[None]
    r = torch.as_tensor(rng.normal(size=6))[None]
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(r[..., None], L)[..., 0]
    got = loo_log_predictive(L, alpha)[0].numpy()
    Kn, rn = K[0].numpy(), r[0].numpy()
    for i in range(6):
        keep = np.arange(6) != i
        w = np.linalg.solve(Kn[np.ix_(keep, keep)], Kn[keep, i])
        mu, var = w @ rn[keep], Kn[i, i] - w @ Kn[keep, i]
        expected = -0.5 * (np.log(2 * np.pi * var) + (rn[i] - mu) ** 2 / var)
        np.testing.assert_allclose(got[i], expected, rtol=1e-10)
