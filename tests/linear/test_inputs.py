"""Bad input and bad configurations fail with clear errors."""

import numpy as np
import pytest

from bayesphys import BayesianLinearRegression
from bayesphys.likelihoods import Bernoulli
from bayesphys.priors import Horseshoe, Laplace, Normal


@pytest.fixture
def model():
    return BayesianLinearRegression(Normal(0, 1), noise=1.0)


X = np.random.default_rng(0).normal(size=(10, 2))
Y = np.arange(10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.where(np.eye(10, 2) > 0, np.nan, X)}, "X contains"),
        ({"y": np.r_[Y[:-1], np.inf]}, "y contains"),
        ({"y": Y[:-1]}, "different numbers of rows"),
        ({"X": X[:, 0]}, "reshape"),
        ({"y_err": np.zeros(10)}, "y_err must be > 0"),
        ({"y_err": np.ones(9)}, "y_err must have shape"),
        ({"X": np.empty((0, 2)), "y": np.empty(0)}, "at least"),
        ({"method": "gibbs"}, "method must be one of"),
        ({"y_err": None, "model": BayesianLinearRegression(noise=0.0)}, "pass y_err"),
        (
            {"model": BayesianLinearRegression(Normal(0, [1.0, 2.0, 3.0]), noise=1.0)},
            "one value per feature",
        ),
    ],
)
def test_bad_fit_input(model, kwargs, match):
    args = {"X": X, "y": Y, **kwargs}
    model = args.pop("model", model)
    with pytest.raises(ValueError, match=match):
        model.fit(**args)


def test_bad_configuration():
    with pytest.raises(ValueError, match="conjugate"):
        BayesianLinearRegression(Laplace(0, 1), noise=1.0).fit(X, Y, method="conjugate")
    with pytest.raises(ValueError, match="no MAP"):
        BayesianLinearRegression(Horseshoe(1.0), noise=1.0).fit(X, Y, method="map")
    with pytest.raises(TypeError, match="likelihood must be Gaussian or StudentT"):
        BayesianLinearRegression(likelihood=Bernoulli()).fit(X, Y)
    with pytest.raises(TypeError, match="coef_prior"):
        BayesianLinearRegression(coef_prior=1.0).fit(X, Y)
    with pytest.raises(TypeError, match="noise must be"):
        BayesianLinearRegression(noise="big").fit(X, Y)
    with pytest.raises(ValueError, match="draws must be >= 1"):
        BayesianLinearRegression(noise=1.0).fit(X, Y, draws=0)


def test_predict_before_fit_and_wrong_width(model):
    with pytest.raises(ValueError, match="not fitted"):
        model.predict(X)
    model.fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 5)))


def test_pandas_feature_names_become_coords(model):
    import pandas as pd

    frame = pd.DataFrame(X, columns=["Z", "N"])
    model.fit(frame, Y, draws=10, chains=1)
    assert list(model.idata_.posterior["coef"].coords["feature"].values) == ["Z", "N"]
