"""Emulate a damped-oscillator simulation with a Gaussian process, with calibrated uncertainty.

A "simulator" integrates ``x'' + 2 zeta omega x' + omega^2 x = 0`` numerically and returns
``x(t_end)``. A GP trained on a few dozen runs over ``(omega, zeta)`` predicts the output with an
uncertainty; held-out runs on a grid measure its accuracy and the coverage of its intervals.
Run ``bayesphys run gp-emulator --fast`` (or ``python study.py --fast``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.stats import qmc

from bayesphys import plotting, results
from bayesphys.gp import GPRegression
from bayesphys.inference import MAP
from bayesphys.report import markdown_table
from bayesphys.studies import StudyProgress, as_progress, run_as_script

LEVELS = np.array([0.5, 0.68, 0.8, 0.9, 0.95, 0.99])


def simulate(theta: np.ndarray, t_end: float, bar=None) -> np.ndarray:
    """Displacement ``x(t_end)`` for each row ``(omega, zeta)``: one ODE solve per row.

    ``bar`` (an object with ``update()``, such as a tqdm bar) is advanced after each solve.
    """

    def one(omega, zeta):
        def rhs(_, s):
            return [s[1], -2.0 * zeta * omega * s[1] - omega**2 * s[0]]

        sol = solve_ivp(rhs, (0.0, t_end), [1.0, 0.0], rtol=1e-10, atol=1e-12)
        return sol.y[0, -1]

    out = []
    for w, z in theta:
        out.append(one(w, z))
        if bar is not None:
            bar.update()
    return np.array(out)


def bounds(sim: dict) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([sim["omega_min"], sim["zeta_min"]]),
        np.array([sim["omega_max"], sim["zeta_max"]]),
    )


def design(sim: dict, n: int, seed: int) -> np.ndarray:
    """Scrambled Sobol points in the parameter box (space-filling training runs)."""
    lo, hi = bounds(sim)
    unit = qmc.Sobol(d=2, scramble=True, seed=seed).random(n)
    return qmc.scale(unit, lo, hi)


def grid(sim: dict, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = bounds(sim)
    w, z = np.meshgrid(np.linspace(lo[0], hi[0], k), np.linspace(lo[1], hi[1], k))
    return w, z, np.column_stack([w.ravel(), z.ravel()])


def coverage(truth: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Fraction of held-out runs inside the central interval at each level of ``LEVELS``."""
    half = stats.norm.ppf(0.5 + LEVELS / 2)
    return np.array([np.mean(np.abs(truth - mean) <= h * std) for h in half])


@plotting.style()
def plot_surfaces(path, w, z, truth, mean, std, theta_train):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [
        (truth, "simulator x(t_end)", "RdBu_r", "x(t_end) (units of x(0))"),
        (mean, "GP emulator mean", "RdBu_r", "x(t_end) (units of x(0))"),
        (np.abs(mean - truth) / std, "|error| / predicted std", "viridis", "|error| / std"),
    ]
    # Truth and emulator share one colour scale so that they can be compared by eye.
    limit = float(np.max(np.abs(truth)))
    scales = [(-limit, limit), (-limit, limit), (0.0, None)]
    for ax, (values, title, cmap, unit), (vmin, vmax) in zip(axes, panels, scales, strict=True):
        mesh = ax.pcolormesh(
            w, z, values.reshape(w.shape), cmap=cmap, shading="auto", vmin=vmin, vmax=vmax
        )
        ax.scatter(*theta_train.T, s=12, c="k", label="training runs")
        ax.set(xlabel=r"$\omega$ (rad / unit time)", ylabel=r"$\zeta$ (damping ratio)", title=title)
        fig.colorbar(mesh, ax=ax, label=unit)
    axes[0].legend(loc="upper right")
    plotting.save(fig, path)


@plotting.style()
def plot_calibration(path, observed, z_scores):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot([0.4, 1.0], [0.4, 1.0], "k--", lw=1, label="ideal")
    axes[0].plot(LEVELS, observed, "o-", label="held-out runs")
    axes[0].set(xlabel="nominal coverage", ylabel="observed coverage", title="interval coverage")
    axes[0].legend()
    grid_z = np.linspace(-4, 4, 200)
    axes[1].hist(np.clip(z_scores, -4, 4), bins=30, density=True, alpha=0.6, label="held-out")
    axes[1].plot(grid_z, stats.norm.pdf(grid_z), "k", label="N(0, 1)")
    axes[1].set(xlabel="(truth - mean) / std", ylabel="density", title="standardised errors")
    axes[1].legend()
    plotting.save(fig, path)


# Units of the report's columns and of the GP's hyperparameters. The simulator is
# dimensionless: time in units of 1/omega's unit, the output x(t_end) in units of x(0).
UNITS = {
    "nominal": "1",
    "observed": "1",
    "outputscale": "x(0)^2",  # the signal variance
    "lengthscale[x0]": "1/time",  # omega, an angular frequency
    "lengthscale[x1]": "1",  # zeta, the damping ratio, is dimensionless
    "mean_constant": "x(0)",
    "noise": "x(0)",  # a standard deviation
}


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    return ["training runs simulated", "GP fitted", "held-out runs simulated", "outputs written"]


def run(
    config: dict,
    out_dir,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: StudyProgress | None = None,
) -> dict:
    """Train the emulator, evaluate it on held-out runs, write figures and tables.

    ``progress`` (see :func:`steps`) is told each finished step and shows the simulator runs.

    Returns
    -------
    dict with ``files`` (name -> path), ``table`` (coverage by level), ``rmse``, ``coverage_95``,
    ``hyperparameters``, ``model`` and ``units``.
    """
    progress = as_progress(progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sim, des, mod = config["simulator"], dict(config["design"]), dict(config["model"])
    if fast:
        for key, value in config.get("fast", {}).items():
            (mod if key in mod else des)[key] = value
    seed = des["seed"] if seed is None else seed
    theta = design(sim, des["n_train"], seed)
    with progress.substeps(len(theta), "training runs") as bar:
        y = simulate(theta, sim["t_end"], bar)
    progress("training runs simulated")
    gp = GPRegression(
        kernel=mod["kernel"],
        mean=mod["mean"],
        method=MAP(n_restarts=mod["n_restarts"]),
        random_state=seed,
    ).fit(theta, y, progressbar=progress.bars)
    progress("GP fitted")
    w, z, theta_test = grid(sim, des["grid"])
    with progress.substeps(len(theta_test), "held-out runs") as bar:
        truth = simulate(theta_test, sim["t_end"], bar)
    progress("held-out runs simulated")
    mean, std = gp.predict(theta_test, return_std=True)
    observed = coverage(truth, mean, std)
    rmse = float(np.sqrt(np.mean((mean - truth) ** 2)))

    files = {
        "surfaces": out_dir / "emulator.png",
        "calibration": out_dir / "calibration.png",
        "summary": out_dir / "summary.md",
        "coverage": out_dir / "coverage.csv",
        "posterior": out_dir / "hyperparameters.nc",
    }
    plot_surfaces(files["surfaces"], w, z, truth, mean, std, theta)
    plot_calibration(files["calibration"], observed, (truth - mean) / std)
    table = pd.DataFrame({"nominal": LEVELS, "observed": observed})
    table.to_csv(files["coverage"], index=False)
    n_test = len(truth)
    lines = [
        f"Training runs: {len(y)}; held-out runs: {n_test}; output range "
        f"[{truth.min():.3f}, {truth.max():.3f}].",
        f"Held-out RMSE: {rmse:.4f}; mean predicted std: {float(std.mean()):.4f}.",
        f"Binomial standard error of a 95% coverage over {n_test} runs: "
        f"{np.sqrt(0.95 * 0.05 / n_test):.3f} (held-out errors are correlated, so the real "
        "uncertainty is larger).",
        "",
        markdown_table(table, index=False),
    ]
    files["summary"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    results.save(gp.idata_, files["posterior"])
    progress("outputs written")
    return {
        "files": files,
        "table": table,
        "rmse": rmse,
        "coverage_95": float(observed[LEVELS == 0.95][0]),
        "hyperparameters": gp.hyperparameters_,
        "model": gp,
        "y_range": float(np.ptp(truth)),
        "train_std": gp.predict(theta, return_std=True)[1],
        "units": UNITS,
    }


if __name__ == "__main__":
    run_as_script(__file__)
