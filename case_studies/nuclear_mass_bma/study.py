"""Quantified limits of the nuclear landscape: Bayesian averaging of GP-corrected mass models.

Each mass model's two-neutron separation energies are corrected by Gaussian processes fitted to
its residuals on AME2003, the corrected models are weighted by how well they predict the S2n
values measured since (AME2020), and the average gives S2n with credible intervals, the
probability that each nucleus is bound, and drip lines with ranges (Neufcourt et al., PRC 101,
044307 (2020)). Run ``bayesphys run nuclear-mass-bma --fast``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import numpy as np
import pandas as pd

from bayesphys import plotting, results
from bayesphys.bma import MassModelAveraging, residual_gp
from bayesphys.bma.plots import (
    empirical_coverage,
    plot_coverage,
    plot_existence_chart,
    plot_residual_maps,
    plot_weights,
)
from bayesphys.data.masses import load_ame, new_measurements, separation_energy
from bayesphys.report import markdown_table
from bayesphys.studies import run_as_script


def _rms(residual) -> float:
    residual = np.asarray(residual, dtype=float)
    return float(np.sqrt(np.nanmean(residual**2)))


# Units of the report's columns (separation energies and their errors in MeV).
UNITS = {
    "train_rms_bare": "MeV",
    "test_rms_bare": "MeV",
    "test_rms_corrected": "MeV",
    "log_score": "nats",
}


def model_table(bma: MassModelAveraging, test: pd.DataFrame, client=None) -> pd.DataFrame:
    """Per model: test rms bare and corrected, coverage of 68/95% intervals, weight, scores."""
    pred = bma.predict(test, client)
    rows = {}
    err = test["S2n_uncertainty"].to_numpy()
    for name, model in bma.corrected_.items():
        bare = model.predict(test["Z"], test["N"])[2]
        covered = np.isfinite(bare)
        z = ((test["S2n"] - pred[f"{name}_mean"]) / np.hypot(pred[f"{name}_std"], err)).to_numpy()
        rows[name] = {
            "n_test": int(covered.sum()),
            "train_rms_bare": model.residual_rms,
            "test_rms_bare": _rms(test["S2n"][covered] - bare[covered]),
            "test_rms_corrected": _rms(test["S2n"][covered] - pred[f"{name}_mean"][covered]),
            "coverage_68": float(np.mean(np.abs(z[covered]) < 1.0)),
            "coverage_95": float(np.mean(np.abs(z[covered]) < 1.96)),
            "log_score": float(bma.log_scores_[name]),
            "weight": float(bma.weights_[name]),
        }
    table = pd.DataFrame(rows).T
    table["reduction_%"] = 100 * (1 - table["test_rms_corrected"] / table["test_rms_bare"])
    z = ((test["S2n"] - pred["bma_mean"]) / np.hypot(pred["bma_std"], err)).to_numpy()
    z = z[np.isfinite(z)]  # nuclei that no model tabulates have no prediction
    table.loc["BMA"] = {
        "n_test": len(z),
        "test_rms_corrected": _rms(test["S2n"] - pred["bma_mean"]),
        "coverage_68": float(np.mean(np.abs(z) < 1.0)),
        "coverage_95": float(np.mean(np.abs(z) < 1.96)),
        "weight": 1.0,
    }
    table.index.name = "model"
    return table


def landscape(bma: MassModelAveraging, z_range: tuple[int, int], client=None) -> pd.DataFrame:
    """p_ex of every even-N nucleus (the S2n drip criterion) the models tabulate in z_range."""
    theories = [m.theory for m in bma.corrected_.values()]
    nuclei = pd.concat([t[["Z", "N"]] for t in theories]).drop_duplicates()
    nuclei = nuclei[nuclei["Z"].between(*z_range) & (nuclei["N"] % 2 == 0)]
    return bma.existence_probability(nuclei.sort_values(["Z", "N"]), client=client)


def save_figure(fig, path: Path) -> Path:
    return plotting.save(fig, path)


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    client=None,
) -> dict:
    """Fit, validate and average the mass models; write tables, figures and posteriors.

    ``client`` (a ``dask.distributed.Client``, e.g. from ``bayesphys run ... --workers N``)
    spreads the residual fits and the chart predictions over a Dask cluster; the numbers are
    the same as in-process.

    Returns
    -------
    dict
        ``table`` (per-model metrics, DataFrame), ``drip`` (drip lines), ``weights``, ``bma``
        (the fitted ``MassModelAveraging``) and ``files`` (name -> path).
    """
    settings = {**config["data"], **config["model"], **config["landscape"]}
    settings.update(config.get("fast", {}) if fast else {})
    seed = settings["seed"] if seed is None else seed
    progress = progress or (lambda step: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    z_range = (settings["z_min"], settings["z_max"])

    train = load_ame(settings["train_year"])
    train = train[train["Z"].between(*z_range)].reset_index(drop=True)
    test = new_measurements(settings["train_year"], settings["test_year"], "S2n", z_range=z_range)
    progress("data loaded")
    bma = MassModelAveraging(
        settings["models"],
        observable=settings["observable"],
        residual_model=residual_gp(settings["residual_method"]),
        weights=settings["weights"],
        random_state=seed,
    ).fit(train, test, client=client)
    progress("models corrected and weighted")

    table = model_table(bma, test, client)
    drip = bma.drip_line(settings["drip_elements"])
    chart = landscape(bma, z_range, client)
    progress("predictions")

    files = {}
    lines = [markdown_table(table.round(4)), "", "Drip lines (N of the last bound isotope):", ""]
    drip_shown = drip.assign(A_drip=drip["Z"] + drip["N_drip"])
    lines += [markdown_table(drip_shown, index=False)]
    files["summary_md"] = out_dir / "summary.md"
    files["summary_md"].write_text("\n".join(lines) + "\n")
    table.to_csv(out_dir / "models.csv")
    drip.to_csv(out_dir / "drip_lines.csv", index=False)
    chart.to_csv(out_dir / "existence_probability.csv", index=False)

    measured = separation_energy(train, "S2n")
    files["chart"] = save_figure(
        plot_existence_chart(chart, measured), out_dir / "existence_chart.png"
    )
    files["weights"] = save_figure(plot_weights(bma.weights_), out_dir / "weights.png")
    best = bma.weights_.idxmax()
    model = bma.corrected_[best]
    bare_train = measured.merge(model.theory, on=["Z", "N"])
    after, _, _ = model.predict(bare_train["Z"], bare_train["N"])
    files["residuals"] = save_figure(
        plot_residual_maps(
            bare_train["Z"],
            bare_train["N"],
            bare_train["S2n"] - bare_train["value"],
            bare_train["S2n"] - after,
            title=f"{best} S2n (AME{settings['train_year']}):",
        ),
        out_dir / "residual_maps.png",
    )
    pred = bma.predict(test)
    err = test["S2n_uncertainty"]
    bma_sd = np.hypot(pred["bma_std"], err)
    curves = {"BMA": empirical_coverage(test["S2n"], pred["bma_mean"], bma_sd)}
    for name in bma.corrected_:
        curves[name] = empirical_coverage(
            test["S2n"], pred[f"{name}_mean"], np.hypot(pred[f"{name}_std"], err)
        )
    files["coverage"] = save_figure(plot_coverage(curves, len(test)), out_dir / "coverage.png")
    files["weights_nc"] = results.save(bma.idata_, out_dir / "model_weights.nc")
    progress("outputs written")
    return {
        "table": table,
        "drip": drip,
        "weights": bma.weights_,
        "bma": bma,
        "files": files,
        "units": UNITS,
    }


if __name__ == "__main__":
    run_as_script(__file__)
