"""Ctrl-C in a GP fit follows the one interrupt policy (bayesphys.core.interrupts): NUTS and
SVGP return what they completed, marked (``interrupted_``, ``idata_`` attrs, one
``InterruptedRunWarning``), or re-raise ``KeyboardInterrupt`` when nothing is complete.
Ctrl-C is simulated by a density evaluation or training step that raises at its k-th call."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.gp import GPRegression
from bayesphys.gp.inference import nuts_target, svgp
from bayesphys.inference import NUTS, SVGP
from tests._interrupt import interrupt_at

RNG = np.random.default_rng(5)
X = RNG.uniform(0, 4, size=(25, 1))
Y = np.sin(2 * X[:, 0]) + 0.2 * RNG.normal(size=25)
# tune = 50: 20 NUTS iterations under the Laplace whitening, 15 pilot draws, then 15 more.
NUTS_ = NUTS(draws=20, tune=50, chains=2)


def _nuts(method=NUTS_):
    return GPRegression(ard=False, method=method, random_state=4).fit(X, Y, progressbar=False)


def _marked(gp, progress: str) -> None:
    assert gp.interrupted_ is True
    for group in gp.idata_.groups():
        assert gp.idata_[group].attrs["interrupted"] == 1
        assert gp.idata_[group].attrs["interrupted_progress"] == progress


@pytest.mark.parametrize("k", [1, 30], ids=["at the start", "during tuning"])
def test_nuts_interrupt_before_the_first_draw_reraises(monkeypatch, k):
    interrupt_at(monkeypatch, nuts_target.ChainDensity, "evaluate", k)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterruptedRunWarning)
        with pytest.raises(KeyboardInterrupt):
            _nuts()


def _per_density(monkeypatch, stop: tuple[int, int] | None = None) -> list[int]:
    """Count the evaluations of each ChainDensity (in order of their first evaluation: the
    starting points', the pilot run's, the final run's); ``stop = (i, k)``: raise
    KeyboardInterrupt at the k-th evaluation of the i-th."""
    original = nuts_target.ChainDensity.evaluate
    order: list[int] = []
    counts: list[int] = []

    def patched(self, *args, **kwargs):
        if id(self) not in order:
            order.append(id(self))
            counts.append(0)
        i = order.index(id(self))
        counts[i] += 1
        if stop is not None and (i, counts[i]) == stop:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nuts_target.ChainDensity, "evaluate", patched)
    return counts


def test_nuts_interrupt_in_the_pilot_draws_reraises(monkeypatch):
    # The pilot draws are tuning (they set the whitening): formerly they were returned, marked
    # by nothing but a warning, as if they were posterior draws.
    counts = _per_density(monkeypatch)
    _nuts()
    monkeypatch.undo()
    _per_density(monkeypatch, stop=(1, counts[1] - 3))  # late in the pilot run: its draws
    with pytest.raises(KeyboardInterrupt):
        _nuts()


def test_nuts_interrupt_mid_draws_keeps_them_marked(monkeypatch):
    full = _nuts()
    assert full.interrupted_ is False and "interrupted" not in full.idata_.posterior.attrs
    calls = interrupt_at(monkeypatch, nuts_target.ChainDensity, "evaluate", 0)
    _nuts()
    total = calls["n"]
    monkeypatch.undo()
    interrupt_at(monkeypatch, nuts_target.ChainDensity, "evaluate", total - 10)
    with pytest.warns(InterruptedRunWarning, match=r"of 20 draws per chain") as rec:
        cut = _nuts()
    assert len([w for w in rec if w.category is InterruptedRunWarning]) == 1
    kept = cut.idata_.posterior.sizes["draw"]
    assert 0 < kept < 20 and cut.idata_.posterior.sizes["chain"] == 2
    _marked(cut, f"{kept} of 20 draws per chain")
    for name, value in cut.idata_.posterior.items():
        np.testing.assert_array_equal(value.values, full.idata_.posterior[name].values[:, :kept])
    assert cut.idata_.log_likelihood["y"].shape == (2, kept, 25)


def test_svgp_interrupts(monkeypatch):
    method = SVGP(steps=40, n_inducing=8, batch_size=10)
    interrupt_at(monkeypatch, svgp.SVGP, "step", 1)
    with pytest.raises(KeyboardInterrupt):  # no step done: nothing to keep
        GPRegression(method=method, random_state=3).fit(X, Y, progressbar=False)
    monkeypatch.undo()
    full = GPRegression(method=method, random_state=3).fit(X, Y, progressbar=False)
    assert full.interrupted_ is False and "interrupted" not in full.idata_.posterior.attrs
    interrupt_at(monkeypatch, svgp.SVGP, "step", 8)
    with pytest.warns(InterruptedRunWarning, match="keeping the state after 7 of 40 steps"):
        cut = GPRegression(method=method, random_state=3).fit(X, Y, progressbar=False)
    _marked(cut, "the state after 7 of 40 steps")
    assert np.all(np.isfinite(cut.predict(X)))
