"""Ctrl-C during the residual fits stops them, and the average says it is partial.

A sampler stopped by Ctrl-C returns its draws so far, marked, instead of raising
(core/interrupts.py). Before, ``fit`` then started the next residual fit (Ctrl-C stopped one
fit of dozens: 48 in the full flagship) and returned an average that was not marked.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from bayesphys.bma import MassModelAveraging
from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted

CALLS: list[int] = []


class StopsAtCall(BaseEstimator):
    """A residual model (no correction, sd 0.5) whose ``stop_at``-th fit is interrupted."""

    def __init__(self, stop_at=None, random_state=None):
        self.stop_at = stop_at
        self.random_state = random_state

    def fit(self, X, y, y_err=None, progressbar=False):
        CALLS.append(len(X))
        self.interrupted_ = len(CALLS) == self.stop_at
        return self

    def predict(self, X, return_std=False, include_noise=False):
        mean = np.zeros(len(X))
        return (mean, np.full(len(X), 0.5)) if return_std else mean


# Three nuclei in each parity class (Z = 20-21, N = 20-25): four fits per model.
TRAIN = pd.DataFrame(
    [(z, n, 10.0 - 0.5 * (n - 20)) for z in (20, 21) for n in range(20, 26)],
    columns=["Z", "N", "S2n"],
)
MODELS = {"A": TRAIN, "B": TRAIN.assign(S2n=TRAIN["S2n"] + 0.1)}


def _fit(stop_at):
    CALLS.clear()
    bma = MassModelAveraging(MODELS, residual_model=StopsAtCall(stop_at), weights="uniform")
    return bma.fit(TRAIN)


def test_complete_fits_are_not_marked():
    bma = _fit(stop_at=None)
    assert len(CALLS) == 8
    assert bma.interrupted_ is False and not is_interrupted(bma.idata_)


def test_fits_stop_at_ctrl_c_and_the_average_is_marked():
    with pytest.warns(InterruptedRunWarning, match="5 of 8 residual fits complete, 1 stopped"):
        bma = _fit(stop_at=6)  # the second fit of model B
    assert len(CALLS) == 6, "no fit starts after the interrupted one"
    assert list(bma.weights_.index) == ["A"]  # B has classes that were never fitted
    assert bma.interrupted_ is True and is_interrupted(bma.idata_)
    assert is_interrupted(bma.reweighted("uniform").idata_)


def test_ctrl_c_in_the_first_model_leaves_nothing_to_average():
    with pytest.raises(KeyboardInterrupt):
        _fit(stop_at=2)
    assert len(CALLS) == 2
