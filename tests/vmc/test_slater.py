"""Slater x Pade-Jastrow trial functions for closed-shell 2-D quantum dots."""

import pytest
import torch

from bayesphys import vmc
from bayesphys.vmc.wavefunctions.slater import closed_shell_orbitals, hermite
from tests.vmc.reference import REFERENCES


def test_hermite_and_shells():
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)
    torch.testing.assert_close(hermite(3, x), 8 * x**3 - 12 * x)
    assert closed_shell_orbitals(3) == [(0, 0), (1, 0), (0, 1)]
    assert len(closed_shell_orbitals(6)) == 6
    with pytest.raises(ValueError, match="close a 2-D shell"):
        closed_shell_orbitals(4)


@pytest.mark.parametrize(("n", "exact"), [(2, 2.0), (6, 10.0), (12, 28.0)])
def test_non_interacting_closed_shells_are_exact(n, exact):
    # Filled shells of the 2-D oscillator: E = sum over occupied (nx + ny + 1), two spins each.
    wf = vmc.SlaterJastrow(n, alpha=0.5, jastrow=None)
    R = torch.randn(8, n, 2, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    e = vmc.local_energy(wf, vmc.HarmonicTrap(n, 2), R)
    torch.testing.assert_close(e.total, torch.full((8,), exact, dtype=torch.float64))


@pytest.mark.parametrize("n", [2, 6, 12])
def test_closed_form_slater_derivatives_match_autograd(n):
    wf = vmc.SlaterJastrow(n, alpha=0.45, beta=0.6)
    assert wf.analytic  # inverse-matrix gradient and Laplacian of ln|det|
    system = vmc.QuantumDot(n)
    g = torch.Generator().manual_seed(n)
    R = 1.5 * torch.randn(10, n, 2, generator=g, dtype=torch.float64)
    a = vmc.local_energy(wf, system, R, "analytic")
    b = vmc.local_energy(wf, system, R, "autograd")
    torch.testing.assert_close(a.total, b.total, rtol=1e-10, atol=1e-10)
    grad, _ = wf.factors[1].grad_lap(R)
    auto_grad, _ = vmc.wavefunctions.autograd_grad_lap(wf.factors[1].log_psi, R)
    torch.testing.assert_close(grad, auto_grad, rtol=1e-10, atol=1e-10)


def test_antisymmetry():
    wf = vmc.SlaterJastrow(6, alpha=0.5, jastrow=None).factors[1]
    R = torch.randn(1, 6, 2, dtype=torch.float64)
    swapped = R[:, [1, 0, 2, 3, 4, 5]]
    up = wf._matrix(R)[:, :3]
    up_swapped = wf._matrix(swapped)[:, :3]
    torch.testing.assert_close(torch.linalg.det(up_swapped), -torch.linalg.det(up))


@pytest.mark.slow
def test_six_electron_dot():
    ref = REFERENCES["dot6_2d"]
    system = vmc.QuantumDot(6)
    start = vmc.SlaterJastrow(6, alpha=0.47, beta=0.55)
    fit = vmc.optimize(start, system, vmc.Metropolis(), "sr", 40, 1000, learning_rate=0.2,
                       random_state=1, progressbar=False)  # fmt: skip
    est = vmc.estimate(fit.wavefunction, system, vmc.Langevin(0.1), 1000, 400, 100, random_state=2)
    assert est.energy > ref["dmc"] - 3 * est.stderr  # variational: above the DMC energy
    assert est.energy < ref["vmc"] + 0.01 + 3 * est.stderr


@pytest.mark.slow
def test_twelve_electron_dot():
    # 50 SR iterations of 1e4 samples and a Langevin estimate (see benchmarks/vmc.py --n12).
    low, high = REFERENCES["dot12_2d"]["vmc_band"]
    system = vmc.QuantumDot(12)
    start = vmc.SlaterJastrow(12, alpha=0.45, beta=0.5)
    fit = vmc.optimize(start, system, vmc.Metropolis(), "sr", 50, 1000, learning_rate=0.2,
                       random_state=1, progressbar=False)  # fmt: skip
    est = vmc.estimate(fit.wavefunction, system, vmc.Langevin(0.05), 1000, 400, 100, random_state=2)
    assert est.energy > REFERENCES["dot12_2d"]["dmc"] - 3 * est.stderr
    assert low - 3 * est.stderr < est.energy < high + 3 * est.stderr
