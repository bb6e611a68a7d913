"""Ctrl-C in a BNN fit follows the one interrupt policy: a run with completed draws (or, for
VI, completed optimisation steps) returns them marked (``interrupted_``, ``idata_.attrs``,
one ``InterruptedRunWarning`` naming how far it got); one with nothing re-raises
``KeyboardInterrupt`` (formerly a raw RuntimeError)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesphys.bnn import BayesianNeuralNetwork, posterior
from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted
from bayesphys.inference import HMC, NUTS, SGHMC, VI
from tests._interrupt import interrupt_at

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, size=(30, 1))
Y = np.sin(X[:, 0]) + 0.1 * RNG.normal(size=30)
FULL = {
    "nuts": NUTS(draws=30, tune=20, chains=2, max_treedepth=4),
    "hmc": HMC(draws=30, tune=20, chains=2, n_leapfrog=4),
}
# Warm start: min(300, max(burn-in or steps, 20)) minibatch evaluations before the run.
SGHMC_ = SGHMC(burn_in=20, draws=15, thin=2, batch_size=10, chains=2)
VI_ = VI(steps=30, draws=10, batch_size=10, chains=2)


def _fit(method, **kwargs):
    net = BayesianNeuralNetwork(hidden=(3,), method=method, random_state=2, **kwargs)
    return net.fit(X, Y, progressbar=False)


def _owner(name: str) -> type:
    # HMC/NUTS evaluate the full-batch target's value_and_grad (no autograd around it); the
    # minibatch methods call the posterior itself.
    return posterior.FullBatchTarget if name == "value_and_grad" else posterior.Posterior


def _interrupt_at(monkeypatch, name: str, k: int) -> None:
    interrupt_at(monkeypatch, _owner(name), name, k)


def _count_calls(monkeypatch, name: str, method) -> int:
    """Calls of ``<owner>.<name>`` in an uninterrupted fit."""
    with monkeypatch.context() as counting:
        calls = interrupt_at(counting, _owner(name), name, 0)
        _fit(method)
    return calls["n"]


def _assert_marked(net, progress: str) -> None:
    assert net.interrupted_ is True and is_interrupted(net)
    # On the attrs of every group (is_interrupted(idata_) should say so too, but arviz's
    # InferenceData is a Mapping, which core/interrupts.is_interrupted reads as attrs).
    for group in net.idata_.groups():
        assert net.idata_[group].attrs["interrupted"] == 1
        assert net.idata_[group].attrs["interrupted_progress"] == progress


@pytest.mark.parametrize("name", ["nuts", "hmc"])
def test_full_batch_interrupt_in_tuning_reraises(monkeypatch, name):
    # Call 1 is the sampler's start, then leapfrog steps of the first tuning transitions.
    _interrupt_at(monkeypatch, "value_and_grad", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterruptedRunWarning)
        with pytest.raises(KeyboardInterrupt):  # was: RuntimeError("... before the first draw")
            _fit(FULL[name])


@pytest.mark.parametrize("name", ["nuts", "hmc"])
def test_full_batch_interrupt_mid_draws_is_marked(monkeypatch, name):
    full = _fit(FULL[name])
    assert full.interrupted_ is False and "interrupted" not in full.idata_.posterior.attrs
    total = _count_calls(monkeypatch, "value_and_grad", FULL[name])
    _interrupt_at(monkeypatch, "value_and_grad", total - 3)
    with pytest.warns(InterruptedRunWarning, match=r"of 30 draws per chain") as rec:
        cut = _fit(FULL[name])
    assert len([w for w in rec if w.category is InterruptedRunWarning]) == 1
    kept = cut.idata_.posterior.sizes["draw"]
    assert 0 < kept < 30 and cut.idata_.posterior.sizes["chain"] == 2
    _assert_marked(cut, f"{kept} of 30 draws per chain")
    # The draws made are those of the uninterrupted run.
    np.testing.assert_array_equal(cut._theta, full._theta[:, :kept])


def test_sghmc_interrupts(monkeypatch):
    warm = 20  # warm start evaluations
    _interrupt_at(monkeypatch, "minibatch_log_prob", warm + 5)  # in the burn-in
    with pytest.raises(KeyboardInterrupt):  # was: RuntimeError
        _fit(SGHMC_)
    full = _fit_without_patch(monkeypatch, SGHMC_)
    # After burn-in and 7 kept draws (one every thin = 2 steps).
    _interrupt_at(monkeypatch, "minibatch_log_prob", warm + 20 + 2 * 7 + 1)
    with pytest.warns(InterruptedRunWarning, match="keeping 7 of 15 draws per chain"):
        cut = _fit(SGHMC_)
    _assert_marked(cut, "7 of 15 draws per chain")
    np.testing.assert_array_equal(cut._theta, full._theta[:, :7])


def test_vi_interrupts(monkeypatch):
    warm = 30
    _interrupt_at(monkeypatch, "minibatch_log_prob", warm + 1)  # before the first VI step
    with pytest.raises(KeyboardInterrupt):
        _fit(VI_)
    _interrupt_at(monkeypatch, "minibatch_log_prob", warm + 6)
    with pytest.warns(InterruptedRunWarning, match="the draws of q after 5 of 30 steps"):
        cut = _fit(VI_)
    _assert_marked(cut, "the draws of q after 5 of 30 steps")
    assert cut.idata_.posterior.sizes["draw"] == 10  # draws of the current q
    assert cut.idata_.posterior.attrs["optimisation_steps"] == 5


def _fit_without_patch(monkeypatch, method):
    monkeypatch.undo()
    return _fit(method)
