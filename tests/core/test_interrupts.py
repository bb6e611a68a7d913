"""The one interrupt policy in the core sampler: Ctrl-C (a ``KeyboardInterrupt`` raised by
``log_prob`` at a chosen call) returns the completed draws, marked, with one
``InterruptedRunWarning``, or re-raises when no draw is complete."""

from __future__ import annotations

import warnings

import pytest
import torch

from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted
from bayesphys.samplers import sample

DT = torch.float64
# Random-walk Metropolis evaluates log_prob once at the start of a group and once per step.
RWM = {"method": "rwm", "draws": 50, "tune": 20, "random_state": 1, "progressbar": False}


def normal(theta: torch.Tensor) -> torch.Tensor:
    return -0.5 * (theta**2).sum(-1)


class InterruptAt:
    """``normal`` that raises KeyboardInterrupt (as Ctrl-C would) at its ``k``-th call."""

    def __init__(self, k: int):
        self.k, self.calls = k, 0

    def __call__(self, theta):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return normal(theta)


def _init(chains: int = 4) -> torch.Tensor:
    return torch.randn(chains, 2, dtype=DT, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("k", [1, 2, 1 + RWM["tune"]])  # at init, in tuning, its last step
def test_interrupt_before_the_first_draw_reraises(k):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: nothing is returned
        with pytest.raises(KeyboardInterrupt):
            sample(InterruptAt(k), _init(), **RWM)


def test_interrupt_mid_draws_returns_the_completed_draws_marked():
    full = sample(normal, _init(), **RWM)
    assert not full.interrupted and full.progress is None
    assert not is_interrupted(full)
    with pytest.warns(InterruptedRunWarning, match="keeping 12 of 50 draws per chain") as rec:
        cut = sample(InterruptAt(1 + RWM["tune"] + 13), _init(), **RWM)
    assert len(rec) == 1  # one warning, not one per layer
    assert cut.interrupted and is_interrupted(cut)
    assert cut.progress == "12 of 50 draws per chain"
    assert cut.samples.shape == (4, 12, 2)
    # The draws made are those of the uninterrupted run.
    torch.testing.assert_close(cut.samples, full.samples[:, :12], rtol=0, atol=0)
    attrs = cut.to_inference_data().posterior.attrs
    assert attrs["interrupted"] == 1 and attrs["interrupted_progress"] == cut.progress
    assert "interrupted" not in full.to_inference_data().posterior.attrs
    assert "interrupted=True" in repr(cut)


def test_interrupt_mid_draws_of_nuts_is_marked():
    options = {"method": "nuts", "draws": 100, "tune": 100, "random_state": 0}
    counting = InterruptAt(0)  # never raises: counts the calls of a whole run
    full = sample(counting, _init(2), progressbar=False, **options)
    with pytest.warns(InterruptedRunWarning, match=r"sample\(method='nuts'\) interrupted"):
        cut = sample(InterruptAt(counting.calls * 9 // 10), _init(2), progressbar=False, **options)
    assert cut.interrupted and 0 < cut.n_draws < 100
    torch.testing.assert_close(cut.samples, full.samples[:, : cut.n_draws], rtol=0, atol=0)
    assert cut.tree_depth.shape == (2, cut.n_draws)
