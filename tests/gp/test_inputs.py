"""Bad input is rejected with errors that name the argument."""

import numpy as np
import pytest

from bayesphys.core.base import NotFittedError, clone
from bayesphys.gp import RBF, GPRegression, Linear, Matern, Periodic
from bayesphys.inference import MAP, NUTS, SGPR, SVGP
from bayesphys.priors import HalfNormal, LogNormal, Normal


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    return X, np.sin(X[:, 0]) + 0.1 * rng.normal(size=20)


@pytest.fixture(scope="module")
def fitted(data):
    return GPRegression(random_state=0).fit(*data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": "nan"}, "Input X contains NaN"),
        ({"y": "nan"}, "Input y contains NaN"),
        ({"y": "short"}, "inconsistent numbers of samples"),
        ({"X": "1d"}, "Expected 2D array"),
        ({"y_err": "zero"}, "y_err must be > 0"),
        ({"y_err": "negative"}, "y_err must be > 0"),
        ({"y_err": "short"}, "y_err must have shape"),
        ({"method": "laplace"}, r"does not support method='laplace'; supported: \['map', 'nuts'"),
        ({"method": MAP(n_restarts=-1)}, r"MAP.n_restarts must be >= 0"),
        ({"method": MAP(max_iter=0)}, r"MAP.max_iter must be >= 1"),
        ({"max_predict_draws": 0}, "max_predict_draws must be >= 1"),
        ({"num_threads": 0}, "num_threads must be >= 1"),
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
    if "2D" in match:
        X = X[:, 0]
    err = kwargs.pop("y_err", None)
    if err == "zero":
        y_err[4] = 0.0
    elif err == "negative":
        y_err[0] = -0.1
    elif err == "short":
        y_err = y_err[:5]
    with pytest.raises(ValueError, match=match):
        GPRegression(**kwargs).fit(X, y, y_err=y_err)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"kernel": "squared_exp"}, "kernel must be one of"),
        ({"mean": "quadratic"}, "mean must be one of"),
        ({"priors": {"lenghtscale": LogNormal()}}, "unknown key"),
        ({"priors": {"lengthscale": Normal(0, 1)}}, "prior on positive values"),
        ({"priors": {"lengthscale": -1.0}}, "must be > 0"),
        ({"priors": {"lengthscale": LogNormal(np.zeros(3), 1.0)}}, "does not broadcast"),
        # Two values for the one shared lengthscale broadcast with (1,): a torch RuntimeError.
        ({"ard": False, "priors": {"lengthscale": np.array([1.0, 2.0])}}, r"of shape \(1,\)"),
        ({"ard": False, "priors": {"lengthscale": LogNormal(np.zeros(2), 1)}}, r"shape \(1,\)"),
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
        GPRegression(priors={"lengthscale": None}, method="nuts").fit(*data)
    fixed = {"lengthscale": 1.0, "outputscale": 1.0}
    with pytest.raises(ValueError, match="at least one free"):
        GPRegression(priors=fixed, noise=0.1, method="nuts").fit(*data)


def test_prior_predictive_needs_proper_priors(data):
    flat = GPRegression(priors={"lengthscale": None}, random_state=0).fit(*data)
    with pytest.raises(ValueError, match=r"proper prior.*\['lengthscale'\].*improper"):
        flat.sample_prior_predictive(data[0][:3], draws=5, random_state=0)


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        (NUTS(chains=2, chain_groups=3), ValueError, "NUTS.chain_groups=3 exceeds chains=2"),
        (NUTS(target_accept=1.0), ValueError, r"NUTS.target_accept must be in \(0, 1\)"),
        (NUTS(max_treedepth=0), ValueError, "NUTS.max_treedepth must be >= 1"),
        (SGPR(n_inducing=0), ValueError, "SGPR.n_inducing must be >= 1"),
        (SGPR(inducing="grid"), ValueError, "SGPR.inducing must be one of"),
        (SVGP(batch_size=2.5), TypeError, "SVGP.batch_size must be an integer"),
        (SVGP(learning_rate=-0.1), ValueError, "SVGP.learning_rate must be > 0"),
        ("sparse", ValueError, "does not support method='sparse'"),
        (42, TypeError, "method must be a string shortcut"),
    ],
)
def test_bad_methods_raise_at_fit(data, method, error, match):
    with pytest.raises(error, match=match):
        GPRegression(method=method).fit(*data)


def test_predict_checks(fitted, data):
    X = data[0]
    with pytest.raises(ValueError, match="X has 3 features"):
        fitted.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X contains NaN"):
        fitted.predict(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="cannot both"):
        fitted.predict(X, return_std=True, return_cov=True)
    with pytest.raises(NotFittedError):
        clone(fitted).predict(X)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fitted.sample_y(X, 0)
    with pytest.raises(ValueError, match="draws must be >= 1"):
        fitted.sample_prior_predictive(X, draws=0)
    with pytest.raises(ValueError, match="y_err must have shape"):
        fitted.sample_posterior_predictive(X, y_err=np.ones(3))
    with pytest.raises(TypeError, match="random_state must be"):
        fitted.sample_y(X, 2, random_state="seed")
    with pytest.raises(NotFittedError):
        clone(fitted).sample_posterior_predictive(X)


def test_callable_mean_must_return_one_value_per_row(data):
    with pytest.raises(ValueError, match=r"mean\(X\) must return shape"):
        GPRegression(mean=lambda X: X).fit(*data)


def test_callable_mean_written_for_a_dataframe_says_what_it_gets():
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"Z": rng.uniform(8, 20, 12), "N": rng.uniform(8, 30, 12)})
    y = 0.1 * X["Z"].to_numpy() + rng.normal(0, 0.05, 12)
    # It raised a bare IndexError from inside the lambda.
    with pytest.raises(TypeError, match=r"ndarray of shape \(n, 2\).*X\[:, 0\]"):
        GPRegression(mean=lambda df: 0.1 * df["Z"], random_state=0).fit(X, y)
    fitted = GPRegression(mean=lambda a: 0.1 * a[:, 0], random_state=0).fit(X, y)
    assert np.all(np.isfinite(fitted.predict(X)))
