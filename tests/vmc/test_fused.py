"""Fused Metropolis + local-energy step: same numbers as the generic path up to round-off."""

import warnings

import pytest
import torch

from bayesphys import vmc
from bayesphys.vmc import _normals, fused
from bayesphys.vmc.samplers import Walkers

SYSTEMS = {
    "dot2_pade": (lambda: vmc.GaussianJastrow(0.494, "pade", beta=0.4), vmc.QuantumDot(2)),
    "dot6_pade": (lambda: vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(6)),
    "3d_anisotropic": (
        lambda: vmc.GaussianJastrow(0.3, "pade", beta=0.7, beta_z=1.5, train_beta_z=True),
        vmc.HarmonicTrap(3, 3, 0.5, "coulomb", gamma=2.0),
    ),
    "gaussian_coulomb": (lambda: vmc.GaussianJastrow(0.4), vmc.HarmonicTrap(2, 3, 1.0, "coulomb")),
    "gaussian_free": (lambda: vmc.GaussianJastrow(0.4), vmc.HarmonicTrap(3, 2)),
    "one_particle_1d": (lambda: vmc.GaussianJastrow(0.3), vmc.HarmonicTrap(1, 1)),
}


def _chain(wf, system, fused_step, n_walkers=300, burn_in=20, n_steps=40, seed=3):
    sampler = vmc.Metropolis(0.8, fused=fused_step)
    walkers = Walkers(wf, system, sampler, n_walkers, torch.Generator().manual_seed(seed))
    assert (walkers.fused is not None) == fused_step
    with torch.no_grad():
        walkers.burn_in(burn_in)  # adapts the step sizes through the fused step as well
        steps = [walkers.step_with_energy() for _ in range(n_steps)]
    energies = torch.stack([e.total for _, e in steps])
    accepted = torch.stack([info.accepted for info, _ in steps])
    return walkers, energies, accepted


@pytest.mark.parametrize("n", [16, 48, 20, 1000, 1003])
def test_normals_from_uniforms_reproduce_torch_randn(n):
    g = torch.Generator().manual_seed(n)
    expected = torch.randn(n, generator=g, dtype=torch.float64)
    after = torch.rand(5, generator=g, dtype=torch.float64)
    g.manual_seed(n)
    u = torch.rand(_normals.n_uniforms(n) + 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_normals.normals_from_uniforms(u, n), expected, rtol=0, atol=1e-14)
    assert torch.equal(u[-5:], after)  # the generator advanced exactly as randn advances it
    assert _normals.uniforms_reproduce_randn()  # the probe agrees (else the fast path is off)


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_fused_energy_matches_local_energy(name):
    make, system = SYSTEMS[name]
    wf = make()
    assert fused.fused_supported(wf, system)
    g = torch.Generator().manual_seed(1)
    R = 1.3 * torch.randn(200, system.n_particles, system.dim, generator=g, dtype=torch.float64)
    log_prob, kinetic, potential = fused.FusedMetropolis(wf, system).energy(R)
    reference = vmc.local_energy(wf, system, R, "analytic")
    tol = {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(kinetic, reference.kinetic, **tol)
    torch.testing.assert_close(potential, reference.potential, **tol)
    torch.testing.assert_close(log_prob, 2.0 * wf.log_psi(R).detach(), **tol)


@pytest.mark.parametrize("name", ["dot2_pade", "dot6_pade", "3d_anisotropic"])
def test_fused_chain_is_the_generic_chain(name):
    make, system = SYSTEMS[name]
    generic, e_generic, acc_generic = _chain(make(), system, fused_step=False)
    quick, e_fused, acc_fused = _chain(make(), system, fused_step=True)
    assert torch.equal(acc_generic, acc_fused)  # every accept/reject decision identical
    torch.testing.assert_close(quick.positions, generic.positions, rtol=0, atol=1e-12)
    torch.testing.assert_close(e_fused, e_generic, rtol=1e-12, atol=1e-12)
    assert abs(float(e_fused.mean() - e_generic.mean())) < 1e-12


def test_randn_fallback_gives_the_same_chain(monkeypatch):
    # Should a torch version fill randn differently, the fused step draws with randn itself.
    make, system = SYSTEMS["dot2_pade"]
    _, e_fast, _ = _chain(make(), system, fused_step=True, n_steps=10)
    monkeypatch.setattr(fused, "uniforms_reproduce_randn", lambda: False)
    _, e_slow, _ = _chain(make(), system, fused_step=True, n_steps=10)
    torch.testing.assert_close(e_slow, e_fast, rtol=1e-12, atol=1e-12)


def test_estimate_and_optimize_agree_with_the_generic_path():
    system = vmc.QuantumDot(2)
    wf = vmc.GaussianJastrow(0.47, "pade", beta=0.35)
    kw = {"n_walkers": 200, "n_steps": 64, "burn_in": 20, "random_state": 5}
    a = vmc.estimate(wf, system, vmc.Metropolis(fused=False), **kw)
    # engine="torch": the torch fused step, the generic chain (the default numba step in
    # estimate draws its own random numbers; test_numba_step.py checks it statistically).
    torch_step = vmc.Metropolis(engine="torch")
    b = vmc.estimate(wf, system, torch_step, **kw)
    c = vmc.estimate(wf, system, torch_step, method="analytic", **kw)  # generic energies
    for other in (b, c):
        assert other.energy == pytest.approx(a.energy, abs=1e-12)
        assert other.kinetic == pytest.approx(a.kinetic, abs=1e-12)
        assert other.stderr == pytest.approx(a.stderr, rel=1e-8)
        assert other.acceptance == pytest.approx(a.acceptance, abs=1e-12)
    kw = {
        "n_iterations": 4,
        "n_walkers": 200,
        "learning_rate": 0.3,
        "random_state": 6,
        "burn_in": 20,
    }
    fit_a = vmc.optimize(wf, system, vmc.Metropolis(fused=False), "sr", **kw, progressbar=False)
    fit_b = vmc.optimize(wf, system, vmc.Metropolis(), "sr", **kw, progressbar=False)
    cols = ["energy", "variance", "factors.0.alpha", "factors.1.beta"]
    assert (fit_a.history[cols] - fit_b.history[cols]).abs().max().max() < 1e-10


def test_unsupported_cases_use_the_generic_path():
    dot = vmc.QuantumDot(2)
    g = torch.Generator().manual_seed(0)
    cases = [
        (vmc.GaussianJastrow(0.5, "pade"), dot, vmc.Metropolis(moves="single")),
        (vmc.GaussianJastrow(0.5, "pade"), dot, vmc.Langevin(0.1)),
        (vmc.RBM(2, 2, 2), dot, vmc.Metropolis()),
        (vmc.SlaterJastrow(2, 0.5), dot, vmc.Metropolis()),
        (
            vmc.GaussianJastrow(0.5, "hard_sphere", a=0.1),
            vmc.HarmonicTrap(2, 3, 1.0, "hard_sphere", a=0.1),
            vmc.Metropolis(),
        ),
    ]
    for wf, system, sampler in cases:
        assert Walkers(wf, system, sampler, 4, g).fused is None
    with pytest.raises(TypeError, match="fused step needs"):
        fused.FusedMetropolis(vmc.RBM(2, 2, 2), dot)
    assert "compile=True" in repr(vmc.Metropolis(compile=True))


def test_failed_compilation_falls_back_to_eager(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(fused, "_compiled_step", lambda: broken)
    make, system = SYSTEMS["dot2_pade"]
    wf = make()
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    eager = Walkers(wf, system, vmc.Metropolis(), 64, g1)
    compiled = Walkers(wf, system, vmc.Metropolis(compile=True), 64, g2)
    with pytest.warns(RuntimeWarning, match="torch.compile of the fused VMC step failed"):
        _, e_compiled = compiled.step_with_energy()
    _, e_eager = eager.step_with_energy()
    torch.testing.assert_close(e_compiled.total, e_eager.total, rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, then plain eager
        compiled.step_with_energy()


@pytest.mark.slow
def test_compiled_step_gives_the_same_chain():
    # torch.compile takes ~10-60 s the first time, hence slow.
    make, system = SYSTEMS["dot2_pade"]
    results = []
    for compile_step in (False, True):
        sampler = vmc.Metropolis(0.8, compile=compile_step)
        walkers = Walkers(make(), system, sampler, 512, torch.Generator().manual_seed(4))
        with torch.no_grad():
            walkers.burn_in(10)
            energies = torch.stack([walkers.step_with_energy()[1].total for _ in range(20)])
        results.append((walkers.positions, energies))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-12)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-12, atol=1e-12)


def test_prefetched_uniforms_are_the_serial_draws_and_cancel_rewinds():
    from bayesphys.vmc._prefetch import UniformPrefetcher

    serial, ahead = torch.Generator().manual_seed(8), torch.Generator().manual_seed(8)
    prefetcher = UniformPrefetcher()
    shapes = [(40,), (40,), (40,), (24,), (24,)]  # a new shape drops the draw made ahead
    for shape in shapes:
        u, log_u = prefetcher.take(ahead, shape, 5)
        expected = torch.rand(shape, generator=serial, dtype=torch.float64)
        assert torch.equal(u, expected) and torch.equal(log_u, expected[-5:].log())
    prefetcher.cancel()
    assert torch.equal(ahead.get_state(), serial.get_state())
    prefetcher.close()


def test_prefetch_gives_the_same_chain_and_leaves_the_generator_as_found():
    system = vmc.QuantumDot(2)
    wf = vmc.GaussianJastrow(0.47, "pade", beta=0.35)
    results, states = [], []
    for prefetch in (False, True):
        gen = torch.Generator().manual_seed(5)
        sampler = vmc.Metropolis(prefetch=prefetch, engine="torch")
        results.append(vmc.estimate(wf, system, sampler, 300, 32, 10, random_state=gen))
        states.append(gen.get_state())
    assert torch.equal(states[0], states[1])  # the draw made ahead at the end was rewound
    assert (results[0].local_energies == results[1].local_energies).all()
    kw = {
        "n_iterations": 3,
        "n_walkers": 200,
        "learning_rate": 0.3,
        "random_state": 6,
        "burn_in": 20,
    }
    fits = [
        vmc.optimize(wf, system, vmc.Metropolis(prefetch=p), "sr", **kw, progressbar=False)
        for p in (False, True)
    ]
    assert fits[0].history.equals(fits[1].history)
    assert repr(vmc.Metropolis(prefetch=True)).endswith("prefetch=True)")
