"""HMC on a tiny network agrees with a much longer reference run, within Monte Carlo error."""

import numpy as np
import pytest

from bayesphys import results
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.inference import HMC, NUTS

RNG = np.random.default_rng(7)
X = RNG.uniform(-2, 2, size=(20, 1))
Y = np.tanh(1.5 * X[:, 0]) + 0.2 * RNG.normal(size=20)
X_NEW = np.array([[-2.5], [-1.0], [0.0], [1.0], [2.5]])


def _f_draws(model):
    return model.sample_posterior_predictive(X_NEW, random_state=0).posterior_predictive["f"].values


def _moments_and_errors(f):
    """Mean, std and their MCSEs (std: normal approximation ``sd / sqrt(2 ESS_sd)``)."""
    mean, std = f.mean(axis=(0, 1)), f.std(axis=(0, 1))
    return mean, std, results.mcse(f), std / np.sqrt(2 * results.ess(f, method="sd"))


@pytest.fixture(scope="module")
def reference():
    model = BayesianNeuralNetwork(
        hidden=(3,), method=HMC(chains=8, tune=300, draws=1000), random_state=99
    )
    model.fit(X, Y, progressbar=False)
    return _moments_and_errors(_f_draws(model))


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [
        HMC(chains=4, tune=300, draws=250),
        NUTS(chains=4, tune=300, draws=250, max_treedepth=7),
        NUTS(chains=4, tune=300, draws=250),
    ],
    ids=["hmc", "nuts-depth7", "nuts-default"],
)
def test_agrees_with_long_reference_run(method, reference):
    short = BayesianNeuralNetwork(hidden=(3,), method=method, random_state=1)
    short.fit(X, Y, progressbar=False)
    m1, s1, e_m1, e_s1 = _moments_and_errors(_f_draws(short))
    m2, s2, e_m2, e_s2 = reference
    # 4 combined MCSEs: a false alarm rate of ~1e-4 per point if both runs are exact.
    np.testing.assert_array_less(np.abs(m1 - m2), 4 * np.hypot(e_m1, e_m2))
    np.testing.assert_array_less(np.abs(s1 - s2), 4 * np.hypot(e_s1, e_s2))
    assert results.rhat(_f_draws(short)).max() < 1.05
