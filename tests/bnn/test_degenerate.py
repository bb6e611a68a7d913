"""Overflowing inputs and wrong-typed parameters of the network are named (issue 15)."""

import numpy as np
import pytest

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.inference import VI

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, size=(20, 2))
Y = np.sin(X[:, 0]) + 0.1 * RNG.normal(size=20)


def network(**params):
    return BayesianNeuralNetwork(
        **{"hidden": (3,), "method": VI(steps=20, draws=5, chains=1), "random_state": 0, **params}
    )


def test_overflowing_X_is_refused():
    """Was: fitted, then predicted one constant everywhere (the standardisation overflowed)."""
    with pytest.raises(ValueError, match=r"^X \(column 0\) has values up to .* rescale X"):
        network().fit(np.column_stack([1e300 * X[:, 0], X[:, 1]]), Y, progressbar=False)


def test_overflowing_y_and_prediction_inputs_are_refused():
    with pytest.raises(ValueError, match=r"^y has values up to"):
        network().fit(X, 1e300 * Y, progressbar=False)
    fitted = network().fit(X, Y, progressbar=False)
    with pytest.raises(ValueError, match=r"^X .*has values up to"):
        fitted.predict(1e200 * X)
    assert np.all(np.isfinite(fitted.predict(1e-200 * X)))  # inputs near 0 are fine


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"activation": ["tanh"]}, "activation"),  # was "unhashable type: 'list'"
        ({"random_state": -3}, "random_state"),
    ],
)
def test_bad_parameters_are_named(params, name):
    with pytest.raises((TypeError, ValueError), match=name):
        network(**params).fit(X, Y, progressbar=False)


def test_string_targets_are_named():
    with pytest.raises(ValueError, match=r"^y: could not convert"):
        network().fit(X, np.full(20, "a"), progressbar=False)
    labels = np.array([None] + [1.0] * 19, dtype=object)
    with pytest.raises(ValueError, match=r"Input y contains 1 NaN"):
        network().fit(X, labels, progressbar=False)
