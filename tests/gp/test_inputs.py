"""Bad input is rejected with errors that name the argument."""

import numpy as np
import pytest

from bayesphys.core.base import NotFittedError, clone
from bayesphys.gp import RBF, GPRegression, Linear, Matern, Periodic
from bayesphys.priors import HalfNormal, LogNormal, Normal


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    return X, np.sin(X[:, 0]) + 0.1 * rng.normal(size=20)


@pytest.fixture(scope="module")
def fitted(data):
    return GPRegression().fit(*data, random_seed=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": "nan"}, "X contains 1 NaN"),
        ({"y": "nan"}, "y contains 1 NaN"),
        ({"y": "short"}, "different numbers of rows"),
        ({"X": "1d"}, "X must be 2-D"),
        ({"y_err": "zero"}, "y_err must be > 0"),
        ({"y_err": "negative"}, "y_err must be > 0"),
        ({"y_err": "short"}, "y_err must have shape"),
        ({"method": "laplace"}, "method must be one of"),
        ({"n_restarts": -1}, "n_restarts must be >= 0"),
    ],
)
def test_bad_fit_arguments_raise_value_error(data, kwargs, match):
    X, y = data[0].copy(), data[1].copy()
    y_err = np.full(len(y), 0.1)
    if kwargs.pop("X", None) == "nan":
        X[3, 1] = np.nan
    if kwargs.get("y") == "nan":
        y[2] = np.nan
    if kwargs.get("y") == "short":
        y = y[:-1]
    kwargs.pop("y", None)
    if "X" in match and "2-D" in match:
        X = X[:, 0]
    err = kwargs.pop("y_err", None)
    if err == "zero":
        y_err[4] = 0.0
    elif err == "negative":
        y_err[0] = -0.1
    elif err == "short":
        y_err = y_err[:5]
    with pytest.raises(ValueError, match=match):
        GPRegression().fit(X, y, y_err=y_err, **kwargs)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"kernel": "squared_exp"}, "kernel must be one of"),
        ({"mean": "quadratic"}, "mean must be one of"),
        ({"priors": {"lenghtscale": LogNormal()}}, "unknown key"),
        ({"priors": {"lengthscale": Normal(0, 1)}}, "prior on positive values"),
        ({"priors": {"lengthscale": -1.0}}, "must be > 0"),
        ({"priors": {"lengthscale": LogNormal(np.zeros(3), 1.0)}}, "does not broadcast"),
        ({"noise": -0.1}, "noise must be >= 0"),
        ({"noise": 0.1, "priors": {"noise": HalfNormal(1)}}, "not both"),
    ],
)
def test_bad_constructor_arguments_raise_at_fit(data, params, match):
    with pytest.raises(ValueError, match=match):
        GPRegression(**params).fit(*data)


def test_kernel_specs_combine_and_validate():
    k = RBF() * Periodic() + Linear()
    assert repr(k) == "(RBF()) * (Periodic()) + Linear()"
    assert [len(t) for t in k.terms()] == [2, 1]
    with pytest.raises(ValueError, match=r"nu must be 0\.5, 1\.5 or 2\.5"):
        Matern(2.0)
    with pytest.raises(TypeError, match="combine only with kernels"):
        RBF() + 1.0


def test_nuts_needs_proper_priors(data):
    with pytest.raises(ValueError, match="flat"):
        GPRegression(priors={"lengthscale": None}).fit(*data, method="nuts")
    fixed = {"lengthscale": 1.0, "outputscale": 1.0}
    with pytest.raises(ValueError, match="at least one free"):
        GPRegression(priors=fixed, noise=0.1).fit(*data, method="nuts")


def test_predict_checks(fitted, data):
    X = data[0]
    with pytest.raises(ValueError, match="3 features"):
        fitted.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X contains"):
        fitted.predict(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="cannot both"):
        fitted.predict(X, return_std=True, return_cov=True)
    with pytest.raises(NotFittedError):
        clone(fitted).predict(X)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fitted.sample_y(X, 0)


def test_callable_mean_must_return_one_value_per_row(data):
    with pytest.raises(ValueError, match=r"mean\(X\) must return shape"):
        GPRegression(mean=lambda X: X).fit(*data)
