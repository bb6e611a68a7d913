"""vmc.estimate: exact energies, sampler correctness, error bars vs ArviZ, InferenceData."""

import re
import warnings

import arviz as az
import numpy as np
import pytest
import torch

from bayesphys import results, vmc
from bayesphys.core.samplers import MALA, StepInfo
from bayesphys.core.samplers.base import evaluate
from bayesphys.core.stats import Stats
from tests.vmc.reference import REFERENCES

SAMPLERS = {
    "metropolis": lambda: vmc.Metropolis(1.0),
    "metropolis_single": lambda: vmc.Metropolis(1.0, moves="single"),
    "langevin": lambda: vmc.Langevin(0.2),
}


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_exact_gaussian_zero_variance(sampler):
    system = vmc.HarmonicTrap(3, 2, omega=1.5)
    est = vmc.estimate(
        vmc.GaussianJastrow(0.75), system, SAMPLERS[sampler](), 200, 64, 20, random_state=1
    )
    assert est.energy == pytest.approx(3 * 2 * 1.5 / 2, abs=1e-12)
    assert est.variance < 1e-20 and est.stderr < 1e-10
    assert 0.1 < est.acceptance < 0.95


def test_elliptic_trap_exact_energy_per_particle():
    ref = REFERENCES["elliptic_free"]
    system = vmc.HarmonicTrap(5, 3, gamma=ref["gamma"])
    wf = vmc.GaussianJastrow(0.5, beta_z=ref["gamma"])
    est = vmc.estimate(wf, system, vmc.Metropolis(0.5), 100, 32, 20, random_state=2)
    assert est.energy / 5 == pytest.approx(ref["energy_per_particle"], abs=1e-6)
    assert est.variance < 1e-20


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_samplers_reproduce_known_non_eigenstate_energy(sampler):
    # psi = exp(-alpha r^2) with alpha != omega/2: <T> = alpha/2 and <V> = omega^2/(8 alpha) per
    # coordinate. A wrong acceptance ratio (e.g. Langevin without the Green's function) biases it.
    alpha, omega, n, d = 0.3, 1.0, 2, 2
    exact = n * d * (alpha / 2 + omega**2 / (8 * alpha))
    est = vmc.estimate(
        vmc.GaussianJastrow(alpha), vmc.HarmonicTrap(n, d, omega), SAMPLERS[sampler](),
        n_walkers=500, n_steps=400, burn_in=200, random_state=3,
    )  # fmt: skip
    assert abs(est.energy - exact) < 4 * est.stderr
    assert est.kinetic == pytest.approx(n * d * alpha / 2, abs=5 * est.kinetic_stderr)


class _Unadjusted(vmc.Langevin):
    """Langevin without the accept/reject step: a deliberately biased sampler."""

    def kernel(self, n_particles, dim):
        return _ULA(step_size=self.dt**0.5, adapt_step_size=False, adapt_mass=False)


class _ULA(MALA):
    def step(self, state):
        h = state.step_size.unsqueeze(-1)
        noise = torch.randn(state.theta.shape, generator=state.generator, dtype=torch.float64)
        theta = state.theta + 0.5 * h * h * state.grad + h * noise
        lp, grad = evaluate(state.log_prob_fn, theta, with_grad=True)
        ones = torch.ones(theta.shape[0], dtype=torch.bool)
        state = type(state)(**{**state.__dict__, "theta": theta, "log_prob": lp, "grad": grad})
        return state, StepInfo(ones.double(), ones, ~ones, ones.long())


def _below_exact_by_3_stderr(est, exact):
    return est.energy < exact - 3 * est.stderr


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_energy_never_below_exact_ground_state(sampler):
    # Variational principle: an energy below exact by > 3 stderr can only be a sampler bug.
    exact = REFERENCES["dot2_2d"]["exact"]
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.494, "pade", beta=0.4)
    est = vmc.estimate(wf, system, SAMPLERS[sampler](), 1000, 300, 100, random_state=4)
    assert not _below_exact_by_3_stderr(est, exact)
    assert est.energy < REFERENCES["dot2_2d"]["pade_band"][1] + 4 * est.stderr


def test_bug_detector_catches_a_biased_sampler():
    # Negative control of the test above: dropping the Metropolis correction of Langevin moves
    # puts the energy visibly below the exact ground state.
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.494, "pade", beta=0.4)
    est = vmc.estimate(wf, system, _Unadjusted(0.5), 1000, 300, 100, random_state=4)
    assert _below_exact_by_3_stderr(est, REFERENCES["dot2_2d"]["exact"])


@pytest.fixture(scope="module")
def correlated_estimate():
    # Small steps make the chain correlated (tau ~ 10 steps) so that the error bar matters.
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    return vmc.estimate(
        wf, system, vmc.Metropolis(0.5, adapt=False), 200, 2048, 300, random_state=5
    )


def test_blocking_error_agrees_with_arviz_mcse(correlated_estimate):
    est = correlated_estimate
    assert est.tau_corr > 5  # the naive error would be far too small
    mcse = float(results.mcse(est.local_energies))  # chain = walker, draw = step
    # Both estimators are unbiased here (tests/core/test_blocking.py: seeded AR(1) chains of
    # this size, 200 x 2048 with tau ~ 10): pooled blocking scatters by ~1.0 % and ArviZ by
    # ~0.7 % from run to run, so their ratio stays within ~1.2 % (1 sd); 4 % is > 3 sd. Plain
    # blocking of the walker-averaged series was 15-20 % low and fails this.
    assert abs(est.stderr / mcse - 1) < 0.04
    naive = np.sqrt(est.variance / est.local_energies.size)
    assert est.stderr > 2 * naive


def test_inference_data_diagnostics(correlated_estimate):
    est = correlated_estimate
    idata = est.idata
    energies = idata.sample_stats["local_energy"]
    assert energies.dims == ("chain", "draw") and energies.shape == (200, 2048)
    ess = float(results.ess(idata, var_names=["local_energy"], method="mean")["local_energy"])
    # Same correlation time (stderr^2 ~ tau): within twice the tolerance of the test above.
    assert est.local_energies.size / ess == pytest.approx(est.tau_corr, rel=0.08)
    assert float(results.rhat(idata, var_names=["local_energy"])["local_energy"]) < 1.01


def test_observables_and_virial():
    # Non-interacting exact state: <r12> and the density are known in closed form.
    system = vmc.HarmonicTrap(2, 2, 1.0)
    est = vmc.estimate(
        vmc.GaussianJastrow(0.5), system, vmc.Langevin(0.3), 2000, 100, 50, random_state=6
    )
    # r_ij = |r_i - r_j| is Rayleigh with sigma^2 = 2 * 1/2: mean sqrt(pi/2).
    assert est.r12 == pytest.approx(np.sqrt(np.pi / 2), rel=0.02)
    # Virial theorem for a harmonic potential: <T> = <V>.
    assert est.kinetic == pytest.approx(est.potential, abs=5 * est.kinetic_stderr + 1e-12)
    assert est.kinetic + est.potential == pytest.approx(2.0, abs=1e-12)
    r, rho = est.density_r, est.density
    exact = 2 * np.exp(-(r**2)) / np.pi  # N |phi_0|^2 in 2-D
    mask = r < 2.0
    np.testing.assert_allclose(rho[mask], exact[mask], rtol=0.1, atol=0.01)
    area = np.pi * np.diff(np.linspace(0, 4.5, 61) ** 2)
    assert float(np.sum(rho * area)) == pytest.approx(2.0, rel=1e-3)


def test_same_seed_same_result_and_validation():
    system, wf = vmc.HarmonicTrap(2, 2, 1.0, "coulomb"), vmc.GaussianJastrow(0.45, "pade")
    a = vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, random_state=7)
    b = vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, random_state=7)
    assert a.energy == b.energy
    with pytest.raises(ValueError, match="n_steps"):
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 8, 10)
    with pytest.raises(ValueError, match="random_state"):
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, random_state=-1)
    with pytest.raises(TypeError, match="random_state"):
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, random_state=2.5)
    with pytest.raises(TypeError, match="progressbar"):
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, progressbar="yes")
    with pytest.raises(TypeError, match="positional"):  # the seed is keyword-only now
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, 7)
    with pytest.raises(TypeError, match="unexpected keyword"):
        vmc.estimate(wf, system, vmc.Metropolis(), 50, 32, 10, seed=7)
    with pytest.raises(TypeError, match="sampler"):
        vmc.estimate(wf, system, "metropolis", 50, 32, 10)
    with pytest.raises(ValueError, match="moves"):
        vmc.Metropolis(moves="some")
    with pytest.raises(ValueError, match="dt"):
        vmc.Langevin(dt=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(a)


@pytest.mark.parametrize(("progressbar", "shown"), [(None, True), (True, True), (False, False)])
def test_progressbar_is_on_unless_false(progressbar, shown, capsys):
    system, wf = vmc.HarmonicTrap(2, 2, 1.0, "coulomb"), vmc.GaussianJastrow(0.45, "pade")
    vmc.estimate(wf, system, vmc.Metropolis(), 20, 16, 2, progressbar=progressbar)
    assert ("vmc estimate" in capsys.readouterr().err) == shown


def test_progressbar_ends_with_the_energy_stats_line(capsys):
    system, wf = vmc.HarmonicTrap(2, 2, 1.0, "coulomb"), vmc.GaussianJastrow(0.45, "pade")
    est = vmc.estimate(wf, system, vmc.Metropolis(), 64, 32, 100, progressbar=True)
    from bayesphys.vmc.estimation import progress_summary

    line = progress_summary(est)
    assert line == f"E = {est.energy.summary(f'acc = {est.acceptance:.2f}', rank=False)}"
    # The bar shows the split R-hat (no sort of every sample), as ArviZ computes it.
    split = float(az.rhat(est.local_energies, method="split"))
    assert line.endswith(f"R-hat = {split:.3f}]")
    assert re.fullmatch(
        r"E = \d\.\d{5,} \+- \d\.\d{5,} \[var = \S+, acc = 0\.\d\d, R-hat = 1\.\d{3}\]", line
    )
    assert line in capsys.readouterr().err


def test_energy_kinetic_potential_are_stats_and_old_attributes_remain():
    system, wf = vmc.HarmonicTrap(2, 2, 1.0, "coulomb"), vmc.GaussianJastrow(0.45, "pade")
    est = vmc.estimate(wf, system, vmc.Metropolis(), 200, 64, 40, progressbar=False)
    for part in (est.energy, est.kinetic, est.potential):
        assert isinstance(part, Stats) and isinstance(part, float)
    assert (est.stderr, est.variance, est.tau_corr) == (
        est.energy.error_of_mean, est.energy.variance, est.energy.tau_corr,
    )  # fmt: skip
    assert est.kinetic_stderr == est.kinetic.error_of_mean > 0
    assert est.potential_stderr == est.potential.error_of_mean > 0
    assert est.energy == pytest.approx(est.kinetic + est.potential, rel=1e-12)
    # Diagnostics as ArviZ computes them on the walkers' series (chain = walker).
    assert est.energy.r_hat == pytest.approx(float(az.rhat(est.local_energies)), rel=1e-10)
    assert est.energy.ess == pytest.approx(float(az.ess(est.local_energies)), rel=1e-10)
    assert est.variance == pytest.approx(float(est.local_energies.var()), rel=1e-12)


def test_kinetic_and_potential_variances_match_closed_forms():
    # One particle in 1-d, psi = exp(-alpha x^2): x^2 has mean 1/(4 alpha) and variance
    # 2/(4 alpha)^2 under |psi|^2; V = x^2/2 and K = alpha - 2 alpha^2 x^2 follow.
    alpha = 0.4
    est = vmc.estimate(
        vmc.GaussianJastrow(alpha), vmc.HarmonicTrap(1, 1, 1.0), vmc.Metropolis(1.0),
        2000, 200, 100, random_state=5, progressbar=False,
    )  # fmt: skip
    var_x2 = 2 / (4 * alpha) ** 2
    # Sample variances over ~4e5 correlated values: a few per cent; 10 % is > 4 sigma.
    assert est.potential.variance == pytest.approx(var_x2 / 4, rel=0.1)
    assert est.kinetic.variance == pytest.approx(4 * alpha**4 * var_x2, rel=0.1)
    assert est.potential == pytest.approx(1 / (8 * alpha), abs=5 * est.potential_stderr)


def test_hard_sphere_bosons_elliptic_trap():
    # N = 10, a = 0.0043, gamma = 2.82843 at alpha = 1/2, beta_z = gamma: E/N ~ 2.44 (VMC);
    # the repulsion must lift it above the non-interacting 2.414215.
    ref, free = REFERENCES["bosons10"], REFERENCES["elliptic_free"]
    gamma, a = free["gamma"], 0.0043
    system = vmc.HarmonicTrap(10, 3, 1.0, "hard_sphere", a=a, gamma=gamma)
    wf = vmc.GaussianJastrow(0.5, "hard_sphere", a=a, beta_z=gamma)
    est = vmc.estimate(wf, system, vmc.Langevin(0.1), 500, 256, 100, random_state=8)
    per_particle, err = est.energy / 10, est.stderr / 10
    assert per_particle > free["energy_per_particle"] + 3 * err
    assert per_particle == pytest.approx(ref["energy_per_particle"], abs=0.005 + 3 * err)
