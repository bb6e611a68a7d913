"""Bad input and bad configurations fail with clear errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, NUTS, Conjugate
from bayesphys.likelihoods import Bernoulli
from bayesphys.priors import Horseshoe, Laplace, Normal


@pytest.fixture
def model():
    return BayesianLinearRegression(Normal(0, 1), noise=1.0, random_state=0)


X = np.random.default_rng(0).normal(size=(10, 2))
Y = np.arange(10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.where(np.eye(10, 2) > 0, np.nan, X)}, "X contains NaN"),
        ({"y": np.r_[Y[:-1], np.inf]}, "y contains infinity"),
        ({"y": Y[:-1]}, "inconsistent numbers of samples"),
        ({"X": X[:, 0]}, "Reshape your data"),
        ({"y_err": np.zeros(10)}, "y_err must be > 0"),
        ({"y_err": np.ones(9)}, "y_err must have shape"),
        ({"X": np.empty((0, 2)), "y": np.empty(0)}, "minimum of 2 is required"),
        ({"model": BayesianLinearRegression(method="gibbs")}, "does not support method='gibbs'"),
        ({"y_err": None, "model": BayesianLinearRegression(noise=0.0)}, "pass y_err"),
        (
            {"model": BayesianLinearRegression(Normal(0, [1.0, 2.0, 3.0]), noise=1.0)},
            "one value per feature",
        ),
        ({"client": object()}, "client"),
    ],
)
def test_bad_fit_input(model, kwargs, match):
    args = {"X": X, "y": Y, **kwargs}
    model = args.pop("model", model)
    with pytest.raises(ValueError, match=match):
        model.fit(**args)


def test_bad_configuration():
    with pytest.raises(ValueError, match="conjugate"):
        BayesianLinearRegression(Laplace(0, 1), noise=1.0, method="conjugate").fit(X, Y)
    with pytest.raises(ValueError, match="no MAP"):
        BayesianLinearRegression(Horseshoe(1.0), noise=1.0, method="map").fit(X, Y)
    with pytest.raises(TypeError, match="likelihood must be Gaussian or StudentT"):
        BayesianLinearRegression(likelihood=Bernoulli()).fit(X, Y)
    with pytest.raises(TypeError, match="coef_prior"):
        BayesianLinearRegression(coef_prior=1.0).fit(X, Y)
    with pytest.raises(TypeError, match="noise must be"):
        BayesianLinearRegression(noise="big").fit(X, Y)
    with pytest.raises(ValueError, match=r"Conjugate.draws must be >= 1"):
        BayesianLinearRegression(noise=1.0, method=Conjugate(draws=0)).fit(X, Y)
    with pytest.raises(ValueError, match="n_restarts"):
        BayesianLinearRegression(noise=1.0, method=MAP(n_restarts=2)).fit(X, Y)
    with pytest.raises(ValueError, match="chain_groups"):
        BayesianLinearRegression(noise=1.0, method=NUTS(chains=2, chain_groups=2)).fit(X, Y)
    with pytest.raises(TypeError, match="method must be"):
        BayesianLinearRegression(method=42).fit(X, Y)
    with pytest.raises(TypeError, match="log_likelihood"):
        BayesianLinearRegression(noise=1.0, log_likelihood="yes").fit(X, Y)
    with pytest.raises(TypeError, match="progressbar"):
        BayesianLinearRegression(noise=1.0).fit(X, Y, progressbar="no")


def test_predict_before_fit_and_wrong_width(model):
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(X)
    model.fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 5)))


def test_pandas_feature_names_become_coords():
    import pandas as pd

    frame = pd.DataFrame(X, columns=["Z", "N"])
    model = BayesianLinearRegression(
        Normal(0, 1), noise=1.0, method=Conjugate(draws=10, chains=1), random_state=0
    ).fit(frame, Y)
    assert list(model.idata_.posterior["coef"].coords["feature"].values) == ["Z", "N"]
    assert list(model.feature_names_in_) == ["Z", "N"]


def test_map_fit_has_no_predictive_draws():
    model = BayesianLinearRegression(Laplace(0, 1), noise=1.0, method="map").fit(X, Y)
    with pytest.raises(ValueError, match="draws"):
        model.sample_posterior_predictive(X)


def test_flat_intercept_has_no_prior_predictive():
    model = BayesianLinearRegression(Normal(0, 1), noise=1.0)
    with pytest.raises(ValueError, match="intercept_prior"):
        model.sample_prior_predictive(X, draws=5, random_state=0)
