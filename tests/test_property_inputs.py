"""Hostile input to every public entry point (issue 15): property tests with hypothesis.

For the estimators (conjugate and MAP linear regression, a MAP GP, a tiny VI network) and the
core specs (priors, likelihoods, ``results.to_inference_data``), generated bad arrays -- NaN
and infinities, wrong shapes, object/str/complex dtypes, huge and tiny scales, empty ones --
give either finite outputs or a ``ValueError``/``TypeError`` whose message names the argument.
Any other exception (a raw numpy/torch error) fails, and so does a NaN in a result.

Examples are derandomised (a fixed seed) and few; the models are fitted once per module.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesphys import BayesianLinearRegression
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.core import results
from bayesphys.core.base import clone
from bayesphys.gp import GPRegression
from bayesphys.inference import MAP, VI, Conjugate
from bayesphys.likelihoods import Bernoulli, Gaussian, Poisson, StudentT
from bayesphys.priors import (
    Cauchy,
    Exponential,
    Gamma,
    HalfNormal,
    Horseshoe,
    InverseGamma,
    Laplace,
    LogNormal,
    Normal,
    Uniform,
)

FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # a fixed seed: the same examples in every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
N, P = 12, 2
RNG = np.random.default_rng(0)
X_GOOD = RNG.uniform(-2, 2, size=(N, P))
Y_GOOD = np.sin(X_GOOD[:, 0]) + 0.5 * X_GOOD[:, 1] + 0.1 * RNG.normal(size=N)


# ------------------------------------------------------------------------------ the property
def names(message: str, *arguments: str) -> bool:
    """Whether ``message`` names one of ``arguments`` as a word of its own."""
    return any(re.search(rf"(?<![\w.]){re.escape(a)}(?!\w)", message) for a in arguments)


def assert_finite(value, where: str = "result") -> None:
    """Every number in ``value`` (arrays, tuples, InferenceData, a fitted estimator) is finite."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, tuple | list):
        for i, item in enumerate(value):
            assert_finite(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            assert_finite(item, f"{where}[{key!r}]")
        return
    if isinstance(value, results.InferenceData):
        for group in value.groups():
            assert_finite(value[group], f"{where}.{group}")
        return
    if isinstance(value, xr.Dataset):
        for name, var in value.data_vars.items():
            assert_finite(var.values, f"{where}.{name}")
        return
    if hasattr(value, "get_params"):  # a fitted estimator: its learned numbers
        for name, item in vars(value).items():
            if name.endswith("_") and not name.startswith("_") and name != "idata_":
                assert_finite(item, f"{where}.{name}")
        return
    arr = np.asarray(value)
    if arr.dtype.kind in "fciu":
        assert np.all(np.isfinite(arr)), f"{where} holds non-finite values: {arr}"


def check(call, *arguments: str):
    """Run ``call``: finite output, or a ValueError/TypeError naming one of ``arguments``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = call()
        except (ValueError, TypeError) as exc:
            assert names(str(exc), *arguments), (
                f"{type(exc).__name__} does not name {arguments}: {exc}"
            )
            return None
    assert_finite(out)
    return out


# ------------------------------------------------------------------------- hostile arrays
KINDS = (
    "nan",
    "inf",
    "huge",
    "tiny",
    "scaled",
    "ndim",
    "columns",
    "rows",
    "empty",
    "str",
    "object",
    "complex",
    "ragged",
    "scalar",
    "none",
    "bool",
)


@st.composite
def hostile(draw, good: np.ndarray, kinds=KINDS):
    """A bad (or extreme but valid) variant of the array ``good``."""
    kind = draw(st.sampled_from(kinds))
    arr = np.array(good, dtype=np.float64)
    index = tuple(draw(st.integers(0, s - 1)) for s in arr.shape)
    if kind in ("nan", "inf"):
        arr[index] = np.nan if kind == "nan" else draw(st.sampled_from([np.inf, -np.inf]))
        return arr
    if kind == "huge":
        return arr * 10.0 ** draw(st.integers(101, 300))
    if kind == "tiny":
        return arr * 10.0 ** -draw(st.integers(101, 300))
    if kind == "scaled":  # extreme but representable: must work
        return arr * 10.0 ** draw(st.integers(-60, 60))
    if kind == "ndim":
        return arr.ravel() if arr.ndim == 2 else arr[:, None, None]
    if kind == "columns":
        return np.hstack([arr.reshape(len(arr), -1)] * 2)
    if kind == "rows":
        return arr[: draw(st.integers(0, len(arr) - 1))] if len(arr) > 1 else arr[:0]
    if kind == "empty":
        return arr[:0]
    if kind == "str":
        return np.full(arr.shape, draw(st.sampled_from(["a", "", "nan?", "1,5"])))
    if kind == "object":
        out = arr.astype(object)
        out[index] = draw(st.sampled_from([None, "x", {"a": 1}, [1.0, 2.0], object()]))
        return out
    if kind == "complex":
        return arr + 1j
    if kind == "ragged":
        return [list(row) for row in np.atleast_2d(arr)[:2]] + [[1.0]]
    if kind == "scalar":
        return draw(st.sampled_from([3.0, np.nan, "x"]))
    if kind == "none":
        return None
    return arr > 0  # bool: converts to 0/1 and works


def shapes_ok(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind in "fb"


# ------------------------------------------------------------------------------ estimators
def make_linear_conjugate():
    return BayesianLinearRegression(
        Normal(0, 10), noise=0.2, method=Conjugate(draws=50, chains=2), random_state=0
    )


def make_linear_map():
    return BayesianLinearRegression(Laplace(0, 1), noise=0.2, method=MAP(), random_state=0)


def make_gp():
    return GPRegression(ard=False, method="map", random_state=0, max_predict_draws=20)


def make_bnn():
    return BayesianNeuralNetwork(
        hidden=(4,), method=VI(steps=30, draws=10, chains=1, batch_size=N), random_state=0
    )


FACTORIES = {
    "linear-conjugate": make_linear_conjugate,
    "linear-map": make_linear_map,
    "gp-map": make_gp,
    "bnn-vi": make_bnn,
}


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def family(request):
    """(factory, a model fitted on the good data) per family, fitted once per module."""
    factory = FACTORIES[request.param]
    fitted = factory().fit(X_GOOD, Y_GOOD, progressbar=False)
    return factory, fitted


def fit(factory, X, y, y_err=None):
    return factory().fit(X, y, y_err, progressbar=False)


@FAST
@given(X=hostile(X_GOOD))
def test_fit_with_hostile_X(family, X):
    factory, _ = family
    check(lambda: fit(factory, X, Y_GOOD), "X", "y")


@FAST
@given(y=hostile(Y_GOOD))
def test_fit_with_hostile_y(family, y):
    factory, _ = family
    check(lambda: fit(factory, X_GOOD, y), "y")


@FAST
@given(y_err=hostile(np.full(N, 0.1)) | st.sampled_from([0.0, -1.0, np.nan, 1e300, 1e-300]))
def test_fit_with_hostile_y_err(family, y_err):
    factory, _ = family
    check(lambda: fit(factory, X_GOOD, Y_GOOD, y_err), "y_err")


@FAST
@given(X=hostile(X_GOOD[:5]))
def test_predict_with_hostile_X(family, X):
    _, fitted = family
    check(lambda: fitted.predict(X), "X")
    check(lambda: fitted.predict(X, return_std=True, include_noise=True), "X")


@FAST
@given(X=hostile(X_GOOD[:5]), use_err=st.booleans(), y_err=hostile(np.full(5, 0.1)))
def test_sample_posterior_predictive_with_hostile_input(family, X, use_err, y_err):
    _, fitted = family
    if isinstance(fitted, BayesianLinearRegression) and fitted.method_ == "map":
        return  # a MAP linear fit has no draws (its own ValueError, tested elsewhere)
    if use_err:  # good X, bad y_err
        check(lambda: fitted.sample_posterior_predictive(X_GOOD[:5], y_err=y_err), "y_err")
    else:
        check(lambda: fitted.sample_posterior_predictive(X, random_state=1), "X")


@FAST
@given(
    X=hostile(X_GOOD[:5]),
    draws=st.sampled_from([5, 0, -3, 2.5, "10", None, np.int64(4), True]),
)
def test_sample_prior_predictive_with_hostile_input(family, X, draws):
    _, fitted = family
    if isinstance(fitted, BayesianLinearRegression):  # a flat intercept has no prior draws
        fitted = clone(fitted).set_params(intercept_prior=Normal(0, 1))  # works unfitted
    check(lambda: fitted.sample_prior_predictive(X_GOOD[:5], draws=draws, random_state=0), "draws")
    check(lambda: fitted.sample_prior_predictive(X, draws=5, random_state=0), "X")


@FAST
@given(X=hostile(X_GOOD[:6]), y=hostile(Y_GOOD[:6]), which=st.sampled_from(["X", "y"]))
def test_score_with_hostile_input(family, X, y, which):
    _, fitted = family
    if which == "X":
        check(lambda: fitted.score(X, Y_GOOD[:6]), "X", "y")
    else:
        check(lambda: fitted.score(X_GOOD[:6], y), "y")


def test_complex_X_is_rejected_not_truncated(family):
    """The imaginary part of complex input must not be dropped silently (issue 15 item 8)."""
    factory, fitted = family
    with pytest.raises(ValueError, match=r"X: Complex data not supported"):
        fit(factory, X_GOOD + 1j, Y_GOOD)
    with pytest.raises(ValueError, match=r"X: Complex data not supported"):
        fitted.predict(X_GOOD + 0j)


# ---------------------------------------------------------------------------------- priors
PRIORS = {
    Normal: ("mu", "sigma"),
    HalfNormal: ("sigma",),
    Laplace: ("mu", "b"),
    Cauchy: ("alpha", "beta"),
    Gamma: ("alpha", "beta"),
    InverseGamma: ("alpha", "beta"),
    LogNormal: ("mu", "sigma"),
    Exponential: ("lam",),
    Uniform: ("lower", "upper"),
    Horseshoe: ("scale",),
}
GOOD_PARAMETERS = {"lower": 0.0, "upper": 3.0, "mu": 0.0, "alpha": 2.0}
BAD_PARAMETERS = st.sampled_from(
    [np.nan, np.inf, -1.0, 0.0, "1", None, True, 1j, [1.0, np.nan], [[1.0], [2.0, 3.0]], {}, 1e308]
)


@FAST
@given(cls=st.sampled_from(sorted(PRIORS, key=lambda c: c.__name__)), data=st.data())
def test_prior_with_hostile_parameter(cls, data):
    params = PRIORS[cls]
    name = data.draw(st.sampled_from(params))
    value = data.draw(BAD_PARAMETERS)
    kwargs = {**{p: GOOD_PARAMETERS.get(p, 1.0) for p in params}, name: value}
    prior = check(lambda: cls(**kwargs), *params)
    if prior is not None:  # accepted: then its numbers must be finite (or the moments refuse)
        check(lambda: prior.logpdf(np.array([0.5, 1.5])), "x")
        check(lambda: prior.sample(3, rng=0), "size")


X_KINDS = ("nan", "inf", "str", "object", "complex", "ragged", "scalar", "none", "bool", "ndim")


@FAST
@given(
    cls=st.sampled_from(sorted(PRIORS, key=lambda c: c.__name__)),
    x=hostile(np.array([0.5, 1.0, 2.0]), kinds=X_KINDS),
)
def test_prior_logpdf_with_hostile_x(cls, x):
    prior = cls(**{p: GOOD_PARAMETERS.get(p, 1.0) for p in PRIORS[cls]})

    def logpdf():
        out = prior.logpdf(x)
        assert not np.any(np.isnan(out)), f"NaN log density for x={x!r}"
        return np.where(np.isneginf(out), 0.0, out)  # -inf outside the support is correct

    check(logpdf, "x")


@FAST
@given(
    size=st.sampled_from([3, (2, 2), 0, -1, (2, -1), 2.5, "3", [2, 2], None, np.int64(2), True]),
    rng=st.sampled_from([0, None, np.random.default_rng(1), "seed", 1.5, -1]),
)
def test_prior_sample_with_hostile_size_and_rng(size, rng):
    check(lambda: Normal(0.0, 1.0).sample(size, rng=rng), "size", "rng")


# ----------------------------------------------------------------------------- likelihoods
LIKELIHOODS = {
    "gaussian": Gaussian(noise=0.5),
    "studentt": StudentT(nu=4.0, noise=0.5),
    "bernoulli": Bernoulli(),
    "poisson": Poisson(),
}
Y_LIK = {
    "gaussian": Y_GOOD,
    "studentt": Y_GOOD,
    "bernoulli": (Y_GOOD > 0) * 1.0,
    "poisson": np.round(np.abs(Y_GOOD) * 3),
}


@FAST
@given(
    key=st.sampled_from(sorted(LIKELIHOODS)),
    which=st.sampled_from(["y", "f", "y_err"]),
    data=st.data(),
)
def test_likelihood_logpdf_and_sample_with_hostile_input(key, which, data):
    lik = LIKELIHOODS[key]
    args = {"y": Y_LIK[key], "f": np.zeros(N), "y_err": None}
    good = np.full(N, 0.1) if which == "y_err" else args[which]
    args[which] = data.draw(hostile(good))
    if which == "y_err" and not lik.accepts_y_err:
        return

    def logpdf():
        out = lik.logpdf(args["y"], args["f"], y_err=args["y_err"])
        assert not np.any(np.isnan(out)), "NaN log-likelihood"
        return np.where(np.isneginf(out), 0.0, out)

    check(logpdf, which)
    if which != "y":
        check(lambda: lik.sample(args["f"], y_err=args["y_err"], rng=0), which)


# ------------------------------------------------------------------- to_inference_data
@FAST
@given(value=hostile(np.zeros((2, 5))))
def test_to_inference_data_with_hostile_posterior(value):
    check(lambda: results.to_inference_data({"mu": value}), "mu", "posterior")


# ---------------------------------------------------------------------- fixed regressions
def test_known_cases_found_by_the_properties():
    """Each of these was a NaN, a silent truncation or an unnamed numpy error."""
    with pytest.raises(ValueError, match=r"Gaussian: f contains NaN"):  # was a NaN density
        Gaussian(noise=0.5).logpdf(Y_GOOD, np.full(N, np.nan))
    with pytest.raises(ValueError, match=r"Normal.logpdf: x contains 1 NaN"):  # was NaN
        Normal(0, 1).logpdf([0.0, np.nan])
    with pytest.raises(TypeError, match=r"x must be real"):  # was truncated with a warning
        Normal(0, 1).logpdf([1.0 + 1j])
    with pytest.raises(ValueError, match=r"size must hold integers >= 0"):  # numpy's error
        Normal(0, 1).sample((2, -1))
    with pytest.raises(ValueError, match=r"rng must be a non-negative int seed"):
        Normal(0, 1).sample(2, rng=-1)
    with pytest.raises(ValueError, match=r"Cauchy: alpha must be at most 1e\+100"):
        Cauchy(alpha=1e308)  # was a -inf density everywhere
    with pytest.raises(ValueError, match=r"y of shape \(12, 2\) and f of shape \(12,\) do not"):
        Bernoulli().logpdf(np.ones((N, 2)), np.zeros(N))
    with pytest.raises(ValueError, match=r"Poisson: f \(the log rate\) reaches"):
        Poisson().sample(np.full(3, 50.0), rng=0)
    fitted = make_linear_conjugate().fit(X_GOOD, Y_GOOD)
    with pytest.raises(ValueError, match=r"R\^2 needs at least 2 samples in y"):  # was NaN
        fitted.score(X_GOOD[:1], Y_GOOD[:1])
    with pytest.raises(ValueError, match=r"Input y contains 1 NaN, infinite or missing"):
        make_linear_conjugate().fit(X_GOOD, np.array([None, *Y_GOOD[1:]], dtype=object))
