"""vmc.optimize: reaching the published two-electron energies, checkpoints, interruption."""

import math
import warnings

import arviz as az
import numpy as np
import pytest
import torch

from bayesphys import vmc
from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted
from bayesphys.vmc.optimization import optimize
from tests.vmc.reference import REFERENCES


def _check_band(est, exact, band):
    # Upper bound: the published band plus 3 standard errors; lower bound: the variational
    # principle (below exact by more than 3 standard errors would be a sampler bug).
    assert est.energy > exact - 3 * est.stderr
    assert band[0] - 3 * est.stderr < est.energy < band[1] + 3 * est.stderr


@pytest.mark.parametrize("opt", ["adam", "sr"])
def test_two_electrons_2d_pade_jastrow(opt):
    ref = REFERENCES["dot2_2d"]
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    start = vmc.GaussianJastrow(0.45, "pade", beta=0.2)
    lr = {"adam": 0.02, "sr": 0.3}[opt]
    res = optimize(
        start, system, vmc.Metropolis(), opt, 80, 1000, learning_rate=lr, random_state=1,
        progressbar=False,
    )  # fmt: skip
    assert res.n_iterations == 80 and len(res.history) == 80
    assert res.history["energy"].iloc[:5].mean() > res.history["energy"].iloc[-20:].mean()
    est = vmc.estimate(res.wavefunction, system, vmc.Langevin(0.2), 2000, 500, 100, random_state=2)
    _check_band(est, ref["exact"], ref["pade_band"])
    assert est.variance < 0.003
    # The start is untouched; the optimum sits near alpha ~ 0.494, beta ~ 0.4.
    assert float(start.factors[0].alpha.detach()) == 0.45
    params = res.wavefunction.parameter_dict()
    assert params["factors.0.alpha"] == pytest.approx(0.494, abs=0.01)
    assert params["factors.1.beta"] == pytest.approx(0.40, abs=0.05)


def test_two_electrons_3d_half_omega():
    ref = REFERENCES["dot2_3d"]
    system = vmc.HarmonicTrap(2, 3, 0.5, "coulomb")
    start = vmc.GaussianJastrow(0.2, "pade", beta=0.3)
    res = optimize(start, system, vmc.Langevin(0.3), "sr", 40, 1000, learning_rate=0.3,
                   random_state=3, progressbar=False)  # fmt: skip
    est = vmc.estimate(res.wavefunction, system, vmc.Langevin(0.3), 2000, 400, 100, random_state=4)
    _check_band(est, ref["exact"], ref["pade_band"])


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    kw = {"n_walkers": 200, "learning_rate": 0.02, "random_state": 5, "progressbar": False}
    full = optimize(wf, system, vmc.Metropolis(), "adam", n_iterations=8, **kw)
    path = tmp_path / "opt.pt"
    first = optimize(wf, system, vmc.Metropolis(), "adam", n_iterations=5, checkpoint=path,
                     checkpoint_every=2, **kw)  # fmt: skip
    assert first.n_iterations == 5 and path.is_file()
    resumed = optimize(wf, system, vmc.Metropolis(), "adam", n_iterations=8, checkpoint=path, **kw)
    assert resumed.n_iterations == 8
    torch.testing.assert_close(
        torch.tensor(resumed.history["energy"].values), torch.tensor(full.history["energy"].values)
    )
    for p, q in zip(resumed.wavefunction.parameters(), full.wavefunction.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_keyboard_interrupt_returns_completed_iterations(monkeypatch):
    import bayesphys.vmc.optimization as module

    calls = {"n": 0}
    original = module._iteration

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(module, "_iteration", flaky)
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    with pytest.warns(InterruptedRunWarning, match="keeping 3 of 10 iterations"):
        res = optimize(vmc.GaussianJastrow(0.45, "pade"), system, vmc.Metropolis(), "sgd", 10,
                       100, learning_rate=0.01, random_state=0, progressbar=False)  # fmt: skip
    assert res.interrupted and res.n_iterations == 3 and math.isfinite(res.energy)
    assert is_interrupted(res)


def test_validation():
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.45, "pade")
    with pytest.raises(ValueError, match="optimizer"):
        optimize(wf, system, vmc.Metropolis(), "lbfgs")
    with pytest.raises(ValueError, match="learning_rate"):
        optimize(wf, system, vmc.Metropolis(), learning_rate=-1.0)
    with pytest.raises(TypeError, match="learning_rate"):
        optimize(wf, system, vmc.Metropolis(), learning_rate="0.1")
    with pytest.raises(ValueError, match="random_state"):
        optimize(wf, system, vmc.Metropolis(), random_state=-1)
    with pytest.raises(TypeError, match="progressbar"):
        optimize(wf, system, vmc.Metropolis(), progressbar="no")
    # The old names are gone, and the renamed arguments are keyword-only.
    for old in ({"lr": 0.01}, {"seed": 0}):
        with pytest.raises(TypeError, match="unexpected keyword"):
            optimize(wf, system, vmc.Metropolis(), **old)
    with pytest.raises(TypeError, match="positional"):
        optimize(wf, system, vmc.Metropolis(), "adam", 1, 10, 0.01)
    with pytest.raises(TypeError, match="wf"):
        optimize("psi", system, vmc.Metropolis())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimize(wf, system, vmc.Metropolis(), n_iterations=0, n_walkers=10, progressbar=False)


@pytest.mark.parametrize(("progressbar", "shown"), [(None, True), (True, True), (False, False)])
def test_progressbar_is_on_unless_false(progressbar, shown, capsys):
    _small(n_iterations=1, n_walkers=20, burn_in=2, progressbar=progressbar)
    assert ("vmc optimize" in capsys.readouterr().err) == shown


def _small(**kwargs):
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    options = {
        "n_walkers": 120,
        "learning_rate": 0.02,
        "random_state": 5,
        "progressbar": False,
        "burn_in": 50,
    }
    return optimize(wf, system, vmc.Metropolis(), "adam", **(options | kwargs))


def test_walker_groups_resume_from_a_checkpoint_exactly(tmp_path):
    full = _small(n_iterations=6, walker_groups=3)
    path = tmp_path / "groups.pt"
    _small(n_iterations=4, walker_groups=3, checkpoint=path, checkpoint_every=3)
    with pytest.raises(ValueError, match="walker_groups=2 but checkpoint"):
        _small(n_iterations=6, walker_groups=2, checkpoint=path)
    resumed = _small(n_iterations=6, checkpoint=path)  # groups come from the checkpoint
    assert resumed.history.equals(full.history)
    # Groups have their own streams: another chain, the same physics.
    single = _small(n_iterations=6)
    assert not single.history["energy"].equals(full.history["energy"])
    diff = single.history["energy"] - full.history["energy"]
    assert (diff.abs() < 5 * (single.history["stderr"] + full.history["stderr"])).all()


def test_format_1_checkpoints_still_resume(tmp_path):
    path = tmp_path / "v1.pt"
    first = _small(n_iterations=3, checkpoint=path)
    payload = torch.load(path, weights_only=False)
    (group,) = payload.pop("groups")
    payload.update(format="bayesphys.vmc.optimize/1", positions=group["positions"],
                   step_size=group["step_size"], generator=group["generator_state"])  # fmt: skip
    torch.save(payload, path)
    resumed = _small(n_iterations=5, checkpoint=path)
    assert resumed.history.iloc[:3].equals(first.history)
    assert resumed.history.equals(_small(n_iterations=5).history)


def test_group_sums_combine_to_the_moments_of_all_samples():
    from bayesphys.vmc._resident import GroupSums, reduce_sums

    gen = torch.Generator().manual_seed(0)
    steps, sizes, n_par = 4, [5, 3, 7], 3
    energies = [torch.randn(steps * w, generator=gen, dtype=torch.float64) + 2 for w in sizes]
    O = [torch.randn(steps * w, n_par, generator=gen, dtype=torch.float64) for w in sizes]

    def sums(e, o, w):
        wm = e.view(steps, w).mean(0)
        dev = o - o.mean(0)
        return GroupSums(e.numel(), w, float(e.mean()), float(((e - e.mean()) ** 2).sum()),
                         float(wm.mean()), float(((wm - wm.mean()) ** 2).sum()), 0.5 * e.numel(),
                         True, o.sum(0), (e - e.mean()) @ o, dev.T @ dev)  # fmt: skip

    totals = reduce_sums([sums(e, o, w) for e, o, w in zip(energies, O, sizes, strict=True)])
    e, o = torch.cat(energies), torch.cat(O)
    walker_means = torch.cat(
        [x.view(steps, w).mean(0) for x, w in zip(energies, sizes, strict=True)]
    )
    assert totals.energy == pytest.approx(float(e.mean()), rel=1e-14)
    assert totals.variance == pytest.approx(float(e.var()), rel=1e-12)
    assert totals.stderr == pytest.approx(float(walker_means.std() / sum(sizes) ** 0.5), rel=1e-12)
    assert totals.acceptance == pytest.approx(0.5)
    # R-hat over walkers from the moments equals ArviZ's non-split R-hat of the walker series.
    chains = torch.cat([x.view(steps, w) for x, w in zip(energies, sizes, strict=True)], 1)
    assert totals.r_hat == pytest.approx(
        float(az.rhat(chains.T.numpy(), method="identity")), rel=1e-10
    )
    torch.testing.assert_close(totals.gradient, 2 * ((e - e.mean()) @ o) / e.numel())
    torch.testing.assert_close(totals.overlap, torch.cov(o.T, correction=0))
    bad = sums(energies[0], O[0], sizes[0])
    with pytest.raises(FloatingPointError, match="non-finite"):
        reduce_sums([bad, GroupSums(**{**bad.__dict__, "finite": False})])


def test_progress_bar_shows_energy_error_variance_and_acceptance(capsys):
    from bayesphys.vmc.optimization import progress_summary

    row = {"energy": 3.000401, "stderr": 0.0000213, "variance": 0.00182, "acceptance": 0.5612,
           "r_hat": 1.00123}  # fmt: skip
    expected = "E = 3.00040 +- 0.00002 [var = 0.0018, acc = 0.56, R-hat = 1.001]"
    assert progress_summary(row) == expected
    vmc.optimize(
        vmc.GaussianJastrow(0.5, "pade", beta=0.3),
        vmc.QuantumDot(2),
        vmc.Metropolis(),
        "adam",
        2,
        50,
        steps_per_iteration=2,
        burn_in=4,
        progressbar=True,
    )
    err = capsys.readouterr().err
    assert "E = " in err and "+-" in err and "var = " in err and "acc = " in err
    assert "R-hat = " in err


def test_resume_uses_the_new_learning_rate_and_refuses_another_optimizer(tmp_path):
    """load_state_dict restored the checkpoint's learning rate: resuming with 1e-6 made the
    same update as with 0.01. Adam <-> SGD failed with KeyError 'momentum' / 'betas', and
    Adam <-> SR silently mixed the two rules in one history."""
    dot = vmc.QuantumDot(2)

    def run(path, optimizer, learning_rate, n_iterations):
        return vmc.optimize(vmc.GaussianJastrow(0.45, "pade", beta=0.3), dot, vmc.Metropolis(),
                            optimizer=optimizer, learning_rate=learning_rate,
                            n_iterations=n_iterations, n_walkers=20, burn_in=10,
                            checkpoint=path, progressbar=False)  # fmt: skip

    names = ["factors.0.alpha", "factors.1.beta"]
    steps = {}
    for learning_rate in (0.01, 1e-6):
        path = tmp_path / f"sgd-{learning_rate}.pt"
        run(path, "sgd", 0.01, 2)
        resumed = run(path, "sgd", learning_rate, 3)
        # A row holds the parameters its energy was measured at: the update of iteration 3
        # leads from its row to the final wave function.
        final = resumed.wavefunction.parameter_dict()
        before = resumed.history[names].to_numpy()[2]
        steps[learning_rate] = abs(np.array([final[n] for n in names]) - before).max()
    # SGD: the update is proportional to the learning rate (same walkers, same gradient).
    assert steps[1e-6] == pytest.approx(steps[0.01] * 1e-4, rel=1e-6)
    for saved, resumed in [("adam", "sgd"), ("sgd", "adam"), ("sr", "adam"), ("adam", "sr")]:
        path = tmp_path / f"{saved}.pt"
        run(path, saved, 0.01, 2)
        with pytest.raises(ValueError, match=f"written with optimizer='{saved}'"):
            run(path, resumed, 0.01, 3)
        assert len(run(path, saved, 0.01, 3).history) == 3  # the same rule resumes


def test_history_rows_hold_the_parameters_their_energy_was_measured_at():
    # psi = exp(-alpha x^2) in a 1-D trap (omega = 1): E(alpha) = alpha / 2 + 1 / (8 alpha)
    # exactly; a row's energy must match its own alpha, not the updated one.
    trap = vmc.HarmonicTrap(1, 1, omega=1.0)
    fit = vmc.optimize(vmc.GaussianJastrow(0.3), trap, vmc.Metropolis(), "sgd", 4,
                       learning_rate=0.05, n_walkers=4000, steps_per_iteration=50, burn_in=200,
                       random_state=0, progressbar=False)  # fmt: skip
    alpha = fit.history["factors.0.alpha"].to_numpy()
    exact = alpha / 2.0 + 1.0 / (8.0 * alpha)
    z = (fit.history["energy"].to_numpy() - exact) / fit.history["stderr"].to_numpy()
    assert np.all(np.abs(z) < 5), z
    assert alpha[0] == pytest.approx(0.3)  # the first row is the starting point
