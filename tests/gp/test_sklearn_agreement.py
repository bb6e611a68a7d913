"""Exact-GP algebra and hyperparameter optimisation against scikit-learn."""

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process import kernels as sk

from bayesphys.gp import RBF, GPRegression, Linear, Matern, Periodic, RationalQuadratic
from bayesphys.inference import MAP


def _data(n=40, p=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, p))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] ** 2 + 0.1 * rng.normal(size=n) + 3.0
    X_new = rng.uniform(-2.5, 2.5, size=(15, p))
    return X, y, X_new


def _sklearn(kernel, X, y, alpha=1e-10):
    return GaussianProcessRegressor(kernel, alpha=alpha, optimizer=None).fit(X, y)


def _assert_same(ours, theirs, X_new, rtol=1e-7):
    mean, cov = ours.predict(X_new, return_cov=True)
    mean_sk, cov_sk = theirs.predict(X_new, return_cov=True)
    np.testing.assert_allclose(mean, mean_sk, rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(cov, cov_sk, rtol=1e-6, atol=1e-9)
    _, std = ours.predict(X_new, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diag(cov_sk).clip(0)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        ours.log_marginal_likelihood_, theirs.log_marginal_likelihood_value_, rtol=1e-10
    )


def test_fixed_ard_rbf_with_noise_matches_sklearn():
    X, y, X_new = _data()
    ls, var, sigma = np.array([0.7, 1.3]), 2.5, 0.3
    gp = GPRegression(priors={"lengthscale": ls, "outputscale": var}, noise=sigma).fit(X, y)
    ref = _sklearn(sk.ConstantKernel(var) * sk.RBF(ls), X, y, alpha=sigma**2)
    _assert_same(gp, ref, X_new)
    # include_noise adds sigma^2, as a WhiteKernel does in scikit-learn's predictive std.
    white = _sklearn(sk.ConstantKernel(var) * sk.RBF(ls) + sk.WhiteKernel(sigma**2), X, y)
    _, std = gp.predict(X_new, return_std=True, include_noise=True)
    np.testing.assert_allclose(std, white.predict(X_new, return_std=True)[1], rtol=1e-6)
    assert gp.method_ == "map" and gp.hyperparameters_["noise"] == sigma


def test_fixed_hyperparameters_with_y_err_match_sklearn_alpha():
    X, y, X_new = _data(seed=1)
    y_err = np.random.default_rng(5).uniform(0.05, 0.4, size=len(y))
    ls, var, sigma = np.array([0.9, 0.6]), 1.7, 0.2
    gp = GPRegression(priors={"lengthscale": ls, "outputscale": var}, noise=sigma)
    gp.fit(X, y, y_err=y_err)
    ref = _sklearn(sk.ConstantKernel(var) * sk.RBF(ls), X, y, alpha=y_err**2 + sigma**2)
    _assert_same(gp, ref, X_new)


@pytest.mark.parametrize(
    ("ours", "theirs", "fixed"),
    [
        (Matern(0.5), sk.Matern([0.8, 1.1], nu=0.5), {"lengthscale": [0.8, 1.1]}),
        (Matern(1.5), sk.Matern([0.8, 1.1], nu=1.5), {"lengthscale": [0.8, 1.1]}),
        ("matern52", sk.Matern([0.8, 1.1], nu=2.5), {"lengthscale": [0.8, 1.1]}),
        (
            RationalQuadratic(),
            sk.RationalQuadratic(length_scale=0.9, alpha=1.7),
            {"lengthscale": 0.9, "alpha": 1.7},
        ),
        # GPyTorch's periodic lengthscale divides sin^2, scikit-learn's divides by its square.
        (
            Periodic(),
            sk.ExpSineSquared(length_scale=1.2, periodicity=2.1),
            {"lengthscale": 1.2**2, "period": 2.1},
        ),
        (Linear(), sk.DotProduct(sigma_0=0.0), {}),
    ],
    ids=["matern12", "matern32", "matern52", "rq", "periodic", "linear"],
)
def test_other_kernels_match_sklearn(ours, theirs, fixed):
    X, y, X_new = _data(n=30, seed=2)
    ard = not isinstance(theirs, sk.RationalQuadratic | sk.ExpSineSquared)
    X, X_new = (X[:, :1], X_new[:, :1]) if not ard else (X, X_new)
    var, sigma = 1.9, 0.25
    gp = GPRegression(ours, ard=ard, priors={**fixed, "outputscale": var}, noise=sigma)
    gp.fit(X, y)
    _assert_same(gp, _sklearn(sk.ConstantKernel(var) * theirs, X, y, alpha=sigma**2), X_new)


def test_sum_and_product_kernels_match_sklearn():
    X, y, X_new = _data(n=30, seed=3)
    kernel = RBF() * Matern(1.5) + Linear()
    priors = {
        "rbf_lengthscale": [0.8, 1.4],
        "matern32_lengthscale": [2.0, 0.7],
        "outputscale_0": 1.3,
        "outputscale_1": 0.4,
    }
    gp = GPRegression(kernel, priors=priors, noise=0.2).fit(X, y)
    assert set(gp.hyperparameters_) == {*priors, "noise"}
    ref_kernel = sk.ConstantKernel(1.3) * sk.RBF([0.8, 1.4]) * sk.Matern(
        [2.0, 0.7], nu=1.5
    ) + sk.ConstantKernel(0.4) * sk.DotProduct(sigma_0=0.0)
    _assert_same(gp, _sklearn(ref_kernel, X, y, alpha=0.04), X_new)


def test_map_with_flat_priors_reaches_sklearn_optimum():
    X, y, _ = _data(n=60, seed=4)
    flat = {"lengthscale": None, "outputscale": None, "noise": None}
    gp = GPRegression(priors=flat, method=MAP(n_restarts=2), random_state=0).fit(X, y)
    kernel = sk.ConstantKernel(1.0, (1e-5, 1e5)) * sk.RBF([1.0, 1.0], (1e-5, 1e5))
    kernel = kernel + sk.WhiteKernel(0.1, (1e-10, 1e5))
    ref = GaussianProcessRegressor(kernel, n_restarts_optimizer=5, random_state=0).fit(X, y)
    # Maximum marginal likelihood: at least scikit-learn's optimum (up to float rounding).
    assert gp.log_marginal_likelihood_ >= ref.log_marginal_likelihood_value_ - 1e-6
    # ... and the same optimum: hyperparameters agree to optimiser precision.
    params = ref.kernel_.get_params()
    np.testing.assert_allclose(
        gp.hyperparameters_["outputscale"], params["k1__k1__constant_value"], rtol=2e-3
    )
    np.testing.assert_allclose(
        gp.hyperparameters_["lengthscale"], params["k1__k2__length_scale"], rtol=2e-3
    )
    np.testing.assert_allclose(
        gp.hyperparameters_["noise"] ** 2, params["k2__noise_level"], rtol=2e-3
    )


def test_map_with_default_priors_is_near_the_likelihood_optimum():
    # The default priors are weak: they cost little marginal likelihood on well-identified data.
    X, y, _ = _data(n=60, seed=4)
    gp = GPRegression(random_state=0).fit(X, y)
    flat_priors = {"lengthscale": None, "outputscale": None, "noise": None}
    flat = GPRegression(priors=flat_priors, random_state=0).fit(X, y)
    assert flat.log_marginal_likelihood_ - 1.0 < gp.log_marginal_likelihood_
    assert gp.log_marginal_likelihood_ <= flat.log_marginal_likelihood_ + 1e-6
