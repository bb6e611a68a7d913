"""The progress bar of ``vmc.estimate``: its figures come from running sums kept during the
steps, and they must equal what the final ``EnergyEstimate`` computes from the record."""

import math
import re
import warnings

import numpy as np
import pytest
import torch

from bayesphys import vmc
from bayesphys.core.stats import r_hat_split, r_hat_split_from_moments
from bayesphys.vmc import _distributed
from bayesphys.vmc._distributed import WalkerGroupTask, run_walker_group
from bayesphys.vmc._moments import SplitMoments
from bayesphys.vmc.estimation import progress_summary


class RecordingBar:
    """Stands in for the tqdm bar: keeps every postfix it is given."""

    def __init__(self):
        self.postfixes, self.n = [], 0

    def set_postfix_str(self, text, refresh=True):
        self.postfixes.append(text)

    def update(self, n=1):
        self.n += n


def _task(wf, system, sampler, n_walkers, n_steps, bar, method="auto", seed=0):
    return WalkerGroupTask(
        index=-1, wf=wf, system=system, sampler=sampler, n_walkers=n_walkers, n_steps=n_steps,
        burn_in=20, random_state=seed, method=method, init=None, density_bins=10, rmax=4.5,
        bar=bar,
    )  # fmt: skip


def _live_figures(text):
    numbers = re.fullmatch(r"E = (\S+) \+- (\S+) \[var = (\S+), acc = (\S+)\]", text)
    assert numbers, text
    return [float(v) for v in numbers.groups()]


# The numba step adds to the sums inside its loop; the generic path (method="analytic",
# and the Slater determinant, which has no numba step) adds after each step.
RUNS = {
    "numba": (lambda: vmc.GaussianJastrow(0.45, "pade", beta=0.3), 2, "auto"),
    "generic": (lambda: vmc.GaussianJastrow(0.45, "pade", beta=0.3), 2, "analytic"),
    "slater": (lambda: vmc.SlaterJastrow(6, alpha=0.45, beta=0.5), 6, "auto"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("n_steps", [33, 40])
def test_running_sums_equal_the_record(name, n_steps, monkeypatch):
    make, n, method = RUNS[name]
    monkeypatch.setattr(_distributed, "POSTFIX_INTERVAL", 0.0)  # a live postfix every step
    bar = RecordingBar()
    task = _task(make(), vmc.QuantumDot(n), vmc.Metropolis(), 300, n_steps, bar, method)
    run = run_walker_group(task)
    assert bar.n == n_steps and len(bar.postfixes) == n_steps
    series = run.energies.numpy().T  # (walkers, steps)
    half = n_steps // 2
    halves = (series[:, :half], series[:, n_steps - half :])
    for k, h in enumerate(halves):
        np.testing.assert_allclose(run.half_means[k], h.mean(axis=1), rtol=1e-13)
        np.testing.assert_allclose(
            run.half_variances[k], h.var(axis=1, ddof=1), rtol=1e-8, atol=1e-14
        )
    split = r_hat_split_from_moments(half, run.half_means, run.half_variances)
    assert split == pytest.approx(r_hat_split(series), rel=1e-10)
    # The last live figures are those of the whole record.
    mean, stderr, variance, acceptance = _live_figures(bar.postfixes[-1])
    walker_means = series.mean(axis=1)
    decimals = len(bar.postfixes[-1].split()[2].split(".")[1])
    assert mean == pytest.approx(series.mean(), abs=0.6 * 10**-decimals)
    assert stderr == pytest.approx(
        np.std(walker_means, ddof=1) / math.sqrt(series.shape[0]), abs=0.6 * 10**-decimals
    )
    assert variance == pytest.approx(series.var(), rel=0.06)  # printed to 2 digits
    assert acceptance == pytest.approx(run.acceptance, abs=0.006)


def test_live_moments_to_round_off_on_a_large_offset():
    rng = np.random.default_rng(4)
    energies = 65.7 + 0.01 * rng.normal(size=(50, 200))  # (steps, walkers): N = 12 scale
    moments = SplitMoments(200, 50)
    for t, row in enumerate(energies):
        moments.add(t, row.copy())
    mean, variance, stderr = moments.live()
    assert mean == pytest.approx(energies.mean(), rel=1e-14)
    assert variance == pytest.approx(energies.var(), rel=1e-9)
    assert stderr == pytest.approx(np.std(energies.mean(axis=0), ddof=1) / math.sqrt(200), rel=1e-9)
    means, variances = moments.halves()
    np.testing.assert_allclose(variances[1], energies[25:].var(axis=0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(means[0], energies[:25].mean(axis=0), rtol=1e-14)


def test_halves_only_for_a_complete_record():
    moments = SplitMoments(3, 16)
    for t in range(15):
        moments.add(t, np.full(3, 1.0 + t))
    assert moments.halves() is None  # 15 of 16 steps: an interrupted run's halves differ
    moments.add(15, np.full(3, 16.0))
    assert moments.halves() is not None
    assert moments.slot(7) == 0 and moments.slot(8) == 1
    odd = SplitMoments(3, 17)
    assert (odd.slot(7), odd.slot(8), odd.slot(9)) == (0, 2, 1)


def test_bar_hidden_keeps_no_sums():
    task = _task(vmc.GaussianJastrow(0.45, "pade"), vmc.QuantumDot(2), vmc.Metropolis(), 50, 16,
                 None)  # fmt: skip
    run = run_walker_group(task)
    assert run.half_means is None and run.half_variances is None


@pytest.mark.parametrize("walker_groups", [1, 3])
def test_last_bar_line_equals_the_estimate_summary(walker_groups, capsys):
    wf, dot = vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(2)
    est = vmc.estimate(
        wf, dot, vmc.Metropolis(), 300, 48, 40, walker_groups=walker_groups, progressbar=True
    )
    err = capsys.readouterr().err
    last = re.findall(r"E = [^\]]*\]", err)[-1]
    # From the series (no running sums), as the final EnergyEstimate computes it.
    assert last == progress_summary(est)
    assert "R-hat" in last


def test_interrupted_run_with_the_bar_prints_the_kept_steps(monkeypatch, capsys):
    from bayesphys.vmc import _numba_step

    calls = {"n": 0}
    original = _numba_step.NumbaMetropolis.step

    def step(self, *args):
        calls["n"] += 1
        if calls["n"] == 10 + 30:  # burn-in 10, then the 30th recorded step
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(_numba_step.NumbaMetropolis, "step", step)
    wf, dot = vmc.GaussianJastrow(0.45, "pade", beta=0.3), vmc.QuantumDot(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = vmc.estimate(wf, dot, vmc.Metropolis(), 50, 64, 10, progressbar=True)
    assert est.interrupted and est.local_energies.shape == (50, 29)
    last = re.findall(r"E = [^\]]*\]", capsys.readouterr().err)[-1]
    assert last.endswith(f"R-hat = {r_hat_split(est.local_energies):.3f}]")


def test_numba_step_refuses_sums_of_another_size():
    from bayesphys.vmc.samplers import Walkers

    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    walkers = Walkers(wf, vmc.QuantumDot(2), vmc.Metropolis(), 20, torch.Generator(),
                      compiled=True)  # fmt: skip
    walkers.compiled.moments_out = (SplitMoments(19, 16), 0)
    with pytest.raises(ValueError, match="moments"):
        walkers.step()
