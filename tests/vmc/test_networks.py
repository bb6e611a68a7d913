"""RBM and neural-network wave functions: derivatives, optimisation, published energies."""

import pytest
import torch

from bayesphys import vmc
from tests.vmc.reference import REFERENCES

DOT2 = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")


@pytest.mark.parametrize("power", [0.5, 1.0])
@pytest.mark.parametrize("jastrow", [None, "pade"])
def test_rbm_analytic_matches_autograd(power, jastrow):
    wf = vmc.RBM(2, 2, n_hidden=3, jastrow=jastrow, power=power, init_scale=0.5, random_state=1)
    assert wf.analytic
    R = torch.randn(20, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = vmc.local_energy(wf, DOT2, R, "analytic")
    b = vmc.local_energy(wf, DOT2, R, "autograd")
    torch.testing.assert_close(a.total, b.total, rtol=1e-10, atol=1e-10)


def test_rbm_with_zero_weights_is_the_exact_gaussian():
    # sqrt(F) with the default sigma^2 = 1/2 and a = b = W = 0 is exp(-r^2/2) times a constant.
    wf = vmc.RBM(3, 2, n_hidden=2, init_scale=0.0)
    system = vmc.HarmonicTrap(3, 2)
    R = torch.randn(10, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(
        vmc.local_energy(wf, system, R).total, torch.full((10,), 3.0).double()
    )


def test_rbm_validation():
    with pytest.raises(ValueError, match="power"):
        vmc.RBM(2, 2, power=2.0)
    with pytest.raises(ValueError, match="R must have shape"):
        vmc.RBM(2, 2).log_psi(torch.zeros(1, 3, 2, dtype=torch.float64))


@pytest.mark.parametrize("make", [lambda **kw: vmc.RBM(2, 2, **kw), vmc.NeuralJastrow])
def test_random_state_seeds_the_initial_weights(make):
    def weights(**kw):
        return torch.cat([p.detach().flatten() for p in make(**kw).parameters()])

    assert torch.equal(weights(random_state=3), weights(random_state=3))
    assert not torch.equal(weights(random_state=3), weights(random_state=4))
    assert torch.equal(weights(), weights(random_state=0))  # the default seed is 0
    with pytest.raises(ValueError, match="random_state"):
        make(random_state=-1)
    with pytest.raises(TypeError, match="seed"):  # the old name is gone
        make(seed=1)


def test_neural_jastrow_starts_as_pade_and_learns():
    wf = vmc.NeuralJastrow(0.494, hidden=8, beta=0.3)
    assert not wf.analytic
    R = torch.randn(5, 2, 2, dtype=torch.float64)
    pade = vmc.GaussianJastrow(0.494, "pade", beta=0.3)
    torch.testing.assert_close(wf.log_psi(R), pade.log_psi(R))  # zero last layer: u = 0
    res = vmc.optimize(wf, DOT2, vmc.Metropolis(), "adam", 30, 300, learning_rate=0.01,
                       random_state=1, progressbar=False)  # fmt: skip
    first, last = res.history["variance"].iloc[:5].mean(), res.history["variance"].iloc[-5:].mean()
    assert last < first
    exact = REFERENCES["dot2_2d"]["exact"]
    est = vmc.estimate(res.wavefunction, DOT2, vmc.Metropolis(), 500, 200, 50, random_state=2)
    assert est.energy > exact - 3 * est.stderr


@pytest.mark.slow
def test_rbm_pade_reaches_exact_band():
    ref = REFERENCES["rbm_2d"]
    wf = vmc.RBM(2, 2, n_hidden=2, jastrow="pade", sigma=0.5**0.5)
    res = vmc.optimize(wf, DOT2, vmc.Metropolis(), "sr", 200, 1000, learning_rate=0.2,
                       random_state=1, progressbar=False)  # fmt: skip
    est = vmc.estimate(res.wavefunction, DOT2, vmc.Metropolis(), 2000, 500, 100, random_state=2)
    low, high = ref["rbm_pade_band"]
    assert low - 3 * est.stderr < est.energy < high + 3 * est.stderr


def _iid_importance_energy(wf, n, seed):
    """Self-normalised importance sampling from a unit Gaussian: no Markov chain involved."""
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(n, 2, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        log_w = 2 * wf.log_psi(R) + (R**2).sum((1, 2)) / 2
    w = torch.softmax(log_w, 0)
    e = vmc.local_energy(wf, DOT2, R).total
    mean = float((w * e).sum())
    return mean, float(torch.sqrt((w**2 * (e - mean) ** 2).sum()))


@pytest.mark.slow
def test_plain_rbm_near_published_energy():
    # Without a cusp the local energy diverges at coalescence: the RBM alone stays ~0.06-0.08
    # above the exact 3.0. Nordhagen et al. report 3.0803(2); Adam finds 3.064-3.068 here with
    # visible biases that place the electrons ~0.6 apart (docs/vmc.md). The cross-checks show
    # that the lower value is no sampler or local-energy bug.
    ref = REFERENCES["rbm_2d"]
    wf = vmc.RBM(2, 2, n_hidden=2, sigma=0.5**0.5)
    res = vmc.optimize(
        wf, DOT2, vmc.Metropolis(), "adam", 200, 1000, learning_rate=0.02, random_state=1,
        progressbar=False,
    )  # fmt: skip
    opt = res.wavefunction
    est = vmc.estimate(opt, DOT2, vmc.Metropolis(), 2000, 500, 100, random_state=2)
    assert 3.0 + 0.03 < est.energy < ref["rbm"] + 0.03
    R = 1.2 * torch.randn(2000, 2, 2, generator=torch.Generator().manual_seed(3)).double()
    analytic = vmc.local_energy(opt, DOT2, R, "analytic").total
    torch.testing.assert_close(analytic, vmc.local_energy(opt, DOT2, R, "autograd").total)
    iid, iid_err = _iid_importance_energy(opt, 400_000, seed=4)
    assert abs(est.energy - iid) < 4 * (est.stderr**2 + iid_err**2) ** 0.5
