"""BayesianLinearRegression as a scikit-learn estimator: configuration, model selection and the
predictive distributions, checked against numbers written out in the test."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, NUTS, Conjugate, Evidence
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import HalfNormal, InverseGamma, Laplace, Normal


def _data(n, coef, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(coef)))
    return X, 0.5 + X @ np.asarray(coef) + noise * rng.normal(size=n)


@pytest.mark.parametrize(
    ("coef", "best_scale"),
    [
        ([2.0, -1.5, 1.0, 0.0, 3.0], 10.0),  # order-one coefficients: the tight prior biases
        (np.full(12, 0.03), 0.1),  # many tiny coefficients, few data: the wide prior overfits
    ],
)
def test_grid_search_over_the_prior_scale(coef, best_scale):
    X, y = _data(24, coef, 1.0, seed=3)
    search = GridSearchCV(
        BayesianLinearRegression(noise=1.0, method=Conjugate(draws=10, chains=1), random_state=0),
        {"coef_prior": [Normal(0, 0.1), Normal(0, 10)]},
        cv=KFold(4, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_["coef_prior"] == Normal(0, best_scale)
    scores = search.cv_results_["mean_test_score"]
    assert abs(scores[0] - scores[1]) > 0.05  # a clear choice, not a tie broken by noise
    assert search.best_estimator_.coef_prior == Normal(0, best_scale)


def test_clone_keeps_method_and_random_state():
    X, y = _data(30, [1.0, -1.0], 0.3, seed=1)
    est = BayesianLinearRegression(
        Normal(0, 5), noise=0.3, method=Conjugate(draws=40, chains=3), random_state=7
    ).fit(X, y)
    fresh = clone(est)
    assert not hasattr(fresh, "coef_")
    assert isinstance(fresh.method, Conjugate) and fresh.method is not est.method
    assert fresh.method.get_params() == {"draws": 40, "chains": 3}
    assert fresh.random_state == 7
    refit = fresh.fit(X, y)
    np.testing.assert_array_equal(
        refit.idata_.posterior["coef"].values, est.idata_.posterior["coef"].values
    )
    assert refit.idata_.posterior.sizes["chain"] == 3


def test_nested_method_parameters():
    X, y = _data(30, [1.0, -1.0], 0.3, seed=2)
    est = BayesianLinearRegression(noise=0.3, method=Conjugate(), random_state=0)
    assert est.get_params()["method__draws"] == 1000
    est.set_params(method__draws=25, method__chains=2)
    assert est.method.draws == 25
    est.fit(X, y)
    assert est.idata_.posterior.sizes["draw"] == 25
    assert est.idata_.posterior_predictive["y"].shape == (2, 25, 30)


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        ("gibbs", ValueError, r"supported: \['auto', 'conjugate', 'evidence', 'map', 'nuts'\]"),
        ("hmc", ValueError, r"supported: \['auto', 'conjugate', 'evidence', 'map', 'nuts'\]"),
        (NUTS(chain_groups=2), ValueError, "chain_groups"),
        (MAP(n_restarts=1), ValueError, "convex"),
        (None, TypeError, "method must be a string shortcut"),
    ],
)
def test_method_validation_lists_supported_methods(method, error, match):
    X, y = _data(20, [1.0], 0.3, seed=0)
    est = BayesianLinearRegression(noise=0.3, method=method)
    with pytest.raises(error, match=match):
        est.fit(X, y)
    assert est.method is method  # validated in fit, never rewritten


def test_method_objects_of_other_families_are_rejected():
    from bayesphys.inference import HMC

    X, y = _data(20, [1.0], 0.3, seed=0)
    with pytest.raises(ValueError, match=r"method=HMC\(\); supported"):
        BayesianLinearRegression(noise=0.3, method=HMC()).fit(X, y)


def test_auto_resolves_to_the_closed_form_or_nuts():
    X, y = _data(20, [1.0], 0.3, seed=0)
    nig = BayesianLinearRegression(
        Normal(0, 3),
        likelihood=Gaussian(variance=InverseGamma(2.0, 1.0)),
        coef_prior_scaled_by_noise=True,
        random_state=0,
    ).fit(X, y)
    assert nig.method_ == "conjugate" and nig.method == "auto"
    # A noise prior on sigma has no closed form: auto is NUTS (not run here; conjugate refuses).
    with pytest.raises(ValueError, match="the noise has a prior on sigma"):
        BayesianLinearRegression(noise=HalfNormal(1), method="conjugate").fit(X, y)


def test_conjugate_posterior_is_the_closed_form():
    """Method object, string shortcut and "auto" all give the textbook posterior."""
    X, y = _data(25, [1.0, -2.0, 0.5], 0.4, seed=5)
    y_err = np.linspace(0.1, 0.3, 25)
    var = 0.4**2 + y_err**2
    A = np.column_stack([np.ones(25), X])
    prec0 = np.array([1 / 4.0**2, 1 / 2.0**2, 1 / 2.0**2, 1 / 2.0**2])
    m0 = np.array([1.0, 0.0, 0.0, 0.0])
    P = A.T @ (A / var[:, None]) + np.diag(prec0)
    cov = np.linalg.inv(P)
    mean = cov @ (A.T @ (y / var) + prec0 * m0)
    for method in (Conjugate(draws=5, chains=1), "conjugate", "auto"):
        est = BayesianLinearRegression(
            Normal(0, 2), noise=0.4, intercept_prior=Normal(1, 4), method=method, random_state=0
        ).fit(X, y, y_err=y_err)
        np.testing.assert_allclose(est.intercept_, mean[0], rtol=1e-10)
        np.testing.assert_allclose(est.coef_, mean[1:], rtol=1e-10)
        np.testing.assert_allclose(est.coef_cov_, cov[1:, 1:], rtol=1e-9)
        Xs = X[:3]
        As = A[:3]
        f_mean, f_std = est.predict(Xs, return_std=True)
        np.testing.assert_allclose(f_mean, As @ mean, rtol=1e-10)
        f_var = np.einsum("ij,jk,ik->i", As, cov, As)
        np.testing.assert_allclose(f_std, np.sqrt(f_var), rtol=1e-9)
        _, y_std = est.predict(Xs, return_std=True, include_noise=True)
        np.testing.assert_allclose(y_std, np.sqrt(f_var + 0.4**2), rtol=1e-10)


def test_training_posterior_predictive_has_the_predictive_spread():
    X, y = _data(20, [1.0, -1.0], 0.3, seed=4)
    y_err = np.full(20, 0.2)
    est = BayesianLinearRegression(
        Normal(0, 5), noise=0.3, method=Conjugate(draws=2000, chains=2), random_state=0
    ).fit(X, y, y_err=y_err)
    rep = est.idata_.posterior_predictive["y"].values.reshape(-1, 20)
    _, f_std = est.predict(X, return_std=True)
    expected = np.sqrt(f_std**2 + 0.3**2 + y_err**2)
    # Sample sd of 4000 Gaussian draws: relative standard error 1/sqrt(2 * 4000) ~ 1.1%.
    np.testing.assert_allclose(rep.std(axis=0), expected, rtol=0.06)
    np.testing.assert_array_equal(est.idata_.constant_data["y_err"].values, y_err)


def test_prior_predictive_moments():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2))
    est = BayesianLinearRegression(
        Normal(0, 2), noise=0.5, intercept_prior=Normal(1, 3), random_state=0
    )
    prior = est.sample_prior_predictive(X, draws=8000, random_state=1)  # before fit
    y = prior.prior_predictive["y"].values
    assert y.shape == (1, 8000, 4)
    assert set(prior.prior.data_vars) == {"coef", "intercept"}
    assert prior.prior["coef"].dims == ("chain", "draw", "feature")
    expected_var = 9.0 + 4.0 * np.sum(X**2, axis=1) + 0.25
    se = np.sqrt(expected_var / 8000)
    assert np.all(np.abs(y[0].mean(axis=0) - 1.0) < 5 * se)
    np.testing.assert_allclose(y[0].var(axis=0), expected_var, rtol=0.08)
    again = est.sample_prior_predictive(X, draws=8000, random_state=1)
    np.testing.assert_array_equal(again.prior_predictive["y"].values, y)
    # None takes the estimator's random_state: reproducible too.
    np.testing.assert_array_equal(
        est.sample_prior_predictive(X, draws=10).prior_predictive["y"].values,
        est.sample_prior_predictive(X, draws=10).prior_predictive["y"].values,
    )


def test_prior_predictive_of_the_normal_inverse_gamma_model():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    est = BayesianLinearRegression(
        Normal(0, 2),
        fit_intercept=False,
        likelihood=Gaussian(variance=InverseGamma(5.0, 4.0)),
        coef_prior_scaled_by_noise=True,
        random_state=0,
    )
    prior = est.sample_prior_predictive(X, draws=20000)
    assert {"variance", "sigma"} <= set(prior.prior.data_vars)
    # y | s2 ~ N(0, s2 (1 + 4 |x|^2)), E[s2] = b / (a - 1) = 1.
    y = prior.prior_predictive["y"].values[0]
    expected = 1.0 + 4.0 * np.sum(X**2, axis=1)
    np.testing.assert_allclose(y.var(axis=0), expected, rtol=0.1)
    ratio = prior.prior["coef"].values[0] / prior.prior["sigma"].values[0][:, None]
    np.testing.assert_allclose(ratio.std(axis=0), [2.0, 2.0], rtol=0.05)


@pytest.mark.parametrize(
    "est",
    [
        BayesianLinearRegression(Normal(0, 1), noise=1.0),
        BayesianLinearRegression(Laplace(0, 1), noise=1.0, method="map"),
        BayesianLinearRegression(method=Evidence()),
    ],
)
def test_improper_flat_intercept_has_no_prior_predictive(est):
    with pytest.raises(ValueError, match="intercept_prior"):
        est.sample_prior_predictive(np.ones((3, 2)), draws=5)
    # Without an intercept every prior is proper.
    est = clone(est).set_params(fit_intercept=False)
    prior = est.sample_prior_predictive(np.ones((3, 2)), draws=5, random_state=0)
    assert prior.prior_predictive["y"].shape == (1, 5, 3)


def test_map_laplace_approximation_for_smooth_priors():
    """Student-t likelihood (L-BFGS path): std from the Hessian at the mode."""
    from bayesphys.likelihoods import StudentT

    X, y = _data(40, [1.0, -1.0], 0.3, seed=6)
    est = BayesianLinearRegression(
        Normal(0, 10), likelihood=StudentT(nu=5.0, noise=HalfNormal(1)), method=MAP()
    ).fit(X, y)
    _, std = est.predict(X[:3], return_std=True)
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    # The Fisher information of a Student-t location is (nu + 1) / ((nu + 3) sigma^2): the
    # curvature at the mode is close to a Gaussian's of sd sigma sqrt((nu + 3) / (nu + 1)).
    gauss_sd = est.noise_ * np.sqrt(8.0 / 6.0)
    exact = BayesianLinearRegression(Normal(0, 10), noise=gauss_sd, method="conjugate").fit(X, y)
    np.testing.assert_allclose(std, exact.predict(X[:3], return_std=True)[1], rtol=0.1)
    assert est.coef_cov_.shape == (2, 2)
