"""Ctrl-C in linear NUTS (PyMC) follows the one interrupt policy (bayesphys.core.interrupts):
during tuning ``KeyboardInterrupt`` (formerly PyMC's ``ValueError: Not enough samples to build
a trace``), mid-draws the draws PyMC kept, marked (``interrupted_``, ``idata_`` attrs, one
``InterruptedRunWarning``). Ctrl-C is simulated by a PyMC sampling callback that raises
``KeyboardInterrupt`` from its k-th call on (PyMC calls it after each iteration, tuning
included, and runs the chains one after another with ``cores=1``)."""

from __future__ import annotations

import warnings

import numpy as np
import pymc
import pytest

from bayesphys import BayesianLinearRegression
from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.inference import NUTS

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 2))
Y = X @ np.array([1.0, -0.5]) + 0.3 * RNG.normal(size=20)
TUNE, DRAWS = 30, 40


def _fit(chains: int):
    method = NUTS(draws=DRAWS, tune=TUNE, chains=chains)
    return BayesianLinearRegression(method=method, random_state=1).fit(X, Y, progressbar=False)


def _interrupt_from(monkeypatch, k: int) -> None:
    """PyMC's ``sample`` on one core, with a callback raising from its k-th call on."""
    original = pymc.sample
    calls = {"n": 0}

    def callback(trace, draw):
        calls["n"] += 1
        if calls["n"] >= k:
            raise KeyboardInterrupt

    def sample(*args, **kwargs):
        return original(*args, cores=1, callback=callback, **kwargs)

    monkeypatch.setattr(pymc, "sample", sample)


def test_interrupt_during_tuning_reraises(monkeypatch):
    _interrupt_from(monkeypatch, TUNE // 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterruptedRunWarning)
        with pytest.raises(KeyboardInterrupt):
            _fit(chains=2)


def test_interrupt_mid_draws_keeps_them_marked(monkeypatch):
    full = _fit(chains=1)
    assert full.interrupted_ is False and "interrupted" not in full.idata_.posterior.attrs
    _interrupt_from(monkeypatch, TUNE + 25)  # 25 draws recorded, then Ctrl-C
    with pytest.warns(InterruptedRunWarning, match="keeping 25 of 40 draws per chain") as rec:
        cut = _fit(chains=1)
    assert len([w for w in rec if w.category is InterruptedRunWarning]) == 1
    assert cut.interrupted_ is True
    for group in ("posterior", "sample_stats", "log_likelihood", "posterior_predictive"):
        attrs = cut.idata_[group].attrs
        assert attrs["interrupted"] == 1
        assert attrs["interrupted_progress"] == "25 of 40 draws per chain"
    assert cut.idata_.posterior.sizes["draw"] == 25
    assert np.all(np.isfinite(cut.predict(X)))


def test_interrupt_that_costs_a_chain_says_so(monkeypatch):
    # The first chain stops at 25 draws and the second at its first tuning step: PyMC keeps
    # the first chain alone.
    _interrupt_from(monkeypatch, TUNE + 25)
    with pytest.warns(InterruptedRunWarning, match="keeping 1 of 2 chains, 25 of 40 draws"):
        cut = _fit(chains=2)
    sizes = cut.idata_.posterior.sizes
    assert cut.interrupted_ and (sizes["chain"], sizes["draw"]) == (1, 25)
