"""The numba Metropolis step for ``SlaterJastrow`` quantum dots, the default of ``estimate``.

It draws its own random numbers, so it is checked statistically (energy, variance, acceptance
against the torch chain; closed forms without interaction) and its local energy against the
generic analytic one at the same positions, to round-off.
"""

import math

import numpy as np
import pytest
import torch

from bayesphys import vmc
from bayesphys.vmc import _numba_step
from bayesphys.vmc._numba_slater import NumbaSlaterMetropolis
from bayesphys.vmc.samplers import Walkers

pytestmark = pytest.mark.skipif(not _numba_step.numba_available(), reason="numba not installed")


def _estimate(wf, system, sampler, *args, **kwargs):
    return vmc.estimate(wf, system, sampler, *args, progressbar=False, **kwargs)


def _walkers(wf, system, sampler, n_walkers, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return Walkers(wf, system, sampler, n_walkers, generator, compiled=True)


def _shifted_gaussian(wf, alpha):
    # After optimisation the Gaussian's alpha differs from the determinants' fixed scale.
    with torch.no_grad():
        wf.factors[0].alpha.fill_(alpha)
    return wf


CASES = {
    "n2": (lambda: vmc.SlaterJastrow(2, alpha=0.45, beta=0.5), vmc.QuantumDot(2)),
    "n6": (lambda: vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), vmc.QuantumDot(6)),
    "n12": (lambda: vmc.SlaterJastrow(12, alpha=0.45, beta=0.5), vmc.QuantumDot(12)),
    "n12_shifted": (
        lambda: _shifted_gaussian(vmc.SlaterJastrow(12, alpha=0.45, beta=0.3), 0.52),
        vmc.QuantumDot(12, omega=0.8),
    ),
    "n6_free": (
        lambda: vmc.SlaterJastrow(6, alpha=0.35, jastrow=None),
        vmc.HarmonicTrap(6, 2, omega=0.7),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_numba_energy_matches_the_generic_local_energy(name):
    make, system = CASES[name]
    wf = make()
    walkers = _walkers(wf, system, vmc.Metropolis(), 4)
    assert isinstance(walkers.compiled, NumbaSlaterMetropolis)
    g = torch.Generator().manual_seed(1)
    R = 1.3 * torch.randn(200, system.n_particles, 2, generator=g, dtype=torch.float64)
    log_prob, kinetic, potential = walkers.compiled.energy(R)
    reference = vmc.local_energy(wf, system, R, "analytic")
    tol = {"rtol": 1e-10, "atol": 1e-10}
    torch.testing.assert_close(kinetic, reference.kinetic, **tol)
    torch.testing.assert_close(potential, reference.potential, **tol)
    torch.testing.assert_close(log_prob, 2.0 * wf.log_psi(R).detach(), **tol)


def test_engine_choice():
    wf, dot = vmc.SlaterJastrow(6, alpha=0.45), vmc.QuantumDot(6)
    assert isinstance(_walkers(wf, dot, vmc.Metropolis(), 8).compiled, NumbaSlaterMetropolis)
    for sampler in (
        vmc.Metropolis(engine="torch"),
        vmc.Metropolis(fused=False),
        vmc.Metropolis(moves="single"),
        vmc.Langevin(),
    ):
        assert _walkers(wf, dot, sampler, 8).compiled is None, sampler
    # Not this trial function's electrons, or a 3-D trap: the generic path (which checks).
    with pytest.raises(ValueError, match="2-D Slater"):
        _walkers(wf, vmc.HarmonicTrap(6, 3), vmc.Metropolis(), 8)
    assert _walkers(vmc.SlaterJastrow(2), vmc.QuantumDot(2), vmc.Metropolis(), 8).compiled
    assert Walkers(wf, dot, vmc.Metropolis(), 8, torch.Generator()).compiled is None


@pytest.mark.parametrize(("alpha", "omega"), [(0.5, 1.0), (0.4, 1.0), (0.6, 0.8)])
def test_closed_form_energy_without_interaction(alpha, omega):
    # Without Jastrow and interaction psi is a determinant of oscillator orbitals of frequency
    # 2 alpha: E = sum over orbitals and axes of (n + 1/2) (alpha + omega^2 / (4 alpha)), i.e.
    # 10 (alpha + omega^2 / (4 alpha)) for N = 6; exact (variance 0) at alpha = omega / 2.
    wf, trap = vmc.SlaterJastrow(6, alpha=alpha, jastrow=None), vmc.HarmonicTrap(6, 2, omega)
    # All-electron moves mix slowly (tau ~ 20 steps): a long burn-in from the start cloud.
    est = _estimate(wf, trap, vmc.Metropolis(), 1000, 200, 400, random_state=5)
    exact = 10 * (alpha + omega**2 / (4 * alpha))
    if alpha == omega / 2:
        assert est.energy == pytest.approx(exact, abs=1e-10) and est.variance < 1e-18
    else:
        assert abs(est.energy - exact) < 4 * est.stderr
        assert est.stderr < 2e-3 * exact  # the check has power: a few per mille of E


def test_energy_variance_and_acceptance_agree_with_the_torch_chain():
    wf, dot = vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), vmc.QuantumDot(6)
    # burn_in=40 left the walkers drifting (MixingWarning "drift", ~0.01 high): 80 settle them.
    kw = {"n_walkers": 2000, "n_steps": 80, "burn_in": 80, "random_state": 11}
    fast = _estimate(wf, dot, vmc.Metropolis(), **kw)
    reference = _estimate(wf, dot, vmc.Metropolis(engine="torch"), **kw)
    assert not np.array_equal(fast.local_energies, reference.local_energies)  # own stream
    assert abs(fast.energy - reference.energy) < 4 * math.hypot(fast.stderr, reference.stderr)
    assert abs(fast.potential - reference.potential) < 5 * math.hypot(
        fast.potential_stderr, reference.potential_stderr
    )
    # Sampling error of the variance: blocking of (E_L - E)^2 over the walkers' series.
    spread = [_variance_error(e) for e in (fast, reference)]
    assert abs(fast.variance - reference.variance) < 4 * math.hypot(*spread)
    # Acceptance of 2e5 correlated accept/reject probabilities (standard error ~3e-3); a
    # proposal scale 10 % off shifts it by ~0.03.
    assert fast.acceptance == pytest.approx(reference.acceptance, abs=0.015)
    assert fast.step_size == pytest.approx(reference.step_size, rel=0.05)  # same adaptation
    assert fast.r12 == pytest.approx(reference.r12, rel=0.01)


def _variance_error(est) -> float:
    from bayesphys.core.stats import statistics

    deviations = (est.local_energies - float(est.energy)) ** 2
    return statistics(deviations).error_of_mean


def test_reproducible_and_independent_of_the_thread_count():
    wf, dot = vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), vmc.QuantumDot(6)
    runs = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(_estimate(wf, dot, vmc.Metropolis(), 9000, 16, 4, random_state=8))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(runs[1].local_energies, runs[0].local_energies)
    assert runs[1].acceptance == runs[0].acceptance


def test_singular_proposals_are_rejected():
    # The spin-up orbitals of N = 6 are 1, x and y: with the three spin-up electrons on the
    # x axis the y column of det_up is exactly zero, so ln|psi|^2 = -inf.
    wf, dot = vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), vmc.QuantumDot(6)
    walkers = _walkers(wf, dot, vmc.Metropolis(), 3)
    R = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    R[0, :3, 1] = 0.0
    log_prob, _, _ = walkers.compiled.energy(R)
    assert log_prob[0] == -math.inf and torch.isfinite(log_prob[1:]).all()


def test_interrupt_keeps_completed_steps(monkeypatch):
    import warnings

    from bayesphys.core.interrupts import InterruptedRunWarning

    wf, dot = vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), vmc.QuantumDot(6)
    calls = {"n": 0}
    original = NumbaSlaterMetropolis.step

    def step(self, *args):
        calls["n"] += 1
        if calls["n"] == 10 + 30:  # burn-in 10, then the 30th recorded step
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(NumbaSlaterMetropolis, "step", step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vmc.MixingWarning)
        with pytest.warns(InterruptedRunWarning, match="29 of 64 steps"):
            est = _estimate(wf, dot, vmc.Metropolis(), 50, 64, 10)
    assert est.interrupted and est.local_energies.shape == (50, 29)


def test_twelve_electrons_agree_with_the_torch_chain():
    wf, dot = vmc.SlaterJastrow(12, alpha=0.45, beta=0.5), vmc.QuantumDot(12)
    kw = {"n_walkers": 1000, "n_steps": 200, "burn_in": 200, "random_state": 3}
    fast = _estimate(wf, dot, vmc.Metropolis(), **kw)
    reference = _estimate(wf, dot, vmc.Metropolis(engine="torch"), **kw)
    assert abs(fast.energy - reference.energy) < 4 * math.hypot(fast.stderr, reference.stderr)
    spread = [_variance_error(e) for e in (fast, reference)]
    assert abs(fast.variance - reference.variance) < 4 * math.hypot(*spread)
    assert fast.acceptance == pytest.approx(reference.acceptance, abs=0.015)
    assert fast.step_size == pytest.approx(reference.step_size, rel=0.05)
