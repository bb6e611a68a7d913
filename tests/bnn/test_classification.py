"""Two-moons classification: accuracy, calibration against a point-estimate network, ECE."""

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

from bayesphys.bnn import BayesianNeuralNetwork, expected_calibration_error
from bayesphys.inference import HMC, VI
from bayesphys.likelihoods import Bernoulli, Categorical
from tests.bnn._data import moons

X_TRAIN, Y_TRAIN = moons(100, seed=0)
X_TEST, Y_TEST = moons(2000, seed=1)


def _nll(proba, y):
    return -np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)))


@pytest.fixture(scope="module")
def point_estimate():
    """Same architecture trained to the MAP (L2 penalty = Gaussian prior) by L-BFGS."""
    mlp = MLPClassifier(
        (10,), activation="tanh", alpha=1e-2, solver="lbfgs", max_iter=5000, random_state=0
    )
    return mlp.fit(X_TRAIN, Y_TRAIN).predict_proba(X_TEST)


@pytest.fixture(scope="module", params=["Bernoulli", "Categorical"])
def bnn(request):
    lik = {"Bernoulli": Bernoulli(), "Categorical": Categorical()}[request.param]
    model = BayesianNeuralNetwork(
        hidden=(10,), likelihood=lik, method=HMC(chains=8, tune=200, draws=100), random_state=0
    )
    return model.fit(X_TRAIN, Y_TRAIN, progressbar=False)


def test_accuracy(bnn):
    assert np.mean(bnn.predict(X_TEST) == Y_TEST) > 0.84  # measured 0.863 / 0.877


def test_better_calibrated_than_point_estimate(bnn, point_estimate):
    # measured: ECE 0.030 / 0.036 (BNN) vs 0.101 (MAP net); NLL 0.34 / 0.31 vs 0.68
    proba = bnn.predict_proba(X_TEST)
    assert expected_calibration_error(Y_TEST, proba) < 0.06
    assert expected_calibration_error(Y_TEST, proba) < expected_calibration_error(
        Y_TEST, point_estimate
    )
    assert _nll(proba, Y_TEST) < 0.8 * _nll(point_estimate, Y_TEST)


def test_probabilities_and_labels(bnn):
    proba = bnn.predict_proba(X_TEST[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(bnn.classes_, [0, 1])
    with pytest.raises(ValueError, match="predict_proba"):
        bnn.predict(X_TEST[:5], return_std=True)
    pp = bnn.sample_posterior_predictive(X_TEST[:5], random_state=0).posterior_predictive["y"]
    assert set(np.unique(pp.values)) <= {0, 1}
    with pytest.raises(ValueError, match="y_err"):
        bnn.sample_posterior_predictive(X_TEST[:5], y_err=np.ones(5))
    diag = bnn.predictive_diagnostics(X_TEST[:3])
    assert list(diag.columns) == ["mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]


def test_arbitrary_labels_and_three_classes():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    label = rng.integers(0, 3, 90)
    X = centers[label] + 0.5 * rng.normal(size=(90, 2))
    names = np.array([-1, 5, 7])[label]
    model = BayesianNeuralNetwork(
        hidden=(4,),
        likelihood=Categorical(),
        method=VI(chains=2, steps=800, draws=50),
        random_state=0,
    ).fit(X, names, progressbar=False)
    assert np.mean(model.predict(X) == names) > 0.9
    assert model.score(X, names) == np.mean(model.predict(X) == names)
    assert model.predict_proba(X[:2]).shape == (2, 3)
    # The output units are the classes, by label.
    W1 = model.idata_.posterior["W1"]
    assert W1.dims[2:] == ("hidden0", "class")
    np.testing.assert_array_equal(W1["class"].values, [-1, 5, 7])
    f = model.sample_posterior_predictive(X[:4], random_state=0).posterior_predictive["f"]
    assert f.dims[2:] == ("obs", "class") and f.shape[2:] == (4, 3)
    prior = model.sample_prior_predictive(X[:4], draws=30, random_state=0)
    assert set(np.unique(prior.prior_predictive["y"].values)) <= {-1, 5, 7}
    with pytest.raises(ValueError, match="Categorical"):
        BayesianNeuralNetwork(likelihood=Bernoulli(), method=VI(steps=1)).fit(X, names)


def test_ece_known_values():
    assert expected_calibration_error([1, 0, 1, 1], [0.9, 0.2, 0.6, 0.8], n_bins=5) == (
        pytest.approx(0.225)
    )
    # perfectly calibrated in expectation: confidence 0.7, accuracy 0.7
    y = np.array([0] * 7 + [1] * 3)
    assert expected_calibration_error(y, np.tile([0.7, 0.3], (10, 1))) == pytest.approx(0.0)
    # always confident, half wrong
    assert expected_calibration_error([0, 1], [[1.0, 0.0], [1.0, 0.0]]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("y_true", "proba", "match"),
    [
        ([0, 1], [[0.5, 0.5]], "y_true"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "y_true"),
        ([0, 1], [[1.5, -0.5], [0.5, 0.5]], "proba"),
        ([0, 1], [[0.5, np.nan], [0.5, 0.5]], "proba"),
    ],
)
def test_ece_bad_input(y_true, proba, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(y_true, proba)
