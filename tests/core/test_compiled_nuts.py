"""Tests of the compiled per-chain NUTS (bayesphys.core.samplers.compiled_nuts.CompiledNUTS).

Its draws are a different random stream from the torch kernel's, so it is checked
statistically (moments within Monte Carlo errors from the ESS), for the transition contract
(sample statistics, divergences, interrupts) and for falling back to the torch kernel
bit-for-bit where no compiled target is offered.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from bayesphys.core.samplers import NUTS, sample
from bayesphys.core.samplers.compiled_nuts import CompiledNUTS
from tests.core._targets import DT, CorrelatedGaussian, randn, std_normal_log_prob
from tests.core.test_nuts import check_moments

numba = pytest.importorskip("numba")
from bayesphys.core.samplers._numba_nuts import TARGET_SIGNATURE  # noqa: E402


@numba.njit(TARGET_SIGNATURE, cache=True)
def _gaussian(x, grad, fdata, idata):
    """``-(x - mu)^T P (x - mu) / 2``; fdata = [mu (d), P (d x d)], idata = [d, wall]: with
    wall = 1, ``-inf`` where ``x[0] > 1``."""
    d = idata[0]
    if idata[1] == 1 and x[0] > 1.0:
        for i in range(d):
            grad[i] = 0.0
        return -np.inf
    lp = 0.0
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += fdata[d + i * d + j] * (x[j] - fdata[j])
        grad[i] = -s
        lp -= 0.5 * (x[i] - fdata[i]) * s
    return lp


class CompiledGaussian(CorrelatedGaussian):
    """The correlated Gaussian of the torch tests, also offered as a compiled target."""

    def __init__(self, *args, wall: bool = False):
        super().__init__(*args)
        self.wall = wall
        fdata = np.concatenate([self.mu.numpy(), self.prec.numpy().ravel()])
        self.compiled_target = (_gaussian, fdata, np.array([2, int(wall)], dtype=np.int64))

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        lp = super().__call__(theta)
        return torch.where(theta[:, 0] > 1.0, -torch.inf, lp) if self.wall else lp


TARGET = CompiledGaussian((1.0, -2.0), (1.0, 10.0), 0.95)


@functools.cache
def compiled_run(chains: int = 8, draws: int = 600, tune: int = 300):
    init = TARGET.mu + 0.1 * randn(chains, 2, seed=1)
    return sample(
        TARGET, init, method=CompiledNUTS(), draws=draws, tune=tune, random_state=3,
        progressbar=False,
    )  # fmt: skip


def test_correlated_gaussian_moments_within_monte_carlo_error():
    result = compiled_run()
    draws = result.samples.numpy()
    check_moments(draws, TARGET.mu.numpy(), (TARGET.scales**2).numpy())
    x = draws.reshape(-1, 2)
    corr = np.corrcoef(x.T)[0, 1]
    assert abs(corr - TARGET.rho) < 0.02  # ~4.5 MC errors at this ESS
    # Correlation 0.95 in the adapted diagonal metric keeps trees several doublings deep.
    assert 2 <= float(result.tree_depth.float().mean()) <= 6
    assert 0.6 < float(result.accept_prob.mean()) < 0.95


def test_sample_stats_contract():
    result = compiled_run()
    stats = result.sample_stats()
    reference = sample(
        TARGET, randn(2, 2), method="nuts", draws=5, tune=5, random_state=0, progressbar=False
    ).sample_stats()
    assert set(stats) == set(reference)
    depth, steps = result.tree_depth, result.n_steps
    assert int(depth.max()) <= 10 and int(depth.min()) >= 0
    # A transition of d completed doublings took between 2**d - 1 and 2**(d+1) - 1 steps.
    assert bool(((steps >= 2**depth - 1) & (steps <= 2 ** (depth + 1) - 1)).all())
    assert bool(((result.accept_prob >= 0) & (result.accept_prob <= 1)).all())
    assert bool(torch.isfinite(torch.as_tensor(stats["energy"])).all())
    assert not bool(result.diverging.any())
    # The stored log densities are the target's at the stored draws.
    flat = result.samples.reshape(-1, 2)
    torch.testing.assert_close(result.log_prob.reshape(-1), TARGET(flat))


def test_max_treedepth_caps_trees():
    result = sample(
        TARGET, randn(2, 2), method=CompiledNUTS(max_treedepth=2), draws=50, tune=50,
        random_state=1, progressbar=False, compute_convergence_checks=False,
    )  # fmt: skip
    assert int(result.tree_depth.max()) == 2 and int(result.n_steps.max()) <= 3


def test_seeded_and_independent_of_threads():
    kw = {"draws": 30, "tune": 30, "random_state": 5, "progressbar": False}
    init = randn(5, 2, seed=2)
    one = sample(TARGET, init, method=CompiledNUTS(threads=1), **kw)
    three = sample(TARGET, init, method=CompiledNUTS(threads=3), **kw)
    other = sample(TARGET, init, method=CompiledNUTS(threads=1), **{**kw, "random_state": 6})
    assert torch.equal(one.samples, three.samples)
    assert torch.equal(one.tree_depth, three.tree_depth)
    assert not torch.equal(one.samples, other.samples)


def test_falls_back_to_the_torch_kernel_bit_for_bit():
    kw = {"draws": 20, "tune": 20, "random_state": 4, "progressbar": False}
    plain = CorrelatedGaussian((1.0, -2.0), (1.0, 10.0), 0.95)
    a = sample(plain, randn(3, 2), method=CompiledNUTS(), **kw)
    b = sample(plain, randn(3, 2), method=NUTS(), **kw)
    assert torch.equal(a.samples, b.samples) and torch.equal(a.tree_depth, b.tree_depth)
    # float32 chains, too, take the torch kernel.
    c = sample(TARGET, randn(3, 2).float(), method=CompiledNUTS(), **kw)
    d = sample(TARGET, randn(3, 2).float(), method=NUTS(), **kw)
    assert torch.equal(c.samples, d.samples)
    # ... while a compiled target gets its own random stream.
    e = sample(TARGET, randn(3, 2), method=CompiledNUTS(), **kw)
    f = sample(TARGET, randn(3, 2), method=NUTS(), **kw)
    assert not torch.equal(e.samples, f.samples)


def test_a_wall_is_never_crossed_and_flags_divergences():
    walled = CompiledGaussian((0.0, 0.0), (1.0, 1.0), 0.0, wall=True)
    result = sample(
        walled, torch.zeros(4, 2, dtype=DT), method=CompiledNUTS(), draws=300, tune=100,
        random_state=2, progressbar=False, compute_convergence_checks=False,
    )  # fmt: skip
    assert float(result.samples[..., 0].max()) <= 1.0
    assert bool(torch.isfinite(result.log_prob).all())
    assert int(result.diverging.sum()) > 0


def test_interrupt_keeps_completed_draws():
    calls = {"n": 0}

    class Interrupting(CompiledGaussian):
        def __call__(self, theta):
            calls["n"] += 1
            if calls["n"] > 60:
                raise KeyboardInterrupt
            return super().__call__(theta)

    target = Interrupting((0.0, 0.0), (1.0, 1.0), 0.0)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = sample(
            target, torch.zeros(2, 2, dtype=DT), method=CompiledNUTS(), draws=500, tune=20,
            random_state=0, progressbar=False,
        )  # fmt: skip
    assert result.interrupted and 0 < result.n_draws < 500
    assert result.tree_depth.shape == (2, result.n_draws)


def test_bad_threads_raise():
    with pytest.raises(ValueError, match="threads"):
        CompiledNUTS(threads=0)


def test_standard_normal_50d():
    class Std:
        compiled_target = (
            _gaussian,
            np.concatenate([np.zeros(50), np.eye(50).ravel()]),
            np.array([50, 0], dtype=np.int64),
        )

        def __call__(self, theta):
            return std_normal_log_prob(theta)

    result = sample(
        Std(), randn(4, 50), method=CompiledNUTS(), draws=300, tune=200, random_state=7,
        progressbar=False,
    )  # fmt: skip
    check_moments(result.samples.numpy(), np.zeros(50), np.ones(50))
