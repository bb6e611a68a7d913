"""Degenerate fits and overflowing data are reported, never returned as numbers (issue 15)."""

import warnings

import numpy as np
import pytest

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, Conjugate, Evidence
from bayesphys.linear.regression import UnboundedEvidenceWarning
from bayesphys.priors import Laplace, Normal

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 2))
Y_EXACT = X @ [1.0, -2.0] + 0.5  # noise-free


def evidence(**kwargs):
    return BayesianLinearRegression(method=Evidence(draws=20, chains=1), random_state=0, **kwargs)


@pytest.mark.parametrize(
    ("y", "kwargs", "match", "coef"),
    [
        # was: log_evidence_ 912 (other data: -2.9e17), noise 6.5e-16, no word
        (Y_EXACT, {}, "optimal noise collapsed", [1.0, -2.0]),
        (np.full(30, 3.0), {}, "y is constant", [0.0, 0.0]),  # was log_evidence_ -7.2e272
        (np.zeros(30), {"fit_intercept": False}, "y is all zero", [0.0, 0.0]),  # was +1.0e4
    ],
)
def test_evidence_without_an_optimum_warns_and_reports_inf(y, kwargs, match, coef):
    """The exact fit is kept (a regressor must fit exactly linear data); the evidence, which
    grows without bound as the noise goes to 0, is reported as its supremum with a warning
    that names the ways out."""
    with pytest.warns(UnboundedEvidenceWarning, match=match) as record:
        fitted = evidence(**kwargs).fit(X, y)
    message = str(next(w.message for w in record if w.category is UnboundedEvidenceWarning))
    assert "noise=" in message and "y_err" in message
    assert fitted.log_evidence_ == np.inf
    np.testing.assert_allclose(fitted.coef_, coef, atol=1e-6)
    assert np.all(np.isfinite(fitted.predict(X, return_std=True)))


def test_evidence_is_finite_where_the_noise_is_known():
    """The ways out that the error names work: a fixed noise, or known errors."""
    for model, y_err in ((evidence(noise=0.01), None), (evidence(), np.full(30, 0.01))):
        fitted = model.fit(X, Y_EXACT, y_err=y_err)
        assert np.isfinite(fitted.log_evidence_)
        np.testing.assert_allclose(fitted.coef_, [1.0, -2.0], atol=1e-3)


def test_noisy_evidence_fit_is_unchanged():
    """A genuine optimum is not touched by the collapse check."""
    y = Y_EXACT + 0.3 * np.random.default_rng(1).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnboundedEvidenceWarning)
        fitted = evidence().fit(X, y)
    assert 0.15 < fitted.noise_ < 0.6 and np.isfinite(fitted.log_evidence_)


@pytest.mark.parametrize("scale", [1e300, 1e200, 1e101])
def test_overflowing_y_names_y_with_a_scaling_hint(scale):
    # was: log_evidence_ = NaN (1e300) or ZeroDivisionError (1e200)
    with pytest.raises(ValueError, match=r"^y has values up to .* rescale y"):
        evidence().fit(X, scale * Y_EXACT)


def test_overflowing_or_vanishing_X_names_X():
    with pytest.raises(ValueError, match=r"^X \(column 1\) has values up to .* rescale X"):
        evidence().fit(np.column_stack([X[:, 0], 1e300 * X[:, 1]]), Y_EXACT)
    with pytest.raises(ValueError, match=r"^X \(column 0\) has no value larger than"):
        evidence().fit(np.column_stack([1e-300 * X[:, 0], X[:, 1]]), Y_EXACT)
    model = BayesianLinearRegression(noise=0.1, method=Conjugate(draws=10)).fit(X, Y_EXACT)
    with pytest.raises(ValueError, match=r"^X .*has values up to"):
        model.predict(1e250 * X)


def test_tiny_y_is_refused_and_moderate_scales_work():
    with pytest.raises(ValueError, match=r"^y has no value larger than .* rescale y"):
        evidence().fit(X, 1e-300 * Y_EXACT)
    noisy = Y_EXACT + 0.3 * np.random.default_rng(1).normal(size=30)
    for scale in (1e-60, 1e60):
        fitted = evidence().fit(X, scale * noisy)
        assert np.isfinite(fitted.log_evidence_)
        np.testing.assert_allclose(fitted.coef_ / scale, [1.0, -2.0], atol=0.3)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"fit_intercept": "yes"}, "fit_intercept"),
        ({"fit_intercept": 1}, "fit_intercept"),
        ({"fit_intercept": None}, "fit_intercept"),
        ({"coef_prior_scaled_by_noise": "no"}, "coef_prior_scaled_by_noise"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": True}, "random_state"),
    ],
)
def test_flags_must_be_real_bools(params, name):
    """Was accepted without a word ("no" is truthy); raised in fit, not in __init__."""
    model = BayesianLinearRegression(noise=1.0, **params)
    assert model.get_params()[name] is params[name]
    with pytest.raises((TypeError, ValueError), match=name):
        model.fit(X, Y_EXACT)


def test_numpy_bool_flags_are_accepted():
    fitted = BayesianLinearRegression(noise=1.0, fit_intercept=np.bool_(False)).fit(X, Y_EXACT)
    assert fitted.intercept_ == 0.0


def test_complex_X_is_rejected():
    with pytest.raises(ValueError, match="X: Complex data not supported"):
        BayesianLinearRegression(noise=1.0).fit(X + 1j, Y_EXACT)
    with pytest.raises(ValueError, match="X: Complex data not supported"):
        BayesianLinearRegression(noise=1.0, intercept_prior=Normal(0, 1)).sample_prior_predictive(
            X + 1j
        )


def test_lasso_map_with_duplicated_columns():
    """Collinear columns: the lasso optimum is not unique. Was a RuntimeError after 20000
    sweeps; now a point that meets the optimality conditions, without a covariance."""
    y = Y_EXACT + 0.1 * np.random.default_rng(2).normal(size=30)
    model = BayesianLinearRegression(Laplace(0, 1), noise=0.2, method=MAP())
    single = model.fit(X, y).coef_.copy()
    double = model.fit(np.hstack([X, X]), y)
    np.testing.assert_allclose(double.coef_[:2] + double.coef_[2:], single, rtol=1e-6)
    assert double.coef_cov_ is None
    with pytest.raises(ValueError, match="no posterior covariance"):
        double.predict(np.hstack([X, X]), return_std=True)
