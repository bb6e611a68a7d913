"""Family progress bars: kept on screen on their own, gone when nested under a study's bar."""

import pytest
import torch

from bayesphys import vmc
from bayesphys.core.samplers import sample
from bayesphys.studies import StudyProgress


def _screen(text: str) -> list[str]:
    """The non-empty lines a terminal shows after printing ``text`` (\\r, \\n, cursor up)."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(text):
        if text.startswith("\x1b[A", i):
            row, i = max(row - 1, 0), i + 3
            continue
        char = text[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1 :]
            col += 1
        i += 1
    return [line.rstrip() for line in lines if line.strip()]


def _sample():
    def log_prob(x):
        return -0.5 * (x**2).sum(-1)

    sample(log_prob, torch.zeros(2, 1), draws=20, tune=20, random_state=0, progressbar=True)


def _estimate():
    dot = vmc.HarmonicTrap(2, 2, omega=1.0, interaction="coulomb")
    wf = vmc.GaussianJastrow(0.9, "pade", beta=0.4)
    vmc.estimate(wf, dot, vmc.Metropolis(1.0), 64, 32, 16, random_state=0, progressbar=True)


def _optimize():
    dot = vmc.HarmonicTrap(1, 1, omega=1.0)
    vmc.optimize(
        vmc.GaussianJastrow(0.8), dot, vmc.Metropolis(1.0), "adam", 3,
        n_walkers=32, steps_per_iteration=4, burn_in=4, random_state=0, progressbar=True,
    )  # fmt: skip


RUNS = {"sample": (_sample, "draws"), "estimate": (_estimate, "E = "), "optimize": (_optimize,
        "vmc optimize")}  # fmt: skip


@pytest.mark.parametrize("name", RUNS)
def test_a_run_on_its_own_keeps_its_last_line(name, capsys):
    run, mark = RUNS[name]
    run()
    screen = _screen(capsys.readouterr().err)
    assert any(mark in line for line in screen), screen


@pytest.mark.parametrize("name", RUNS)
def test_a_run_under_a_study_bar_leaves_only_the_study_line(name, capsys):
    run, mark = RUNS[name]
    with StudyProgress(show=True, desc="toy") as progress:
        progress.expect(2)
        run()
        progress("ran")
    screen = _screen(capsys.readouterr().err)
    assert not any(mark in line for line in screen), screen
    assert len(screen) == 1 and screen[0].startswith("toy: 1/2 steps"), screen
