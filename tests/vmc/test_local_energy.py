"""Wave functions and local energies: exact eigenstates, analytic vs autograd, input checks."""

import pytest
import torch

from bayesphys import vmc
from bayesphys.vmc.wavefunctions import cusp_matrix
from tests.vmc.reference import REFERENCES


def _positions(shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("n", "d", "omega"), [(1, 1, 1.0), (3, 2, 0.5), (5, 3, 2.0), (2, 2, 1.0)])
@pytest.mark.parametrize("method", ["analytic", "autograd"])
def test_exact_gaussian_is_an_eigenstate(n, d, omega, method):
    # psi = exp(-alpha r^2) with alpha = omega / 2 is the non-interacting ground state.
    system = vmc.HarmonicTrap(n, d, omega)
    e = vmc.local_energy(
        vmc.GaussianJastrow(alpha=omega / 2), system, _positions((50, n, d)), method
    )
    exact = d * n * omega * REFERENCES["free_gaussian"]["energy_per_particle_dim"]
    assert system.non_interacting_energy == pytest.approx(exact)
    torch.testing.assert_close(e.total, torch.full((50,), exact, dtype=torch.float64))


def test_elliptic_exact_gaussian():
    ref = REFERENCES["elliptic_free"]
    system = vmc.HarmonicTrap(4, 3, 1.0, gamma=ref["gamma"])
    wf = vmc.GaussianJastrow(alpha=0.5, beta_z=ref["gamma"])
    e = vmc.local_energy(wf, system, _positions((40, 4, 3)))
    torch.testing.assert_close(
        e.total / 4, torch.full((40,), ref["energy_per_particle"]).double(), rtol=0, atol=1e-6
    )


WAVEFUNCTIONS = {
    "gaussian": (lambda: vmc.GaussianJastrow(0.4), vmc.HarmonicTrap(3, 2)),
    "pade_2d": (lambda: vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(6)),
    "pade_3d": (
        lambda: vmc.GaussianJastrow(0.3, "pade", beta=0.7),
        vmc.HarmonicTrap(2, 3, 0.5, "coulomb"),
    ),
    "hard_sphere": (
        lambda: vmc.GaussianJastrow(0.5, "hard_sphere", a=0.3, beta_z=2.0, train_beta_z=True),
        vmc.HarmonicTrap(4, 3, 1.0, "hard_sphere", a=0.3, gamma=2.0),
    ),
}


@pytest.mark.parametrize("name", sorted(WAVEFUNCTIONS))
def test_analytic_matches_autograd(name):
    make, system = WAVEFUNCTIONS[name]
    wf = make()
    R = _positions((30, system.n_particles, system.dim), seed=1, scale=1.5)
    if system.interaction == "hard_sphere":
        R = R[torch.isfinite(system.potential(R))]
    assert wf.analytic
    a = vmc.local_energy(wf, system, R, "analytic")
    b = vmc.local_energy(wf, system, R, "autograd")
    torch.testing.assert_close(a.kinetic, b.kinetic, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a.total, a.kinetic + a.potential)


def test_cusp_coefficients():
    # 2-D: 1 antiparallel, 1/3 parallel; 3-D two electrons: 1/2.
    a = cusp_matrix(4, 2)  # spins up, up, down, down; pairs 01 02 03 12 13 23
    torch.testing.assert_close(a, torch.tensor([1 / 3, 1, 1, 1, 1, 1 / 3], dtype=torch.float64))
    assert float(cusp_matrix(2, 3)[0]) == pytest.approx(0.5)


def test_pade_cusp_cancels_coulomb_divergence():
    # As r12 -> 0 the kinetic term must cancel 1/r12, leaving a finite local energy.
    system, wf = vmc.HarmonicTrap(2, 2, 1.0, "coulomb"), vmc.GaussianJastrow(0.5, "pade", beta=0.4)
    energies = []
    for eps in (1e-3, 1e-5, 1e-7):
        R = torch.tensor([[[0.3, 0.2], [0.3 + eps, 0.2]]], dtype=torch.float64)
        energies.append(float(vmc.local_energy(wf, system, R).total))
    assert max(energies) - min(energies) < 1e-2
    no_cusp = vmc.local_energy(vmc.GaussianJastrow(0.5), system, R).total
    assert float(no_cusp) > 1e6


def test_hard_sphere_overlap_has_zero_amplitude():
    wf = vmc.GaussianJastrow(0.5, "hard_sphere", a=0.5)
    R = torch.tensor([[[0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]], dtype=torch.float64)
    assert float(wf.log_psi(R).detach()) == -float("inf")
    system = vmc.HarmonicTrap(2, 3, interaction="hard_sphere", a=0.5)
    assert float(system.potential(R)) == float("inf")


def test_bad_input_messages():
    with pytest.raises(ValueError, match="omega"):
        vmc.HarmonicTrap(2, 2, omega=-1.0)
    with pytest.raises(ValueError, match="interaction"):
        vmc.HarmonicTrap(2, 2, interaction="yukawa")
    with pytest.raises(ValueError, match="gamma"):
        vmc.HarmonicTrap(2, 2, gamma=2.0)
    with pytest.raises(ValueError, match="a > 0"):
        vmc.HarmonicTrap(2, 3, interaction="hard_sphere")
    with pytest.raises(ValueError, match="shell"):
        vmc.QuantumDot(4)
    with pytest.raises(ValueError, match="alpha"):
        vmc.GaussianJastrow(alpha=-0.5)
    with pytest.raises(ValueError, match="jastrow"):
        vmc.GaussianJastrow(jastrow="yukawa")
    with pytest.raises(ValueError, match="a="):
        vmc.GaussianJastrow(jastrow="hard_sphere")
    with pytest.raises(ValueError, match="R must have shape"):
        vmc.local_energy(vmc.GaussianJastrow(), vmc.HarmonicTrap(2, 2), torch.zeros(3, 2, 3))
    with pytest.raises(ValueError, match="method"):
        vmc.local_energy(vmc.GaussianJastrow(), vmc.HarmonicTrap(2, 2), torch.zeros(3, 2, 2), "fd")


@pytest.mark.parametrize(
    "make",
    [
        lambda: vmc.GaussianJastrow(0.45, "pade", beta=0.3),
        lambda: vmc.RBM(2, 2, 2, init_scale=0.3),
        lambda: vmc.NeuralJastrow(0.45, 8),
    ],
    ids=["gaussian_pade", "rbm", "neural"],
)
def test_positions_of_any_real_dtype_give_the_float64_energy(make):
    """float32 positions gave a 2e-7 error (Gaussian x Pade) or a dtype RuntimeError (RBM,
    neural Jastrow); integer positions a RuntimeError for every wave function."""
    wf, dot = make(), vmc.QuantumDot(2)
    R = torch.tensor([[[1.0, 0.0], [-1.0, 2.0]], [[0.5, -0.25], [2.0, 1.0]]], dtype=torch.float64)
    reference = vmc.local_energy(wf, dot, R)
    for positions in (R.float(), R.clone().requires_grad_(True)):  # values exact in float32
        energy = vmc.local_energy(wf, dot, positions)
        torch.testing.assert_close(energy.total, reference.total, rtol=0, atol=0)
    integer = torch.tensor([[[1, 0], [-1, 2]]])
    torch.testing.assert_close(
        vmc.local_energy(wf, dot, integer).total, reference.total[:1], rtol=0, atol=0
    )


def test_changing_n_up_after_use_changes_the_cusps():
    """The cusp cache was keyed by (N, d) only: setting n_up after a first evaluation kept the
    old spin pattern, so the energy silently stayed that of the old cusps."""
    dot = vmc.QuantumDot(2)
    R = torch.tensor([[[0.3, 0.0], [-0.2, 0.1]]], dtype=torch.float64)
    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    vmc.local_energy(wf, dot, R)
    wf.factors[1].n_up = 0  # both spins down: parallel cusp 1/3 instead of 1
    fresh = vmc.GaussianJastrow(0.45, "pade", beta=0.3, n_up=0)
    torch.testing.assert_close(vmc.local_energy(wf, dot, R).total,
                               vmc.local_energy(fresh, dot, R).total)  # fmt: skip
