"""The default BNN NUTS path: the compiled closed-form density (against autograd) and the
compiled per-chain NUTS (against the torch kernel, within Monte Carlo error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesphys import results
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.bnn.inference import nuts as bnn_nuts
from bayesphys.bnn.network import Network
from bayesphys.bnn.posterior import FullBatchTarget, Posterior
from bayesphys.core.likelihoods import Gaussian, StudentT
from bayesphys.core.samplers.compiled_nuts import CompiledNUTS
from bayesphys.inference import NUTS
from bayesphys.priors import (
    Exponential,
    Gamma,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    Laplace,
    LogNormal,
    Normal,
)

pytest.importorskip("numba")
from bayesphys.bnn._numba_target import _tanh_inplace, compiled_target

LIKELIHOODS = [
    (Gaussian(), None),
    (Gaussian(noise=HalfNormal(0.4)), "y_err"),
    (Gaussian(variance=InverseGamma(2.0, 1.0)), None),
    (Gaussian(noise=0.3), None),
    (Gaussian(variance=0.2), "y_err"),
    (Gaussian(noise=HalfCauchy(0.5)), None),
    (Gaussian(noise=Gamma(2.0, 3.0)), "y_err"),
    (Gaussian(variance=LogNormal(0.0, 1.0)), None),
    (Gaussian(noise=Exponential(2.0)), None),
]


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "softplus"])
@pytest.mark.parametrize("hidden, n_in", [((6,), 1), ((6,), 2), ((5, 4), 2)])
@pytest.mark.parametrize("likelihood, y_err", LIKELIHOODS, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("prior", [Normal(0, 1), Normal(0.3, 2.0)], ids=["std", "shifted"])
def test_compiled_density_and_gradient_equal_autograd(
    activation, hidden, n_in, likelihood, y_err, prior
):
    rng = np.random.default_rng(2)
    n = 30
    net = Network(n_in, hidden, 1, activation)
    x = torch.as_tensor(rng.normal(size=(n, n_in)))
    errors = None if y_err is None else rng.uniform(0.05, 0.2, n)
    post = Posterior(net, prior, likelihood, x, rng.normal(size=n), errors, 1.7)
    function, fdata, idata = compiled_target(post)
    theta = torch.randn(
        4, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    t = theta.clone().requires_grad_(True)
    reference = post.log_prob_autograd(t)
    (ref_grad,) = torch.autograd.grad(reference.sum(), t)
    for chain in range(4):
        grad = np.empty(post.dim)
        value = function(theta[chain].numpy().copy(), grad, fdata, idata)
        np.testing.assert_allclose(value, float(reference[chain]), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(grad, ref_grad[chain].numpy(), rtol=1e-10, atol=1e-10)


def test_vectorised_tanh_is_accurate():
    a = np.concatenate([np.linspace(-30, 30, 20001), np.logspace(-15, 1.5, 500)])
    a = np.concatenate([a, -a])
    h = a.copy()
    _tanh_inplace(h, np.empty(len(a), dtype=np.int64))
    np.testing.assert_allclose(h, np.tanh(a), rtol=0, atol=4e-16)


def _post(weight_prior, likelihood) -> Posterior:
    x = torch.zeros((5, 1), dtype=torch.float64)
    return Posterior(
        Network(1, (3,), 1, "tanh"), weight_prior, likelihood, x, np.zeros(5), None, 1.0
    )


def test_compiled_target_only_where_the_closed_form_applies():
    assert FullBatchTarget(_post(Normal(0, 1), Gaussian())).compiled_target is not None
    assert FullBatchTarget(_post(Laplace(0, 1), Gaussian())).compiled_target is None
    assert FullBatchTarget(_post("hierarchical", Gaussian())).compiled_target is None
    assert FullBatchTarget(_post(Normal(0, 1), StudentT(noise=0.3))).compiled_target is None


def test_default_nuts_is_the_compiled_kernel(monkeypatch):
    kernels = []
    original = bnn_nuts.sample_full_batch

    def spy(post, init, kernel, **kwargs):
        kernels.append(kernel)
        return original(post, init, kernel, **kwargs)

    monkeypatch.setattr(bnn_nuts, "sample_full_batch", spy)
    X, y = _data()
    BayesianNeuralNetwork(hidden=(3,), method=NUTS(draws=5, tune=5, chains=2)).fit(
        X, y, progressbar=False
    )
    assert len(kernels) == 1 and isinstance(kernels[0], CompiledNUTS)
    assert kernels[0].max_treedepth == 10


def _data():
    rng = np.random.default_rng(7)
    X = rng.uniform(-2, 2, size=(20, 1))
    return X, np.tanh(1.5 * X[:, 0]) + 0.2 * rng.normal(size=20)


def _moments(model, X_new):
    f = model.sample_posterior_predictive(X_new, random_state=0).posterior_predictive["f"].values
    mean, std = f.mean(axis=(0, 1)), f.std(axis=(0, 1))
    return mean, std, results.mcse(f), std / np.sqrt(2 * results.ess(f, method="sd")), f


@pytest.mark.slow  # ~15 s quiet, most of it the torch kernel
def test_predictive_agrees_with_the_torch_kernel(monkeypatch):
    X, y = _data()
    X_new = np.array([[-2.5], [-1.0], [0.0], [1.0], [2.5]])
    method = NUTS(chains=4, tune=300, draws=300)

    def fit(seed):
        return BayesianNeuralNetwork(hidden=(3,), method=method, random_state=seed).fit(
            X, y, progressbar=False
        )

    compiled = fit(1)
    with monkeypatch.context() as m:  # no compiled target: the torch lockstep kernel
        m.setattr(FullBatchTarget, "compiled_target", None)
        torch_fit = fit(2)
    m1, s1, e_m1, e_s1, f1 = _moments(compiled, X_new)
    m2, s2, e_m2, e_s2, _ = _moments(torch_fit, X_new)
    # 4 combined MCSEs: a false alarm rate of ~1e-4 per point if both runs are exact.
    np.testing.assert_array_less(np.abs(m1 - m2), 4 * np.hypot(e_m1, e_m2))
    np.testing.assert_array_less(np.abs(s1 - s2), 4 * np.hypot(e_s1, e_s2))
    assert results.rhat(f1).max() < 1.05
    stats = compiled.idata_.sample_stats
    assert {"tree_depth", "n_steps", "energy", "reached_max_treedepth"} <= set(stats.data_vars)
