"""Quantified limits of the nuclear landscape: Bayesian averaging of GP-corrected mass models.

Each mass model's two-neutron separation energies are corrected by Gaussian processes fitted to
its residuals on AME2003; the corrected models are weighted five ways (evidence, predictive,
stacking, existence, uniform) on the values AME2012 made computable, and every weighting is
tested on the values AME2020 added since (held out). The average gives S2n with credible
intervals, the probability that each nucleus is bound, and the two-neutron drip line with its
68% range (Neufcourt et al., PRC 101, 044307 (2020); PRL 122, 062502 (2019)). Run
``bayesphys run nuclear-mass-bma --fast``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

from bayesphys import plotting, results
from bayesphys.bma import ConcentratedWeightsWarning, MassModelAveraging, residual_gp
from bayesphys.bma._residuals import convergence_checks, residual_convergence
from bayesphys.bma.plots import (
    empirical_coverage,
    plot_coverage,
    plot_drip_line,
    plot_existence_chart,
    plot_residual_maps,
    plot_weights,
)
from bayesphys.data.masses import (
    DataCoverageWarning,
    existence_outcomes,
    heaviest_bound_isotopes,
    load_ame,
    model_quality,
    new_measurements,
    separation_energy,
)
from bayesphys.report import markdown_table
from bayesphys.studies import run_as_script

SYMBOLS = {8: "O", 11: "Na", 20: "Ca"}

# Units of every column the report shows (dimensionless numbers: "1").
UNITS = {
    "n_test": "nuclei",
    "train_rms_bare": "MeV",
    "test_rms_bare": "MeV",
    "test_rms_corrected": "MeV",
    "reduction_%": "%",
    "coverage_68": "1",
    "coverage_95": "1",
    "validation_log_score": "nats",
    "weight": "1",
    "N_eff": "models",
    "test_rms": "MeV",
    "test_log_score": "nats",
    "test_log_score_per_nucleus": "nats",
    "d_log_score": "nats",
    "se_d_log_score": "nats",
    "evidence": "1",
    "predictive": "1",
    "stacking": "1",
    "existence": "1",
    "uniform": "1",
    "Z": "1",
    "N_drip": "1",
    "N_low": "1",
    "N_high": "1",
    "A_drip": "1",
    "z_min": "1",
    "z_max": "1",
    "n_train": "nuclei",
    "n_2012": "nuclei",
    "n_2020": "nuclei",
    "rms_2003": "MeV",
    "rms_2012": "MeV",
    "rms_2020": "MeV",
    "ratio": "1",
}


def _nucleus(z: int, n: int) -> str:
    return f"{z + n}{SYMBOLS.get(z, f'(Z={z})')}"


def _rms(residual) -> float:
    residual = np.asarray(residual, dtype=float)
    return float(np.sqrt(np.nanmean(residual**2)))


def _z_score(y, mean, std, err) -> np.ndarray:
    return ((y - mean) / np.hypot(std, err)).to_numpy()


def model_table(bma: MassModelAveraging, test: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """Per model: test rms bare and corrected, coverage of 68/95% intervals, weight, scores."""
    rows = {}
    err = test["S2n_uncertainty"]
    for name, model in bma.corrected_.items():
        bare = model.predict(test["Z"], test["N"])[2]
        covered = np.isfinite(bare)
        z = _z_score(test["S2n"], pred[f"{name}_mean"], pred[f"{name}_std"], err)
        rows[name] = {
            "n_test": int(covered.sum()),
            "train_rms_bare": model.residual_rms,
            "test_rms_bare": _rms(test["S2n"][covered] - bare[covered]),
            "test_rms_corrected": _rms(test["S2n"][covered] - pred[f"{name}_mean"][covered]),
            "coverage_68": float(np.mean(np.abs(z[covered]) < 1.0)),
            "coverage_95": float(np.mean(np.abs(z[covered]) < 1.96)),
            "validation_log_score": float(bma.log_scores_[name]),
            "weight": float(bma.weights_[name]),
        }
    table = pd.DataFrame(rows).T
    table["reduction_%"] = 100 * (1 - table["test_rms_corrected"] / table["test_rms_bare"])
    table.index.name = "model"
    return table


def mixture_scores(
    pred: pd.DataFrame, weights: pd.Series, test: pd.DataFrame
) -> tuple[np.ndarray, dict]:
    """Held-out scores of the weighted mixture of the corrected models on ``test``.

    At each nucleus the weights are renormalised over the models that cover it (as in
    ``predict``). Coverage uses the mixture's own CDF (the probability integral transform
    ``u``: a central 68% interval covers y when 0.16 <= u <= 0.84), not a Gaussian with the
    mixture's sd; the log score is ``sum_i log sum_k w_k N(y_i; mu_ik, sd_ik^2 + err_i^2)``.
    Returns the per-nucleus log densities and the scores.
    """
    names = list(weights.index)
    mu = np.column_stack([pred[f"{k}_mean"] for k in names])
    sd = np.column_stack([np.hypot(pred[f"{k}_std"], test["S2n_uncertainty"]) for k in names])
    w = np.where(np.isfinite(mu), weights.to_numpy()[None, :], 0.0)
    keep = w.sum(axis=1) > 0
    w, mu, sd = w[keep] / w[keep].sum(axis=1, keepdims=True), mu[keep], sd[keep]
    y = test["S2n"].to_numpy()[keep, None]
    mu, sd = np.nan_to_num(mu), np.where(np.isfinite(sd), sd, 1.0)
    mean = (w * mu).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_density = logsumexp(np.log(w) + norm.logpdf(y, mu, sd), axis=1)
    pit = (w * norm.cdf((y - mu) / sd)).sum(axis=1)
    return log_density, {
        "n_test": int(keep.sum()),
        "test_rms": _rms(y[:, 0] - mean),
        "coverage_68": float(np.mean((pit >= 0.16) & (pit <= 0.84))),
        "coverage_95": float(np.mean((pit >= 0.025) & (pit <= 0.975))),
        "test_log_score": float(log_density.sum()),
        "test_log_score_per_nucleus": float(log_density.mean()),
    }


def compare_schemes(
    bma: MassModelAveraging,
    schemes: list[str],
    validation: pd.DataFrame,
    existence: pd.DataFrame,
    test: pd.DataFrame,
    pred: pd.DataFrame,
    benchmark: pd.DataFrame,
    client=None,
    notes: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, MassModelAveraging]]:
    """Every weighting scheme from the same residual fits: scores table and weights table.

    Coverage and concentration warnings are collected in ``notes`` (message -> None).
    """
    notes = {} if notes is None else notes
    rows, weights, fitted, per_nucleus = {}, {}, {}, {}
    for scheme in schemes:
        tables = {}
        if scheme in ("predictive", "stacking"):
            tables["validation_table"] = validation
        elif scheme == "existence":
            tables["existence_table"] = existence
        with warnings.catch_warnings(record=True) as caught:
            # Concentrated weights are what some schemes give (N_eff in the table says so), and
            # the coverage of each scheme's data is the same every time: both go into the
            # report's notes once, instead of onto the console once per scheme.
            warnings.simplefilter("always")
            same = scheme == bma.weights
            other = bma if same else bma.reweighted(scheme, client=client, **tables)
        for w in caught:
            if issubclass(w.category, (ConcentratedWeightsWarning, DataCoverageWarning)):
                notes.setdefault(f"{w.category.__name__}: {w.message}", None)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        fitted[scheme] = other
        weights[scheme] = other.weights_
        per_nucleus[scheme], scores = mixture_scores(pred, other.weights_, test)
        row = {"N_eff": other.effective_n_models_, **scores}
        p_ex = other.existence_probability(benchmark[["Z", "N"]], client=client)
        for (_, nucleus), p in zip(benchmark.iterrows(), p_ex["p_ex"], strict=True):
            row[f"p_ex({_nucleus(nucleus['Z'], nucleus['N'])})"] = float(p)
        rows[scheme] = row
    table = pd.DataFrame(rows).T
    # Paired over the same test nuclei: the difference to the best scheme and its standard
    # error sqrt(n) sd(d_i), so that a lead of a few nats can be told from noise.
    best = table["test_log_score"].astype(float).idxmax()
    for scheme in schemes:
        d = per_nucleus[scheme] - per_nucleus[best]
        table.loc[scheme, "d_log_score"] = float(d.sum())
        table.loc[scheme, "se_d_log_score"] = float(np.sqrt(len(d)) * np.std(d, ddof=1))
    table.index.name = "scheme"
    weight_table = pd.DataFrame(weights)
    weight_table.index.name = "model"
    return table, weight_table, fitted


def landscape(bma: MassModelAveraging, z_range: tuple[int, int], client=None) -> pd.DataFrame:
    """p_ex of every even-N nucleus (the S2n drip criterion) the models tabulate in z_range."""
    theories = [m.theory for m in bma.corrected_.values()]
    nuclei = pd.concat([t[["Z", "N"]] for t in theories]).drop_duplicates()
    nuclei = nuclei[nuclei["Z"].between(*z_range) & (nuclei["N"] % 2 == 0)]
    return bma.existence_probability(nuclei.sort_values(["Z", "N"]), client=client)


def save_figure(fig, path: Path) -> Path:
    return plotting.save(fig, path)


def _data(settings: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Training masses, validation and test S2n, and the existence set, in the study's window."""
    z_range = (settings["z_min"], settings["z_max"])

    def window(table):
        keep = table["Z"].between(*z_range) & (table["N"] >= settings["n_min"])
        return table[keep].reset_index(drop=True)

    old, mid, new = settings["train_year"], settings["validation_year"], settings["test_year"]
    train = window(load_ame(old))
    validation = window(new_measurements(old, mid, "S2n", z_range=z_range))
    test = window(new_measurements(mid, new, "S2n", z_range=z_range))
    existence = window(existence_outcomes(old, mid, "S2n", z_range=z_range))
    return train, validation, test, existence


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    return ["data loaded", "models corrected and weighted", "predictions", "outputs written"]


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    client=None,
) -> dict:
    """Fit, weigh five ways, test and average the mass models; write tables and figures.

    ``client`` (a ``dask.distributed.Client``, e.g. from ``bayesphys run ... --workers N``)
    spreads the residual fits and the chart predictions over a Dask cluster; the numbers are
    the same as in-process.

    Returns
    -------
    dict
        ``table`` (per-model metrics under the default scheme), ``schemes`` (the weighting
        schemes side by side), ``scheme_weights`` (model x scheme), ``quality`` (the models'
        data-quality check), ``drip`` (drip lines), ``weights``, ``bma`` (the fitted
        ``MassModelAveraging`` with the default weights), ``files`` and ``units``.
    """
    settings = {**config["data"], **config["model"], **config["landscape"]}
    settings.update(config.get("fast", {}) if fast else {})
    seed = settings["seed"] if seed is None else seed
    progress = progress or (lambda step: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    z_range = (settings["z_min"], settings["z_max"])
    default = settings["weights"]
    schemes = list(dict.fromkeys([default, *settings["schemes"]]))

    train, validation, test, existence = _data(settings)
    quality = model_quality("S2n", z_range=z_range)
    progress("data loaded")
    tables = {"existence_table": existence} if default == "existence" else {}
    if default in ("predictive", "stacking"):
        tables["validation_table"] = validation
    bma = MassModelAveraging(
        settings["models"],
        observable=settings["observable"],
        residual_model=residual_gp(
            settings["residual_method"], settings.get("residual_prior", "lattice")
        ),
        weights=default,
        random_state=seed,
    ).fit(train, client=client, **tables)
    # Sampled residual GPs (residual_method = "nuts") are checked as the report checks saved
    # posteriors (R-hat > 1.01, bulk ESS < 400, divergences): their draws are not saved.
    convergence = residual_convergence(bma.corrected_)
    progress("models corrected and weighted")

    pred = bma.predict(test, client)
    benchmark = pd.DataFrame(settings["benchmark"], columns=["Z", "N"])
    notes: dict = {}
    comparison, scheme_weights, _ = compare_schemes(
        bma, schemes, validation, existence, test, pred, benchmark, client, notes
    )
    table = model_table(bma, test, pred)
    drip = bma.drip_line(settings["drip_elements"])
    chart = landscape(bma, z_range, client)
    progress("predictions")

    best = comparison["test_log_score"].idxmax()
    known = heaviest_bound_isotopes()
    files = {}
    lines = [
        f"Training: S2n of AME{settings['train_year']}; weights from the {len(validation)} S2n "
        f"values new in AME{settings['validation_year']} (existence: their {len(existence)} "
        f"bound statuses, {int((~existence['bound']).sum())} unbound); test: the {len(test)} "
        f"S2n values new in AME{settings['test_year']}, held out from every weighting. "
        f"{len(bma.corrected_)} mass models. Residual GPs: {settings['residual_method']} "
        f"hyperparameters, {settings.get('residual_prior', 'lattice')} lengthscale prior "
        "(docs/bma.md, 'Lengthscale prior').",
        "",
        "Weighting schemes side by side (one set of residual fits; coverage from the "
        "mixture's own CDF; log scores summed over the test nuclei; d_log_score: difference to "
        "the best scheme, with its paired standard error se_d_log_score):",
        "",
        markdown_table(comparison.astype(float).round(4)),
        "",
        f"Best held-out log score: **{best}**. Default scheme of this configuration: "
        f"**{default}**"
        + (
            " (chosen on the full protocol's held-out log score and coverage)."
            if best == default
            else f" (chosen on the full protocol; on this run {best} scores better)."
        ),
        "",
        *(["Notes on the weighting data:", "", *[f"- {n}" for n in notes], ""] if notes else []),
        "Model weights under each scheme:",
        "",
        markdown_table(scheme_weights.round(4)),
        "",
        f"Per model under the default scheme ({default}); test values new in "
        f"AME{settings['test_year']}:",
        "",
        markdown_table(table.astype(float).round(4)),
        "",
        "Data-quality check of the shipped mass models (`bayesphys.data.masses.model_quality`;"
        " rms of S2n against AME2003, the values new in AME2012 and those new in AME2020):",
        "",
        markdown_table(quality.round(3)),
        "",
        "Two-neutron drip lines (N of the last bound even-N isotope, 68% range):",
        "",
    ]
    drip_shown = drip.assign(A_drip=drip["Z"] + drip["N_drip"])
    lines += [markdown_table(drip_shown, index=False)]
    files["summary_md"] = out_dir / "summary.md"
    files["summary_md"].write_text("\n".join(lines) + "\n")
    table.to_csv(out_dir / "models.csv")
    comparison.to_csv(out_dir / "schemes.csv")
    scheme_weights.to_csv(out_dir / "scheme_weights.csv")
    quality.to_csv(out_dir / "model_quality.csv")
    drip.to_csv(out_dir / "drip_lines.csv", index=False)
    chart.to_csv(out_dir / "existence_probability.csv", index=False)
    if len(convergence):
        convergence.to_csv(out_dir / "residual_convergence.csv")

    measured = separation_energy(train, "S2n")
    files["chart"] = save_figure(
        plot_existence_chart(chart, measured), out_dir / "existence_chart.png"
    )
    files["drip"] = save_figure(plot_drip_line(drip, known), out_dir / "drip_line.png")
    files["weights"] = save_figure(plot_weights(bma.weights_), out_dir / "weights.png")
    top = bma.weights_.idxmax()
    model = bma.corrected_[top]
    bare_train = measured.merge(model.theory, on=["Z", "N"])
    after, _, _ = model.predict(bare_train["Z"], bare_train["N"])
    files["residuals"] = save_figure(
        plot_residual_maps(
            bare_train["Z"],
            bare_train["N"],
            bare_train["S2n"] - bare_train["value"],
            bare_train["S2n"] - after,
            title=f"{top} S2n (AME{settings['train_year']}):",
        ),
        out_dir / "residual_maps.png",
    )
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
        "schemes": comparison,
        "scheme_weights": scheme_weights,
        "quality": quality,
        "drip": drip,
        "weights": bma.weights_,
        "bma": bma,
        "files": files,
        "checks": convergence_checks(convergence),
        "units": {**UNITS, **{c: "1" for c in comparison.columns if c.startswith("p_ex")}},
    }


if __name__ == "__main__":
    run_as_script(__file__)
