"""Two electrons in a 2-D quantum dot by variational Monte Carlo with three trial functions.

Gaussian x Pade-Jastrow, a Gaussian-binary RBM and RBM x Pade-Jastrow are optimised by
``bayesphys.vmc.optimize`` and evaluated by ``vmc.estimate`` (blocking error bars). Outputs: a
table against the exact energy 3.0 and the published values, energy-vs-iteration curves with
error bars, the blocking plot, radial one-body densities and, per trial function, the local
energy series as InferenceData (``local_energy_<model>.nc``: chain = walker, draw = step). Run
``python study.py --fast --out /tmp/dot``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesphys import plotting, results, vmc
from bayesphys.core.interrupts import is_interrupted
from bayesphys.studies import StudyProgress, as_progress, run_as_script


def make_wavefunction(name: str, spec: dict) -> vmc.WaveFunction:
    """Trial function of one ``[models.*]`` entry."""
    if name == "pade":
        return vmc.GaussianJastrow(spec["alpha"], "pade", beta=spec["beta"])
    jastrow = "pade" if name == "rbm_pade" else None
    # sigma^2 = 1/2 makes sqrt(F) start from the exact oscillator Gaussian exp(-r^2/2).
    return vmc.RBM(2, 2, spec["n_hidden"], jastrow=jastrow, sigma=0.5**0.5)


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    names = [f"{name}: {what}" for name in config["models"] for what in ("optimised", "estimated")]
    return [*names, "outputs written"]


def fit_models(
    config: dict, settings: dict, seed: int, client=None, progress: StudyProgress | None = None
) -> dict:
    """Optimise and evaluate every model; returns name -> (OptimizationResult, EnergyEstimate).

    ``progress`` is told each finished optimisation and estimate (:func:`steps`), and shows
    the bars of ``vmc.optimize`` and ``vmc.estimate`` when it shows bars.

    Raises
    ------
    KeyboardInterrupt
        If ``vmc.optimize`` or ``vmc.estimate`` was interrupted (Ctrl-C) and returned a partial
        result marked interrupted: a truncated optimisation must never be evaluated and
        reported as if it had finished, so the runner's interrupt handling takes over.
    """
    system = vmc.HarmonicTrap(2, 2, config["system"]["omega"], "coulomb")
    spread = {"walker_groups": settings.get("walker_groups"), "client": client}
    progress = as_progress(progress)
    out = {}
    for k, (name, spec) in enumerate(config["models"].items()):
        wf = make_wavefunction(name, spec)
        fit = vmc.optimize(
            wf, system, vmc.Metropolis(), spec["optimizer"], settings["n_iterations"],
            settings["n_walkers"], learning_rate=spec["learning_rate"], random_state=seed + k,
            progressbar=progress.bars, **spread,
        )  # fmt: skip
        _stop_if_interrupted(fit, f"vmc.optimize of model {name!r}")
        progress(f"{name}: optimised")
        est = vmc.estimate(
            fit.wavefunction, system, vmc.Metropolis(), settings["estimate_walkers"],
            settings["estimate_steps"], settings["burn_in"], random_state=seed + 100 + k,
            progressbar=progress.bars, **spread,
        )  # fmt: skip
        _stop_if_interrupted(est, f"vmc.estimate of model {name!r}")
        progress(f"{name}: estimated")
        out[name] = (fit, est)
    return out


def _stop_if_interrupted(result: object, what: str) -> None:
    """Re-raise the Ctrl-C a library caught: its marked partial result ends the study."""
    if is_interrupted(result):
        raise KeyboardInterrupt(f"{what} was interrupted")


# Energies in units of hbar * omega (hbar = m = 1): see bayesphys.vmc.
UNITS = {
    "energy": "hbar omega",
    "stderr": "hbar omega",
    "variance": "(hbar omega)^2",
    "reference": "hbar omega",
    "above_exact_in_stderr": "1",
    "local_energy": "hbar omega",
}


def summary_table(config: dict, fitted: dict) -> pd.DataFrame:
    """One row per model plus the exact energy."""
    exact = config["system"]["exact"]
    rows = [{"model": "exact (Taut 1993)", "energy": exact, "stderr": 0.0, "variance": 0.0,
             "reference": "3.0"}]  # fmt: skip
    for name, (_, est) in fitted.items():
        spec = config["models"][name]
        rows.append({"model": spec["label"], "energy": est.energy, "stderr": est.stderr,
                     "variance": est.variance, "reference": spec["reference"]})  # fmt: skip
    table = pd.DataFrame(rows).set_index("model")
    table["above_exact_in_stderr"] = (table["energy"] - exact) / table["stderr"].replace(0, np.nan)
    return table


def markdown_table(table: pd.DataFrame) -> str:
    """GitHub-flavoured markdown of the summary table (no tabulate dependency)."""
    cols = ["model", *table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for model, row in table.iterrows():
        cells = [f"{v:.5f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(model), *cells]) + " |")
    return "\n".join(lines) + "\n"


@plotting.style()
def plot_history(path: Path, config: dict, fitted: dict) -> None:
    """Energy per iteration with its error bar, for every model."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (fit, _) in fitted.items():
        h = fit.history
        ax.errorbar(h.index, h["energy"], yerr=h["stderr"], fmt=".-", ms=3, capsize=2,
                    label=config["models"][name]["label"])  # fmt: skip
    ax.axhline(config["system"]["exact"], color="k", ls="--", lw=1, label="exact 3.0")
    ax.set(xlabel="optimisation step", ylabel="energy ± standard error (a.u.)",
           title="VMC optimisation, 2 electrons 2-D")  # fmt: skip
    ax.legend()
    plotting.save(fig, path)


@plotting.style()
def plot_blocking(path: Path, est: vmc.EnergyEstimate, label: str) -> None:
    """Classic blocking error per level, the chosen level and the lag-corrected error there."""
    se = est.blocking.stderr_by_level
    fig, ax = plt.subplots(figsize=(6, 4))
    # The curve is a standard error, sqrt(s_k^2 / (n_k - 1)), so its label names one.
    ax.plot(np.arange(se.size), se, "o-", label="standard error at level k, pooled over walkers")
    ax.axvline(est.blocking.level, color="C3", ls=":", label=f"chosen level {est.blocking.level}")
    ax.axhline(est.stderr, color="C2", ls="--", label="reported (lag-1 corrected)")
    ax.set(xlabel="blocking level k (block length $2^k$)",
           ylabel="standard error of the energy (a.u.)", title=f"Blocking: {label}")  # fmt: skip
    ax.legend()
    plotting.save(fig, path)


@plotting.style()
def plot_density(path: Path, config: dict, fitted: dict) -> None:
    """Radial one-body densities against the non-interacting one (Coulomb pushes outwards)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (_, est) in fitted.items():
        ax.plot(est.density_r, est.density, label=config["models"][name]["label"])
    r = next(iter(fitted.values()))[1].density_r
    omega = config["system"]["omega"]
    ax.plot(r, 2 * omega * np.exp(-omega * r**2) / np.pi, "k--", label="non-interacting")
    ax.set(xlabel="r (a.u.)", ylabel=r"$\rho(r)$ (a.u.$^{-2}$)",
           title="One-body density (normalised to N = 2)")  # fmt: skip
    ax.legend()
    plotting.save(fig, path)


def energy_series(est: vmc.EnergyEstimate, name: str, label: str) -> results.InferenceData:
    """The local energies of one estimate (chain = walker, draw = step) with its numbers.

    ``EnergyEstimate.idata`` holds the series twice (``posterior`` and ``sample_stats``); one
    copy is enough for the file, and the blocking error, which the walkers' R-hat and ESS do
    not give, travels in its attributes.
    """
    attrs = {"inference_method": "vmc", "model": name, "label": label, "units": "a.u."}
    attrs |= {key: float(getattr(est, key)) for key in ("energy", "stderr", "variance")}
    with warnings.catch_warnings():
        # Walkers are the chains, and there may be more of them than steps: that is no mistake.
        warnings.filterwarnings("ignore", "More chains", UserWarning)
        return results.to_inference_data({"local_energy": est.local_energies}, attrs=attrs)


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    client=None,
    progress: StudyProgress | None = None,
) -> dict:
    """Run the study; write figures and tables to ``out_dir``.

    Parameters
    ----------
    config : dict
        Parsed ``config.toml``.
    out_dir : Path
        Output folder (created).
    fast : bool
        Use the ``[fast]`` overrides.
    seed : int, optional
        Overrides ``run.seed``.
    client : dask.distributed.Client, optional
        Spread the walkers of every optimisation and estimate over this cluster (``bayesphys
        run quantum-dot-vmc --workers N``). Set ``run.walker_groups`` for numbers that do not
        depend on whether a client is used.
    progress : StudyProgress, optional
        Told each finished step (:func:`steps`); shows the optimiser's and estimator's bars.

    Returns
    -------
    dict
        ``table`` (DataFrame), ``fits`` (name -> (OptimizationResult, EnergyEstimate)) and
        ``files`` (name -> path).
    """
    settings = {**config["run"], **(config.get("fast", {}) if fast else {})}
    seed = settings["seed"] if seed is None else int(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = as_progress(progress)
    fitted = fit_models(config, settings, seed, client, progress)
    table = summary_table(config, fitted)
    files = {
        "history": out_dir / "energy_history.png",
        "blocking": out_dir / "blocking.png",
        "density": out_dir / "density.png",
        "table_csv": out_dir / "energies.csv",
        "table_md": out_dir / "energies.md",
    }
    plot_history(files["history"], config, fitted)
    plot_blocking(files["blocking"], fitted["pade"][1], config["models"]["pade"]["label"])
    plot_density(files["density"], config, fitted)
    table.to_csv(files["table_csv"])
    files["table_md"].write_text(markdown_table(table))
    for name, (_, est) in fitted.items():
        series = energy_series(est, name, config["models"][name]["label"])
        files[f"local_energy_{name}"] = results.save(series, out_dir / f"local_energy_{name}.nc")
    progress("outputs written")
    return {"table": table, "fits": fitted, "files": files, "units": UNITS}


if __name__ == "__main__":
    run_as_script(__file__)
