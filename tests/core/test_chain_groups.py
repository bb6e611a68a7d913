"""``sample(chain_groups=...)``: chains split into independently seeded, independently tuned
groups, the unit that runs as one Dask task (tests/distributed/test_chains.py runs them there)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesphys.core.distributed import spawn_seeds
from bayesphys.samplers import SamplerResult, sample

DT = torch.float64
SCALES = torch.tensor([0.5, 2.0], dtype=DT)


def scaled_normal(theta: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((theta / SCALES) ** 2).sum(-1)


def _init(chains: int = 5) -> torch.Tensor:
    return torch.randn(chains, 2, dtype=DT, generator=torch.Generator().manual_seed(3))


def _run(init, **kwargs):
    options = {"method": "nuts", "draws": 150, "tune": 150, "random_state": 4, "progressbar": False}
    return sample(scaled_normal, init, **(options | kwargs))


def test_each_group_is_an_independent_run_with_a_spawned_seed():
    init = _init()
    grouped = _run(init, chain_groups=2)
    seeds = spawn_seeds(4, 2)
    first = _run(init[:3], random_state=seeds[0])  # sizes 3 + 2: larger groups first
    second = _run(init[3:], random_state=seeds[1])
    names = ["samples", "log_prob", "accept_prob", "step_size", "n_steps", "tree_depth", "energy"]
    for name in names:
        expected = torch.cat([getattr(first, name), getattr(second, name)])
        assert torch.equal(getattr(grouped, name), expected), name
    # Each group adapted its own metric: one row per chain.
    assert grouped.inv_mass.shape == (5, 2)
    assert torch.equal(grouped.inv_mass[:3], first.inv_mass.expand(3, 2))
    assert torch.equal(grouped.inv_mass[3:], second.inv_mass.expand(2, 2))
    # Both groups learned the scales of the target (variance 0.25 and 4).
    ratio = grouped.inv_mass / SCALES**2
    assert bool(((ratio > 0.5) & (ratio < 2.0)).all())
    idata = grouped.to_inference_data(names=["a", "b"])
    assert idata.posterior.sizes["chain"] == 5


def test_one_group_is_the_lockstep_run_and_groups_change_the_draws():
    init = _init()
    lockstep = _run(init)
    assert torch.equal(_run(init, chain_groups=1).samples, lockstep.samples)
    assert lockstep.inv_mass.shape == (2,)
    per_chain = _run(init, chain_groups=5)
    assert not torch.equal(per_chain.samples, lockstep.samples)
    # Same target: the pooled means agree within Monte Carlo error (sd 0.5 and 2, ~750 draws).
    diff = (per_chain.samples.mean((0, 1)) - lockstep.samples.mean((0, 1))).abs()
    assert bool((diff < 5 * SCALES * (2 / 750) ** 0.5).all())


def test_a_torch_generator_seed_roots_the_groups():
    init = _init(4)
    a = _run(init, chain_groups=2, random_state=torch.Generator().manual_seed(9))
    b = _run(init, chain_groups=2, random_state=torch.Generator().manual_seed(9))
    assert torch.equal(a.samples, b.samples)


def test_a_numpy_generator_or_seed_sequence_seeds_the_run():
    init = _init(4)
    for groups in (1, 2):
        a = _run(init, chain_groups=groups, random_state=np.random.default_rng(9))
        b = _run(init, chain_groups=groups, random_state=np.random.default_rng(9))
        c = _run(init, chain_groups=groups, random_state=np.random.SeedSequence(9))
        d = _run(init, chain_groups=groups, random_state=np.random.SeedSequence(9))
        assert torch.equal(a.samples, b.samples) and torch.equal(c.samples, d.samples)
        assert not torch.equal(a.samples, c.samples)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize(
    ("random_state", "error"), [(-1, ValueError), ("7", TypeError), (1.5, TypeError)]
)
def test_bad_random_state_is_named(groups, random_state, error):
    # The same message whether the seed is used directly (one group) or spawned from.
    with pytest.raises(error, match="random_state"):
        _run(_init(), chain_groups=groups, random_state=random_state)


@pytest.mark.parametrize(
    ("groups", "error", "match"),
    [(0, ValueError, "chain_groups"), (6, ValueError, "exceeds"), (1.5, TypeError, "chain")],
)
def test_bad_chain_groups(groups, error, match):
    with pytest.raises(error, match=match):
        _run(_init(), chain_groups=groups)


def test_bad_client():
    with pytest.raises(TypeError, match="client"):
        _run(_init(), client="tcp://127.0.0.1:8786")


class InterruptAfter:
    """``scaled_normal`` that raises KeyboardInterrupt (as Ctrl-C would) after ``n`` calls."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self, theta):
        self.calls += 1
        if self.calls > self.n:
            raise KeyboardInterrupt
        return scaled_normal(theta)


def test_interrupt_keeps_the_groups_that_finished():
    rwm = {"method": "rwm", "draws": 50, "tune": 50, "random_state": 1, "progressbar": False}
    # One rwm transition is one log_prob call (plus one at the start of each group).
    log_prob = InterruptAfter(2 * 101 + 30)
    with pytest.warns(RuntimeWarning, match=r"keeping 4 of 6 chains \(2 of 3 chain groups\)"):
        result = sample(log_prob, _init(6), chain_groups=3, **rwm)
    assert result.samples.shape == (4, 50, 2) and result.interrupted
    # Interrupted in the first group: its partial draws are all there is.
    with pytest.warns(RuntimeWarning, match="interrupted"):
        partial = sample(InterruptAfter(80), _init(6), chain_groups=3, **rwm)
    assert partial.n_chains == 2 and partial.n_draws == 29 and partial.interrupted


def test_concatenate_rejects_mismatched_runs():
    a = _run(_init(2))
    b = _run(_init(2), draws=100)
    with pytest.raises(ValueError, match="differ"):
        SamplerResult.concatenate([a, b])
