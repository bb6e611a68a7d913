"""The numba Metropolis step, the default of ``vmc.estimate`` for ``GaussianJastrow``.

It draws its own random numbers, so it is checked statistically: energies, variances and
acceptance against the torch (generic) chain and against closed forms; its local energy
formula against the generic analytic one at the same positions, to round-off.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from bayesphys import vmc
from bayesphys.core import _numba_random
from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.vmc import _numba_step
from bayesphys.vmc.samplers import Walkers
from tests.vmc.test_fused import SYSTEMS

pytestmark = pytest.mark.skipif(not _numba_step.numba_available(), reason="numba not installed")


def _estimate(wf, system, sampler, *args, **kwargs):
    return vmc.estimate(wf, system, sampler, *args, progressbar=False, **kwargs)


def _walkers(wf, system, sampler, n_walkers, seed=0):
    return Walkers(
        wf, system, sampler, n_walkers, torch.Generator().manual_seed(seed), compiled=True
    )


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_numba_energy_matches_the_generic_local_energy(name):
    make, system = SYSTEMS[name]
    wf = make()
    walkers = _walkers(wf, system, vmc.Metropolis(), 4)
    assert walkers.compiled is not None
    g = torch.Generator().manual_seed(1)
    R = 1.3 * torch.randn(200, system.n_particles, system.dim, generator=g, dtype=torch.float64)
    log_prob, kinetic, potential = walkers.compiled.energy(R)
    reference = vmc.local_energy(wf, system, R, "analytic")
    tol = {"rtol": 1e-11, "atol": 1e-11}
    torch.testing.assert_close(kinetic, reference.kinetic, **tol)
    torch.testing.assert_close(potential, reference.potential, **tol)
    torch.testing.assert_close(log_prob, 2.0 * wf.log_psi(R).detach(), **tol)


def test_engine_choice():
    wf, dot = vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(2)
    assert _walkers(wf, dot, vmc.Metropolis(), 8).compiled is not None
    for sampler in (
        vmc.Metropolis(engine="torch"),
        vmc.Metropolis(compile=True),
        vmc.Metropolis(prefetch=True),
        vmc.Metropolis(fused=False),
        vmc.Metropolis(moves="single"),
        vmc.Langevin(),
    ):
        assert _walkers(wf, dot, sampler, 8).compiled is None, sampler
    assert _walkers(vmc.RBM(2, 2, 2), dot, vmc.Metropolis(), 8).compiled is None
    # Outside estimate (Walkers' default, as vmc.optimize builds them) the torch step runs.
    assert Walkers(wf, dot, vmc.Metropolis(), 8, torch.Generator()).compiled is None
    with pytest.raises(ValueError, match="engine"):
        vmc.Metropolis(engine="gpu")
    assert "engine='torch'" in repr(vmc.Metropolis(engine="torch"))


def test_energy_variance_and_acceptance_agree_with_the_torch_chain():
    # The 2e dot of the benchmark: both chains sample |psi|^2 with the same proposal and rule.
    wf, dot = vmc.GaussianJastrow(0.47, "pade", beta=0.35), vmc.QuantumDot(2)
    kw = {"n_walkers": 4000, "n_steps": 200, "burn_in": 100, "random_state": 11}
    fast = _estimate(wf, dot, vmc.Metropolis(), **kw)
    reference = _estimate(wf, dot, vmc.Metropolis(engine="torch"), **kw)
    assert fast.mixing == () and reference.mixing == ()
    assert not np.array_equal(fast.local_energies, reference.local_energies)  # own stream
    both = math.hypot(fast.stderr, reference.stderr)
    assert abs(fast.energy - reference.energy) < 4 * both
    # Kinetic energy has a log-divergent variance at coalescence (its noise is larger).
    assert abs(fast.potential - reference.potential) < 5 * math.hypot(
        fast.potential_stderr, reference.potential_stderr
    )
    # Variance of E_L: its own sampling error is ~sqrt(tau * (kurtosis - 1) / n); the Pade
    # tail makes that a few per cent here, 10 % is several sigma.
    assert fast.variance == pytest.approx(reference.variance, rel=0.1)
    # Acceptance of 8e5 correlated accept/reject probabilities: standard error below 2e-3;
    # a proposal scale 10 % off shifts it by ~0.03.
    assert fast.acceptance == pytest.approx(reference.acceptance, abs=0.01)
    assert fast.step_size == pytest.approx(reference.step_size, rel=0.05)  # same adaptation
    assert fast.r12 == pytest.approx(reference.r12, rel=0.01)
    # Fraction of particles per radial bin (~0.02 each): binomial noise over ~1e5 effective
    # samples per run is ~5e-4 for the difference; 2.5e-3 is five sigma.
    edges = np.linspace(0.0, 4.5, 61)
    shell = np.pi * np.diff(edges**2)
    fractions = [e.density * shell / 2 for e in (fast, reference)]
    assert sum(fractions[0]) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(fractions[0], fractions[1], atol=2.5e-3)


def test_acceptance_detects_a_wrong_proposal_scale():
    # The power of the check above: the same run with a step 10 % larger is outside 0.01.
    wf, dot = vmc.GaussianJastrow(0.47, "pade", beta=0.35), vmc.QuantumDot(2)
    kw = {"n_walkers": 4000, "n_steps": 100, "burn_in": 20, "random_state": 3}
    a = _estimate(wf, dot, vmc.Metropolis(1.0, adapt=False), **kw)
    b = _estimate(wf, dot, vmc.Metropolis(1.1, adapt=False), **kw)
    assert abs(a.acceptance - b.acceptance) > 0.02


def test_closed_form_energy_and_variance_of_a_gaussian():
    # psi = exp(-alpha r^2), N = 2 in 2-d, no interaction: E_L = 4 alpha + (1/2 - 2 alpha^2) S
    # with S = sum of the 4 squared coordinates, each of variance 1/(4 alpha) under |psi|^2.
    alpha, nd = 0.35, 4
    wf, trap = vmc.GaussianJastrow(alpha), vmc.HarmonicTrap(2, 2)
    est = _estimate(wf, trap, vmc.Metropolis(), 3000, 300, 100, random_state=4)
    c = 0.5 - 2 * alpha**2
    exact = nd * alpha + c * nd / (4 * alpha)
    exact_variance = c**2 * nd * 2 / (4 * alpha) ** 2
    assert abs(est.energy - exact) < 4 * est.stderr
    assert est.variance == pytest.approx(exact_variance, rel=0.05)
    assert est.kinetic == pytest.approx(nd * alpha / 2, abs=5 * est.kinetic_stderr)
    # Exact eigenstate (alpha = omega / 2): every local energy is 2, without error.
    exact_state = _estimate(vmc.GaussianJastrow(0.5), trap, vmc.Metropolis(), 200, 32, 10)
    assert exact_state.energy == pytest.approx(2.0, abs=1e-12)
    assert exact_state.variance < 1e-20 and exact_state.stderr < 1e-10


def test_reproducible_and_independent_of_the_thread_count():
    wf, dot = vmc.GaussianJastrow(0.47, "pade", beta=0.35), vmc.QuantumDot(2)
    runs = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            runs.append(_estimate(wf, dot, vmc.Metropolis(), 9000, 16, 4, random_state=8))
    finally:
        torch.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(other.local_energies, runs[0].local_energies)
        np.testing.assert_array_equal(other.density, runs[0].density)
        assert other.acceptance == runs[0].acceptance


def test_interrupt_keeps_completed_steps(monkeypatch):
    wf, dot = vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(2)
    calls = {"n": 0}
    original = _numba_step.NumbaMetropolis.step

    def step(self, *args):
        calls["n"] += 1
        if calls["n"] == 10 + 30:  # burn-in 10, then the 30th recorded step
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(_numba_step.NumbaMetropolis, "step", step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vmc.MixingWarning)
        with pytest.warns(InterruptedRunWarning, match="29 of 64 steps"):
            est = vmc.estimate(wf, dot, vmc.Metropolis(), 50, 64, 10, progressbar=False)
    assert est.interrupted and est.local_energies.shape == (50, 29)


def test_frozen_walkers_still_inflate_the_error_bar():
    # A far too large fixed step: walkers barely move; the honest-error rule must still fire.
    wf, dot = vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(2)
    with pytest.warns(vmc.MixingWarning, match="did not mix"):
        est = _estimate(wf, dot, vmc.Metropolis(60.0, adapt=False), 100, 32, 10)
    assert "acceptance" in est.mixing and est.stderr >= est.stderr_blocking


def test_ziggurat_normals_are_standard_normal():
    import numba
    from scipy import stats

    @numba.njit
    def draw(n, seed):
        out, state = np.empty(n), np.uint64(seed)
        for i in range(n):
            out[i], state = _numba_random.normal(state)
        return out

    x = draw(2_000_000, 12345)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    n = x.size
    assert abs(x.mean()) < 5 / math.sqrt(n) and abs(x.var() - 1) < 5 * math.sqrt(2 / n)
    # The tail beyond R has its own sampler: its mass must be 2 P(Z > R) within 5 sigma.
    tail = 2 * stats.norm.sf(_numba_random._ZIG_R)
    assert abs(np.mean(np.abs(x) > _numba_random._ZIG_R) - tail) < 5 * math.sqrt(tail / n)


def test_walkers_streams_are_uncorrelated():
    # Walkers must be independent chains (the error bar assumes it): the lag-0 correlation of
    # neighbouring walkers' standardised energy series is 0 within its standard error, and
    # their means scatter as each walker's blocking error says (dispersion ~ 1).
    wf, trap = vmc.GaussianJastrow(0.3), vmc.HarmonicTrap(2, 2)
    est = _estimate(wf, trap, vmc.Metropolis(0.5, adapt=False), 2000, 512, 100, random_state=5)
    e = est.local_energies - est.local_energies.mean(axis=1, keepdims=True)
    e = e / e.std(axis=1, keepdims=True)
    neighbours = (e[:-1] * e[1:]).mean(axis=1)
    assert abs(neighbours.mean()) < 5 * neighbours.std() / math.sqrt(neighbours.size)
    assert 0.85 < est.dispersion < 1.15  # chi-square(1999) / 1999: sd ~0.03, plus blocking bias
