"""Chains on Dask: the core sampler, BNN and GP fits give the same draws wherever groups run."""

import numpy as np
import pytest
import torch

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.gp import GPRegression
from bayesphys.inference import HMC, NUTS
from bayesphys.priors import LogNormal
from bayesphys.samplers import sample

pytest.importorskip("dask.distributed")

from tests.distributed._cluster import killing_once

DT = torch.float64


def banana(theta: torch.Tensor) -> torch.Tensor:
    # A curved 2-D target: NUTS trees of varying depth, so chains do not move in lockstep.
    x, y = theta[..., 0], theta[..., 1]
    return -0.5 * x**2 - 0.5 * (y - 0.5 * x**2) ** 2 / 0.25


def _sample(client=None, **kwargs):
    init = torch.randn(4, 2, dtype=DT, generator=torch.Generator().manual_seed(0))
    options = {"method": "nuts", "draws": 60, "tune": 60, "random_state": 3, "progressbar": False}
    return sample(banana, init, client=client, **(options | kwargs))


def _assert_same_run(a, b):
    for name in ["samples", "log_prob", "step_size", "inv_mass", "n_steps", "tree_depth", "energy"]:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_sampler_chains_on_workers_are_the_in_process_groups(client):
    # Default with a client: one group per chain, i.e. chain_groups=4 in-process.
    _assert_same_run(_sample(client), _sample(chain_groups=4))
    _assert_same_run(_sample(client, chain_groups=2), _sample(chain_groups=2))


def test_sampler_survives_a_killed_worker(client, tmp_path):
    reference = _sample(chain_groups=4)
    with killing_once(client, tmp_path, "sample-nuts", "-2"):
        result = _sample(client)
    _assert_same_run(result, reference)


def _bnn_fit(client=None, chain_groups=None):
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(20, 1))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=20)
    method = HMC(chains=2, draws=20, tune=30, chain_groups=chain_groups)
    model = BayesianNeuralNetwork(hidden=(3,), method=method, random_state=5)
    return model.fit(X, y, progressbar=False, client=client)


def test_bnn_chains_on_workers_are_the_in_process_groups(client):
    local = _bnn_fit(chain_groups=2)
    remote = _bnn_fit(client)
    for group in ["posterior", "sample_stats", "log_likelihood"]:
        for name, values in getattr(local.idata_, group).items():
            np.testing.assert_array_equal(getattr(remote.idata_, group)[name], values)
    np.testing.assert_array_equal(remote.predict([[0.3]]), local.predict([[0.3]]))
    # One group in lockstep is the former (and in-process default) fit.
    lockstep = _bnn_fit(client, chain_groups=1)
    np.testing.assert_array_equal(lockstep.predict([[0.3]]), _bnn_fit().predict([[0.3]]))


def _gp_fit(client=None, chain_groups=None, progressbar=False):
    rng = np.random.default_rng(2)
    X = rng.uniform(-3, 3, size=(40, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=40)
    priors = {"lengthscale": LogNormal(0.0, 1.0), "outputscale": LogNormal(0.0, 1.0)}
    method = NUTS(chains=2, draws=25, tune=50, chain_groups=chain_groups)  # with pilot draws
    model = GPRegression(priors=priors, noise=LogNormal(-2.0, 1.0), method=method, random_state=4)
    return model.fit(X, y, progressbar=progressbar, client=client)


def _assert_same_gp_fit(a, b):
    for group in ["posterior", "sample_stats", "log_likelihood", "posterior_predictive"]:
        for name, values in getattr(a.idata_, group).items():
            np.testing.assert_array_equal(getattr(b.idata_, group)[name], values, err_msg=name)
    np.testing.assert_array_equal(a.predict([[0.3]], return_std=True), b.predict([[0.3]], True))


def test_gp_nuts_chains_on_workers_are_the_in_process_groups(client, capsys):
    # Default with a client: one group per chain. n = 40 runs one lockstep group in-process.
    _assert_same_gp_fit(_gp_fit(client, progressbar=True), _gp_fit(chain_groups=2))
    assert "GP NUTS chain groups (draws)" in capsys.readouterr().err
    _assert_same_gp_fit(_gp_fit(client, chain_groups=1), _gp_fit())


def test_gp_nuts_survives_a_killed_worker(client, tmp_path):
    reference = _gp_fit(chain_groups=2)
    with killing_once(client, tmp_path, "gp-nuts-draws", "-1"):
        result = _gp_fit(client)
    _assert_same_gp_fit(result, reference)
