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


@pytest.mark.parametrize(
    ("limit", "chains", "pool_threads"), [(1, 4, []), (2, 4, [1]), (3, 2, [1])]
)
def test_default_threads_follow_the_thread_limiter(monkeypatch, limit, chains, pool_threads):
    """Without ``threads``, a step runs on the limiter's (torch's) thread count, at most one
    per chain: chain groups held to one thread each start no pool of their own."""
    from bayesphys.core.samplers import compiled_nuts
    from bayesphys.core.threads import torch_threads

    requested = []
    original = compiled_nuts._pool

    def spy(threads):
        requested.append(threads)
        return original(threads)

    monkeypatch.setattr(compiled_nuts, "_pool", spy)
    with torch_threads(limit, blas=False):
        sample(
            TARGET, randn(chains, 2), method=CompiledNUTS(), draws=3, tune=2, random_state=0,
            progressbar=False, compute_convergence_checks=False,
        )  # fmt: skip
    # The pool holds the threads beside the calling one.
    assert set(requested) == set(pool_threads)


def test_polar_normals_are_standard_normal():
    """The momenta's normals (core._numba_random.fill_normals_polar), odd length included."""
    from scipy import stats

    from bayesphys.core._numba_random import fill_normals_polar

    @numba.njit
    def draw(n, seed):
        out, state = np.empty(n), np.uint64(seed)
        rows = np.empty(3)
        for i in range(0, n, 3):
            state = fill_normals_polar(rows, state)
            out[i : i + 3] = rows
        return out

    x = draw(600_000, 99)
    n = x.size
    assert stats.kstest(x, "norm").pvalue > 1e-3
    assert abs(x.mean()) < 5 / np.sqrt(n) and abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    # The odd row's last entry (the pair's first half) is as normal as the rest.
    assert stats.kstest(x[2::3], "norm").pvalue > 1e-3


@numba.njit(TARGET_SIGNATURE, cache=True)
def _funnel(x, grad, fdata, idata):
    """Neal's funnel in 2-D: ``v ~ N(0, 3^2)``, ``z | v ~ N(0, e^v)``."""
    v, z = x[0], x[1]
    scale = np.exp(-v)
    grad[0] = -v / 9.0 + 0.5 * z * z * scale - 0.5
    grad[1] = -z * scale
    return -v * v / 18.0 - 0.5 * z * z * scale - 0.5 * v


class Funnel:
    compiled_target = (_funnel, np.zeros(1), np.zeros(1, dtype=np.int64))

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        v, z = theta[:, 0], theta[:, 1]
        return -v * v / 18.0 - 0.5 * z * z * torch.exp(-v) - 0.5 * v


def _per_chain_stats(result) -> dict[str, np.ndarray]:
    return {
        "step_size": np.asarray(result.sample_stats()["step_size"])[:, -1],
        "accept_prob": result.accept_prob.numpy().mean(1),
        "diverging": result.diverging.numpy().mean(1),
        "n_steps": result.n_steps.numpy().mean(1),
    }


def test_adaptation_and_divergences_agree_with_the_torch_kernel():
    """On a funnel (divergent transitions, step sizes that differ from chain to chain), the
    per-chain adapted step size, mean acceptance statistic, divergence rate and path length
    of the compiled kernel match the torch kernel's: a difference in the adaptation statistic
    (e.g. how a divergent or early-stopped transition counts) moves the step sizes. The
    metric is held fixed so that the chains are independent and the spread over chains gives
    the tolerance (5 combined standard errors)."""
    chains = 64
    kw = {
        "draws": 200, "tune": 300, "random_state": 11, "progressbar": False,
        "compute_convergence_checks": False,
    }  # fmt: skip
    init = 0.1 * randn(chains, 2, seed=1)
    ours = _per_chain_stats(
        sample(Funnel(), init, method=CompiledNUTS(max_treedepth=6, adapt_mass=False), **kw)
    )
    ref = _per_chain_stats(
        sample(Funnel(), init, method=NUTS(max_treedepth=6, adapt_mass=False), **kw)
    )
    assert ref["diverging"].mean() > 0.02  # the check needs divergences to bite
    for name in ours:
        a, b = ours[name], ref[name]
        error = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(chains)
        assert abs(a.mean() - b.mean()) < 5 * error, (name, a.mean(), b.mean(), error)


def test_statistics_of_divergent_transitions_agree_with_the_torch_kernel():
    """With the step size and metric fixed and a wall that makes a third of the transitions
    divergent, the mean acceptance statistic, divergence rate and path length per chain of
    both kernels agree (5 combined standard errors from the spread over the independent
    chains): the statistic counts a divergent step's ``min(1, exp(H0 - H)) = 0`` in the mean
    over the transition's leapfrog steps, as Stan's accept_stat and the torch kernel do."""
    chains = 64
    walled = CompiledGaussian((0.0, 0.0), (1.0, 1.0), 0.0, wall=True)
    kw = {
        "draws": 200, "tune": 0, "random_state": 4, "progressbar": False,
        "compute_convergence_checks": False,
    }  # fmt: skip
    init = 0.1 * randn(chains, 2, seed=3)
    fixed = {"step_size": 0.9, "adapt_step_size": False, "adapt_mass": False}
    ours = sample(walled, init, method=CompiledNUTS(**fixed), **kw)
    ref = sample(walled, init, method=NUTS(**fixed), **kw)
    assert 0.1 < float(ref.diverging.double().mean()) < 0.6  # the check needs divergences
    for name in ("accept_prob", "diverging", "n_steps"):
        a = getattr(ours, name).double().mean(1).numpy()
        b = getattr(ref, name).double().mean(1).numpy()
        error = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(chains)
        assert abs(a.mean() - b.mean()) < 5 * error, (name, a.mean(), b.mean(), error)
