"""Fits do not depend on the units of X and y (a physicist's data come in any units)."""

import numpy as np
import pytest

from bayesphys.gp import RBF, GPRegression, Periodic
from bayesphys.inference import MAP, SGPR, SVGP


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 10, size=(n, 2))
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y, rng.uniform(0, 10, size=(6, 2))


# The default priors are scaled to the data, so rescaling X or y maps the fit onto itself. Mean
# parameters used to move in raw units: with y ~ 1e-8 (or x ~ 1e8 for a slope) L-BFGS-B stopped
# far from the optimum (e.g. 67 nats of evidence lost, predictive sd off by 80%) and SVGP's
# Adam steps of 0.02 were a million times the mean itself (predictions off by 4000 sd(y)).
@pytest.mark.parametrize(
    "mean, method, y_unit, x_unit",
    [
        ("constant", MAP(), 1e-8, 1.0),
        ("linear", MAP(), 1.0, 1e8),
        ("linear", MAP(), 1.0, 1e-8),
        ("constant", SVGP(n_inducing=10, steps=100, batch_size=40), 1e-8, 1.0),
        ("linear", SVGP(n_inducing=10, steps=100, batch_size=40), 1e6, 1e6),
        # Strain-like targets: below an absolute floor of 1e-12 y was not standardised, and the
        # fit predicted 0 with sds 6e15 times too large.
        ("zero", MAP(), 1e-21, 1.0),
        ("constant", SGPR(n_inducing=10, learn_inducing=False), 1e-21, 1.0),
    ],
    ids=[
        "map-constant-y",
        "map-linear-xbig",
        "map-linear-xsmall",
        "svgp-constant",
        "svgp-linear",
        "map-zero-strain",
        "sgpr-constant-strain",
    ],
)
def test_rescaling_x_and_y_rescales_the_fit(mean, method, y_unit, x_unit):
    X, y, X_new = _data()
    base = GPRegression(mean=mean, method=method, random_state=0).fit(X, y, progressbar=False)
    mean0, std0 = base.predict(X_new, return_std=True)
    gp = GPRegression(mean=mean, method=method, random_state=0)
    gp.fit(X * x_unit, y * y_unit, progressbar=False)
    mean1, std1 = gp.predict(X_new * x_unit, return_std=True)
    # Same optimum up to the optimiser's stopping tolerance (observed: ~1e-9 relative).
    np.testing.assert_allclose(mean1 / y_unit, mean0, rtol=0, atol=1e-4 * np.std(y))
    np.testing.assert_allclose(std1 / y_unit, std0, rtol=1e-3)
    n = len(y)
    lml = gp.log_marginal_likelihood_ + n * np.log(y_unit)  # the density of y is per y unit
    np.testing.assert_allclose(lml, base.log_marginal_likelihood_, rtol=0, atol=1e-3)
    coef = gp.hyperparameters_.get("mean_coef")
    if coef is not None:
        np.testing.assert_allclose(
            coef * x_unit / y_unit, base.hyperparameters_["mean_coef"], rtol=1e-3, atol=1e-6
        )


def test_map_with_a_shifted_constant_mean_is_shift_invariant():
    X, y, X_new = _data()
    base = GPRegression(mean="constant", random_state=0).fit(X, y)
    shifted = GPRegression(mean="constant", random_state=0).fit(X, y + 1e6)
    np.testing.assert_allclose(shifted.predict(X_new) - 1e6, base.predict(X_new), atol=1e-6)
    np.testing.assert_allclose(
        shifted.hyperparameters_["mean_constant"] - 1e6,
        base.hyperparameters_["mean_constant"],
        atol=1e-6,
    )


def _light_curve(n=80, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 80, size=n))[:, None]  # days
    return t, np.sin(2 * np.pi * t[:, 0] / 1.7) + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("method", ["map", SGPR(n_inducing=30)], ids=["map", "sgpr"])
def test_periodic_kernel_on_julian_dates_equals_the_fit_on_days_from_zero(method):
    # Times as Julian dates (~2.4e6 d): GPyTorch's periodic kernel took the distances between
    # different inputs without centring, which cost 9% of the predictive sd (MAP) and gave an
    # SGPR fit with noise 0 and outputscale 5e4; at Unix times (1.7e9 s) predictions were O(10).
    t, y = _light_curve()
    t_new = np.linspace(0, 80, 7)[:, None]
    priors = {"period": 1.7, "lengthscale": 1.0}
    base = GPRegression("periodic", ard=False, priors=priors, method=method, random_state=0)
    mean0, std0 = base.fit(t, y).predict(t_new, return_std=True)
    jd = 2_460_000.5
    gp = GPRegression("periodic", ard=False, priors=priors, method=method, random_state=0)
    mean1, std1 = gp.fit(t + jd, y).predict(t_new + jd, return_std=True)
    # The inputs themselves are rounded to ~5e-10 d: agreement to ~1e-6 (observed 1e-9 to 1e-6).
    np.testing.assert_allclose(mean1, mean0, rtol=0, atol=1e-5)
    np.testing.assert_allclose(std1, std0, rtol=1e-4)
    np.testing.assert_allclose(
        gp.hyperparameters_["noise"], base.hyperparameters_["noise"], rtol=1e-4
    )


def test_periodic_fit_does_not_depend_on_the_time_unit():
    # The periodic kernel's lengthscale divides sin^2 and has no units, but its default prior
    # and bounds were centred on sd(x): with the times in ms instead of s the same data lost
    # 17 nats of evidence and the predictive sd was off by 190%.
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 10, size=(40, 1))
    y = np.sin(2 * t[:, 0]) + 0.1 * rng.normal(size=40)
    t_new = np.linspace(0, 10, 4)[:, None]
    kernel = RBF() * Periodic()
    seconds = GPRegression(kernel, random_state=0).fit(t, y)
    mean0, std0 = seconds.predict(t_new, return_std=True)
    ms = GPRegression(kernel, random_state=0).fit(1e3 * t, y)
    mean1, std1 = ms.predict(1e3 * t_new, return_std=True)
    np.testing.assert_allclose(mean1, mean0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(std1, std0, rtol=1e-5)
    np.testing.assert_allclose(ms.log_marginal_likelihood_, seconds.log_marginal_likelihood_)
    assert ms.hyperparameters_["periodic_period"] == pytest.approx(
        1e3 * seconds.hyperparameters_["periodic_period"], rel=1e-6
    )


def test_linear_mean_on_calendar_years_finds_the_trend():
    # The intercept is the mean at x = 0, two thousand years from the data: its default prior
    # Normal(mean y, 2 sd y) pinned the slope to 0 (-0.0002 instead of 0.49), the
    # extrapolations were off by up to 14 and 23 nats of evidence were lost.
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 24, size=(40, 1))
    y = 0.5 * t[:, 0] + np.sin(t[:, 0]) + 0.3 * rng.normal(size=40)
    t_new = np.array([[-10.0], [12.0], [40.0]])
    since_2000 = GPRegression(mean="linear", random_state=0).fit(t, y)
    years = GPRegression(mean="linear", random_state=0).fit(t + 2000.0, y)
    # The default intercept prior is wider with the offset (the slopes' prior carried to
    # x = 0), so the fits agree to the prior's small weight, not to rounding.
    assert years.hyperparameters_["mean_coef"] == pytest.approx(0.49, abs=0.02)
    np.testing.assert_allclose(
        years.hyperparameters_["mean_coef"], since_2000.hyperparameters_["mean_coef"], rtol=1e-2
    )
    mean0, std0 = since_2000.predict(t_new, return_std=True)
    mean1, std1 = years.predict(t_new + 2000.0, return_std=True)
    np.testing.assert_allclose(mean1, mean0, atol=0.05)
    np.testing.assert_allclose(std1, std0, rtol=0.02)
    assert years.log_marginal_likelihood_ == pytest.approx(
        since_2000.log_marginal_likelihood_, abs=0.01
    )
