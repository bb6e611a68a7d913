"""Faults found in a reliability review: each test failed before its fix."""

import warnings

import numpy as np
import pytest
import torch

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.bnn.network import Network
from bayesphys.bnn.posterior import Posterior
from bayesphys.inference import HMC, NUTS, VI
from bayesphys.likelihoods import Bernoulli, Gaussian
from bayesphys.priors import HalfNormal, Normal

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, size=(20, 1))
Y = np.sin(X[:, 0]) + 0.1 * RNG.normal(size=20)
RNG_NOISE = np.random.default_rng(1)
QUICK = VI(chains=1, draws=5, steps=5)


@pytest.mark.filterwarnings("ignore:.*transitions after tuning diverged")
@pytest.mark.parametrize(
    "method", [QUICK, HMC(chains=1, draws=2, tune=5), NUTS(chains=1, draws=2, tune=5)]
)
@pytest.mark.parametrize("likelihood", [Gaussian(noise=0.0), Gaussian(variance=0.0)])
def test_zero_noise_without_y_err_is_named(likelihood, method):
    # Formerly a RuntimeError "warm start diverged; try smaller inputs": the closed-form
    # density divided by a zero variance and never reached the likelihood's own check.
    model = BayesianNeuralNetwork(hidden=(3,), likelihood=likelihood, method=method)
    with pytest.raises(ValueError, match="y_err"):
        model.fit(X, Y, progressbar=False)
    # With measurement errors the zero noise is meant: only y_err is in the variance.
    model.fit(X, Y, y_err=np.full(20, 0.1), progressbar=False)
    assert np.all(np.isfinite(model.predict(X)))


def _noise_prior_warnings(likelihood, y):
    model = BayesianNeuralNetwork(
        hidden=(3,), likelihood=likelihood, method=HMC(chains=2, draws=20, tune=60), random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, progressbar=False)
    return model, [w for w in caught if "tail of its prior" in str(w.message)]


def test_noise_prior_in_conflict_with_the_data_warns():
    # Noise 100 in y's units: the default HalfNormal(1) cannot reach it (P(sigma > 4.4) ~ 1e-5)
    # and held sigma near 1-30 without a word.
    y = 1000.0 * np.sin(X[:, 0]) + 100.0 * RNG_NOISE.normal(size=20)
    model, caught = _noise_prior_warnings(None, y)
    assert len(caught) == 1 and "HalfNormal(" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the user's fit call
    # What the warning is about: sigma held at ~15 (posterior sd 0.5) against ~70 below.
    assert model.idata_.posterior["sigma"].median() < 30
    # A prior on the scale of y, as the warning suggests: no conflict, no warning.
    model, caught = _noise_prior_warnings(Gaussian(noise=HalfNormal(1000.0)), y)
    assert not caught
    # Posterior median ~70, sd ~12 (a 3-unit network absorbs part of the noise of 20 points).
    assert 40 < model.idata_.posterior["sigma"].median() < 200


def test_no_noise_prior_warning_on_data_of_unit_scale():
    _, caught = _noise_prior_warnings(None, Y)
    assert not caught


def test_overflowing_noise_in_a_trajectory_is_rejected_quietly():
    # A diverging leapfrog step can take z = log(sigma) anywhere; exp(2 z) overflowing must
    # give lp = -inf (a rejection), not a numpy RuntimeWarning at the user.
    post = Posterior(
        Network(1, (3,), 1, "tanh"), Normal(0, 1), Gaussian(), torch.as_tensor(X), Y, None, 1.0
    )
    theta = torch.zeros((2, post.dim), dtype=torch.float64)
    theta[:, -1] = torch.tensor([0.0, 400.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, _ = post.value_and_grad(theta)
    assert np.isfinite(value[0].item()) and value[1].item() == -np.inf


def test_vi_divergence_names_the_learning_rate():
    # Formerly ValueError "Gaussian: f contains NaN or infinite values" from the draws.
    model = BayesianNeuralNetwork(
        hidden=(3,), method=VI(chains=2, draws=5, steps=20, learning_rate=1000.0), random_state=0
    )
    with pytest.raises(RuntimeError, match=r"vi diverged.*lower learning_rate"):
        model.fit(X, Y, progressbar=False)


def test_a_column_constant_but_for_rounding_is_not_a_feature():
    # 0.3 and 0.1 + 0.2 differ in the last bit; their spread (~4e-17) was the column's scale,
    # so the standardised column was +-1 and the prediction depended on that bit.
    almost = np.where(np.arange(20) % 2 == 0, 0.3, 0.1 + 0.2)
    model = BayesianNeuralNetwork(
        hidden=(3,), method=VI(chains=1, draws=10, steps=50), random_state=0
    ).fit(np.column_stack([X[:, 0], almost]), Y, progressbar=False)
    grid = np.linspace(-2, 2, 5)
    at_03 = model.predict(np.column_stack([grid, np.full(5, 0.3)]))
    at_sum = model.predict(np.column_stack([grid, np.full(5, 0.1 + 0.2)]))
    np.testing.assert_allclose(at_sum, at_03, rtol=0, atol=1e-12)


@pytest.mark.parametrize("labels", [np.array([0, 2]), np.array([False, True])], ids=["int", "bool"])
def test_class_labels_keep_their_dtype(labels):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 1))
    y = labels[(X[:, 0] > 0).astype(int)]
    net = BayesianNeuralNetwork(
        hidden=(3,), likelihood=Bernoulli(), method=VI(steps=50), random_state=0
    ).fit(X, y, progressbar=False)
    assert net.classes_.dtype == labels.dtype
    np.testing.assert_array_equal(net.classes_, labels)
    predicted = net.predict(X)
    assert predicted.dtype == labels.dtype
    assert np.bincount(predicted.astype(int)).sum() == len(X)
    assert set(predicted.tolist()) <= set(labels.tolist())


def test_hidden_widths_from_a_numpy_array():
    from bayesphys.bnn.network import check_hidden

    # e.g. a parameter grid built with numpy: np.array([10]) was a TypeError.
    assert check_hidden(np.array([10, 5])) == (10, 5)
    assert check_hidden(np.int64(7)) == (7,)
    with pytest.raises(ValueError, match="hidden"):
        check_hidden(np.array([2.5]))
    with pytest.raises(TypeError, match="hidden"):
        check_hidden(np.ones((2, 2), dtype=int))
