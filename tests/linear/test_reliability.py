"""Faults found by the reliability review: each test failed before its fix (see the docstrings)."""

import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from bayesphys import BayesianLinearRegression, results
from bayesphys.inference import MAP, NUTS, Conjugate, Evidence
from bayesphys.likelihoods import Gaussian
from bayesphys.linear import compare_models
from bayesphys.priors import HalfNormal, InverseGamma, Laplace, Normal, StudentT
from tests.linear._models import normal_inverse_gamma


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 3))
    y = 0.3 + X @ np.array([1.0, -2.0, 0.5]) + 0.2 * rng.normal(size=40)
    return X, y


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_evidence_with_errors_is_unit_free(data, scale):
    """Evidence() with y_err started its search at a prior scale of 1 with a tiny simplex: for y
    of order 1e6 it stopped there (every slope shrunk to ~1e-6 of its value, log evidence 121
    nats below the optimum), silently. Rescaling y, y_err and the noise must rescale the fit."""
    X, y = data
    y_err = np.random.default_rng(1).uniform(0.05, 0.15, len(y))
    unit = BayesianLinearRegression(method=Evidence()).fit(X, y, y_err=y_err)
    scaled = BayesianLinearRegression(method=Evidence()).fit(X, scale * y, y_err=scale * y_err)
    np.testing.assert_allclose(scaled.coef_, scale * unit.coef_, rtol=1e-6)
    np.testing.assert_allclose(scaled.coef_prior_scale_, scale * unit.coef_prior_scale_, rtol=1e-5)
    np.testing.assert_allclose(scaled.noise_, scale * unit.noise_, rtol=1e-5)
    # p(s y) = p(y) / s^(n-1): the flat intercept's density 1 is per unit of y, not unit-free
    expected = unit.log_evidence_ - (len(y) - 1) * np.log(scale)
    np.testing.assert_allclose(scaled.log_evidence_, expected, rtol=1e-9)


def _joint_mode(neg_log_post, start):
    res = optimize.minimize(
        neg_log_post,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 40000, "maxfev": 40000},
    )
    return res.x, res.fun


def _nig_neg_log_posterior(X, y, tau, a0, b0, intercept_sd=None):
    """-log p(intercept, coef, s2 | y) of the Normal-Inverse-Gamma model, in
    ``v = (intercept, coef..., log s2)`` (flat intercept unless ``intercept_sd``)."""

    def neg_log_post(v):
        intercept, coef, variance = v[0], v[1:-1], np.exp(v[-1])
        sd = np.sqrt(variance)
        value = (
            stats.norm.logpdf(y, intercept + X @ coef, sd).sum()
            + stats.norm.logpdf(coef, 0.0, tau * sd).sum()
            + stats.invgamma.logpdf(variance, a0, scale=b0)
        )
        if intercept_sd is not None:
            value += stats.norm.logpdf(intercept, 0.0, intercept_sd * sd)
        return -value

    return neg_log_post


def test_map_of_the_normal_inverse_gamma_model_is_the_joint_mode(data):
    """The ridge path's noise step left out the noise-scaled coefficient prior's own dependence
    on sigma: the MAP sigma was 1.54 times too small (12 nats below the joint mode)."""
    X, y = data
    a0, b0, tau = 2.0, 1.0, 1.0
    model = normal_inverse_gamma(tau, a0, b0, method=MAP()).fit(X, y)
    neg_log_post = _nig_neg_log_posterior(X, y, tau, a0, b0)
    ours = np.r_[model.intercept_, model.coef_, 2.0 * np.log(model.noise_)]
    best, best_value = _joint_mode(neg_log_post, ours)
    assert neg_log_post(ours) - best_value < 1e-8
    np.testing.assert_allclose(model.noise_, np.exp(0.5 * best[4]), rtol=1e-6)
    np.testing.assert_allclose(model.coef_, best[1:4], atol=1e-6)


def test_general_map_scales_the_priors_by_the_noise(data):
    """The L-BFGS MAP path (here: a proper intercept prior) ignored
    coef_prior_scaled_by_noise: the coefficients came out 2.4 times too small."""
    X, y = data
    a0, b0, tau, tau0 = 2.0, 1.0, 0.1, 10.0
    prior = Normal(0.0, tau0)
    model = normal_inverse_gamma(tau, a0, b0, intercept_prior=prior, method=MAP()).fit(X, y)
    neg_log_post = _nig_neg_log_posterior(X, y, tau, a0, b0, intercept_sd=tau0)
    ours = np.r_[model.intercept_, model.coef_, 2.0 * np.log(model.noise_)]
    best, best_value = _joint_mode(neg_log_post, ours)
    assert neg_log_post(ours) - best_value < 1e-8
    np.testing.assert_allclose(model.coef_, best[1:4], atol=1e-6)
    np.testing.assert_allclose(model.intercept_, best[0], atol=1e-6)


def test_prior_predictive_is_the_model_of_the_closed_form():
    """The Normal-Inverse-Gamma closed form scales a proper intercept prior by the noise; the
    prior predictive drew it unscaled (variance 25 instead of 25 E[s2] = 6.25 here)."""
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    a0, b0 = 5.0, 1.0
    est = normal_inverse_gamma(2.0, a0, b0, intercept_prior=Normal(1.0, 5.0), random_state=0)
    y = est.sample_prior_predictive(X, draws=40000).prior_predictive["y"].values[0]
    # y | s2 ~ N(1, s2 (1 + 25 + 4 |x|^2)), E[s2] = b / (a - 1)
    expected = b0 / (a0 - 1) * (1.0 + 25.0 + 4.0 * np.sum(X**2, axis=1))
    # y is Student-t with 2 a0 = 10 degrees of freedom (excess kurtosis 1): the sample
    # variance's relative error is sqrt((2 + 1) / 40000) = 0.009, so rtol 0.05 is 5.8 of them.
    np.testing.assert_allclose(y.var(axis=0), expected, rtol=0.05)
    np.testing.assert_allclose(y.mean(axis=0), 1.0, atol=0.1)


def test_nuts_samples_the_model_of_the_closed_form(data):
    """NUTS left a proper intercept prior unscaled where the closed form scales it: with
    Normal(5, 0.5) it gave an intercept of 0.31 and sigma 0.20 against the exact 0.73, 1.39."""
    X, y = data
    intercept_prior = Normal(5.0, 0.5)
    exact = normal_inverse_gamma(
        3.0, 2.0, 0.05, intercept_prior=intercept_prior, method=Conjugate()
    ).fit(X, y)
    nuts = normal_inverse_gamma(
        3.0, 2.0, 0.05, intercept_prior=intercept_prior,
        method=NUTS(draws=500, tune=500, chains=2), random_state=3,
    ).fit(X, y, progressbar=False)  # fmt: skip
    post = nuts.idata_.posterior
    mcse = results.mcse(nuts.idata_, var_names=["intercept", "sigma"])
    exact_sigma = exact.idata_.posterior["sigma"].values.mean()
    assert abs(float(post["intercept"].mean()) - exact.intercept_) < 5 * float(mcse["intercept"])
    assert abs(float(post["sigma"].mean()) - exact_sigma) < 5 * float(mcse["sigma"])


def test_noise_scaled_intercept_prior_must_be_normal():
    with pytest.raises(ValueError, match="intercept_prior"):
        BayesianLinearRegression(
            Normal(0, 1),
            intercept_prior=StudentT(3, 0, 1),
            likelihood=Gaussian(variance=InverseGamma(2.0, 1.0)),
            coef_prior_scaled_by_noise=True,
        ).fit(np.eye(3), np.ones(3))


def test_nuts_warns_about_trees_cut_at_max_treedepth():
    """Linear NUTS turned PyMC's checks off and issued none of its own: divergences and trees
    cut at max_treedepth passed silently (GP and BNN NUTS warn through the shared policy)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    X = np.column_stack([x, x + 0.01 * rng.normal(size=30)])  # a narrow ridge: long trajectories
    y = X @ np.array([1.0, 1.0]) + 0.1 * rng.normal(size=30)
    model = BayesianLinearRegression(
        Normal(0, 10),
        noise=0.1,
        method=NUTS(draws=50, tune=50, chains=1, max_treedepth=2),
        random_state=0,
    )
    with pytest.warns(RuntimeWarning, match="maximum tree depth") as record:
        model.fit(X, y, progressbar=False)
    assert any(w.filename == __file__ for w in record)  # points at the caller's fit


@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")
@pytest.mark.parametrize("centre_intercept", [True, False])
def test_pymc_model_of_a_noise_scaled_prior_with_a_fixed_variance(centre_intercept):
    """The PyMC model of a noise-scaled prior read a fixed noise as ``sigma`` only: a fixed
    ``Gaussian(variance=...)`` raised KeyError('sigma'). Its log density must be the model's
    (coef and intercept ~ N(mu, variance s^2)), up to a constant."""
    from bayesphys.linear.inference.nuts import build_pymc_model
    from bayesphys.linear.spec import resolve_spec

    X = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [0.0, 1.0]])
    y = np.array([1.0, 0.0, 2.0, -1.0])
    sd = 0.2
    spec = resolve_spec(
        Normal(0.5, 2.0), None, True, Normal(1.0, 3.0), Gaussian(variance=sd**2), True
    )
    model = build_pymc_model(spec, X, y, None, ["a", "b"], centre_intercept=centre_intercept)
    logp = model.compile_logp()
    x_mean = X.mean(axis=0) if centre_intercept else np.zeros(2)

    def point(coef, intercept):
        values = {"coef_raw": (coef - 0.5) / (2.0 * sd)}
        if centre_intercept:
            values["intercept_centred"] = np.asarray(intercept + x_mean @ coef)
        else:
            values["intercept_raw"] = np.asarray((intercept - 1.0) / (3.0 * sd))
        return values

    def log_joint(coef, intercept):
        return (
            stats.norm.logpdf(y, intercept + X @ coef, sd).sum()
            + stats.norm.logpdf(coef, 0.5, 2.0 * sd).sum()
            + stats.norm.logpdf(intercept, 1.0, 3.0 * sd)
        )

    # The raw coordinates are a fixed linear map of (coef, intercept): constant Jacobian.
    a, b = (np.array([0.3, -0.2]), 0.7), (np.array([1.1, 0.4]), -0.5)
    np.testing.assert_allclose(
        logp(point(*a)) - logp(point(*b)), log_joint(*a) - log_joint(*b), rtol=1e-10
    )


def test_normal_inverse_gamma_without_a_finite_variance_says_so():
    """With a_N = a0 + (n - 1) / 2 <= 1 the coefficients' marginal Student-t has no variance:
    coef_cov_ was b_N / (a_N - 1) times the unit-noise covariance, a negative "variance"."""
    X, y = np.array([[0.0], [1.0]]), np.array([0.0, 1.3])
    model = normal_inverse_gamma(1.0, 0.2, 1.0).fit(X, y)  # a_N = 0.7
    assert model.method_ == "conjugate"
    assert model.coef_cov_[0, 0] == np.inf
    with pytest.raises(ValueError, match="no finite variance"):
        model.predict(X, return_std=True)


def test_evidence_refuses_per_feature_prior_scales(data):
    """Evidence() replaced a per-feature Normal(0, [0.01, 1, 100]) by one fitted scale without a
    word; equal scales (a scalar in disguise) still fit."""
    X, y = data
    with pytest.raises(ValueError, match="coef_prior"):
        BayesianLinearRegression(Normal(0.0, [0.01, 1.0, 100.0]), method=Evidence()).fit(X, y)
    same = BayesianLinearRegression(Normal(0.0, [2.0, 2.0, 2.0]), method=Evidence()).fit(X, y)
    scalar = BayesianLinearRegression(Normal(0.0, 2.0), method=Evidence()).fit(X, y)
    np.testing.assert_allclose(same.coef_, scalar.coef_, rtol=1e-12)


def test_evidence_on_a_boundary_says_which_way():
    """y unrelated to X: the evidence grows as the prior scale goes to 0 and the fixed point
    runs out of iterations. The fit is right (slopes at the prior mean); the warning said only
    "did not fully converge"."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    with pytest.warns(RuntimeWarning, match="prior scale going to 0"):
        model = BayesianLinearRegression(method=Evidence()).fit(X, y)
    np.testing.assert_allclose(model.coef_, 0.0, atol=1e-12)


def test_compare_models_names_an_unfitted_model(data):
    """An unfitted model in compare_models raised AttributeError('... idata_'), naming none."""
    X, y = data
    fitted = BayesianLinearRegression(Normal(0, 5), noise=0.2).fit(X, y)
    with pytest.raises(ValueError, match="'unfitted'"):
        compare_models({"fitted": fitted, "unfitted": BayesianLinearRegression()})


def test_map_with_a_free_noise_stops_when_it_has_converged(monkeypatch):
    # The noise step is found to ~1e-12 in log(sigma): a stopping test tighter than that never
    # passed and every fit ran all 500 rounds of the slopes-noise alternation.
    from bayesphys.linear.inference import map as linear_map

    rounds = []
    noise_map = linear_map.noise_map
    monkeypatch.setattr(
        linear_map, "noise_map", lambda *a, **k: rounds.append(1) or noise_map(*a, **k)
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ np.array([1.0, 0.0, 0.0, 2.0, 0.0]) + 0.5 * rng.normal(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        fitted = BayesianLinearRegression(Laplace(0, 1.0), noise=HalfNormal(1.0), method="map")
        fitted.fit(X, y)
    assert len(rounds) < 50
    # The joint mode: the noise is the mode of its conditional at the fitted slopes.
    resid = y - fitted.intercept_ - X @ fitted.coef_
    again = noise_map(resid, None, HalfNormal(1.0), False, None)
    assert abs(again - fitted.noise_) < 1e-9 * fitted.noise_
