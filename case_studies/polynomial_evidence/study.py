"""Choose the degree of a calibration polynomial by Bayesian evidence and by LOO.

Synthetic data from a cubic with known heteroscedastic errors are fitted by polynomials of degree
0..max_degree (conjugate Gaussian posteriors) and ranked by log evidence and by leave-one-out
predictive density. Ridge and lasso paths show the MAP coefficients of the largest model under
Normal and Laplace priors of varying scale. Run ``python study.py --fast --out /tmp/poly``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from bayesphys import plotting, results
from bayesphys.inference import MAP, Conjugate
from bayesphys.linear import BayesianLinearRegression, compare_models, polynomial_features
from bayesphys.priors import Laplace, Normal
from bayesphys.report import markdown_table
from bayesphys.studies import StudyProgress, as_progress, run_as_script

Array = np.ndarray


def simulate(data: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``x``, known errors ``y_err``, observations ``y`` and the true curve at ``x``."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, data["n"]))
    y_err = rng.uniform(data["err_min"], data["err_max"], data["n"])
    f_true = np.polynomial.polynomial.polyval(x, data["true_coefficients"])
    return x, f_true + y_err * rng.standard_normal(data["n"]), y_err, f_true


def design(x: np.ndarray, degree: int) -> pd.DataFrame:
    """Monomials ``x..x^degree``; degree 0 is one all-zero column.

    ``X`` must have a column, and a zero column leaves the likelihood untouched: its coefficient
    keeps its prior and its Occam factor is exactly 1, so the fit is the intercept-only model.
    """
    if degree == 0:
        return pd.DataFrame({"zero": np.zeros(len(x))})
    return pd.DataFrame(
        polynomial_features(x, degree), columns=[f"x^{k}" for k in range(1, degree + 1)]
    )


def map_path(x: Array, y: Array, y_err: Array, degree: int, prior: type, scales: Array) -> Array:
    """MAP coefficients (n_scales, degree) for ``prior(0, scale)`` at each scale."""
    X = polynomial_features(x, degree)
    fits = [
        BayesianLinearRegression(prior(0.0, s), noise=0.0, method=MAP()).fit(X, y, y_err=y_err)
        for s in scales
    ]
    return np.array([m.coef_ for m in fits])


def exact_loo(model: BayesianLinearRegression, X: pd.DataFrame, y: Array, y_err: Array) -> float:
    """Exact leave-one-out elpd of a Gaussian-posterior fit with known errors, without refits.

    The posterior of ``f_i`` is the LOO ("cavity") posterior times the Gaussian likelihood of
    ``y_i``; dividing that term back out gives ``p(y_i | y_-i)`` exactly. PSIS-LOO estimates the
    same quantity by importance sampling and becomes unreliable at high-leverage points.
    """
    mean, sd = model.predict(X, return_std=True, include_noise=False)
    prec = 1.0 / sd**2 - 1.0 / y_err**2
    loo_mean = (mean / sd**2 - y / y_err**2) / prec
    loo_var = 1.0 / prec + y_err**2
    return float(np.sum(-0.5 * (np.log(2 * np.pi * loo_var) + (y - loo_mean) ** 2 / loo_var)))


def compare_degrees(
    x: Array,
    y: Array,
    y_err: Array,
    settings: dict,
    seed: int,
    progress: StudyProgress | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Fit degrees 0..max_degree; table of evidence, PSIS-LOO, exact LOO and chi^2 by degree."""
    # Known errors carry all the noise (noise=0): the posterior is conjugate and the evidence exact.
    models = {}
    degrees = range(settings["max_degree"] + 1)
    with as_progress(progress).substeps(len(degrees), "degrees") as bar:
        for deg in degrees:
            reg = BayesianLinearRegression(
                Normal(0.0, settings["prior_scale"]),
                noise=0.0,
                method=Conjugate(draws=settings["draws"], chains=settings["chains"]),
                random_state=seed + deg,
            )
            models[deg] = reg.fit(design(x, deg), y, y_err=y_err)
            bar.update()
    with warnings.catch_warnings():
        # Precise points at the ends of the range have high leverage, so Pareto k > 0.7 occurs
        # even for the true degree: the table reports k (and exact LOO) instead of warnings.
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        table = compare_models(models).sort_index()
        table["max_pareto_k"] = [
            float(results.loo(m.idata_, pointwise=True).pareto_k.max()) for m in models.values()
        ]
    table.index.name = "degree"
    table["elpd_loo_exact"] = [exact_loo(m, design(x, d), y, y_err) for d, m in models.items()]
    pulls = [(y - m.predict(design(x, d))) / y_err for d, m in models.items()]
    table["chi2"] = [float(r @ r) for r in pulls]
    return models, table


@plotting.style()
def plot_fit(
    path: Path,
    x: Array,
    y: Array,
    y_err: Array,
    model: BayesianLinearRegression,
    degree: int,
    coefficients: list[float],
) -> None:
    """Data, true curve and posterior bands of the latent curve; pulls underneath."""
    grid = np.linspace(-1.0, 1.0, 300)
    mean, sd = model.predict(design(grid, degree), return_std=True, include_noise=False)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1])
    top.fill_between(grid, mean - 2 * sd, mean + 2 * sd, color="C0", alpha=0.2, label="95% band")
    top.fill_between(grid, mean - sd, mean + sd, color="C0", alpha=0.35, label="68% band")
    top.plot(grid, mean, "C0", label=f"posterior mean, degree {degree}")
    top.plot(grid, np.polynomial.polynomial.polyval(grid, coefficients), "k--", label="truth")
    top.errorbar(x, y, y_err, fmt="o", ms=3, color="C3", label="data ± y_err")
    top.set(ylabel="y (arbitrary units)", title=f"Evidence-chosen model: degree {degree}")
    top.legend()
    bottom.axhspan(-1, 1, color="0.9")
    bottom.plot(x, (y - model.predict(design(x, degree))) / y_err, "o", ms=3, color="C3")
    bottom.axhline(0, color="k", lw=0.8)
    bottom.set(xlabel="x (reduced, dimensionless)", ylabel="pull", ylim=(-3.5, 3.5))
    bottom.set_title("pulls (y - mean) / y_err; grey: ±1", fontsize="small", loc="left")
    fig.align_ylabels([top, bottom])
    plotting.save(fig, path)


@plotting.style()
def plot_criteria(path: Path, table: pd.DataFrame, true_degree: int, floor: float = -40) -> None:
    """Both criteria in nats relative to their best; off-scale points drawn at the floor."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    deg = table.index.to_numpy()
    exact = table["elpd_loo_exact"] - table["elpd_loo"].max()
    off_scale = False
    # Off-scale triangles of the three criteria sit side by side rather than on top of each other.
    for col, label, color, nudge in (
        ("log_evidence", "log evidence", "C0", -0.1),
        ("elpd_loo", "elpd PSIS-LOO ± se", "C1", 0.0),
    ):
        delta = table[col] - table[col].max()
        shown = delta > floor
        err = table["elpd_se"][shown] if col == "elpd_loo" else None
        left.errorbar(deg[shown], delta[shown], err, fmt="o-", color=color, label=label, capsize=3)
        left.plot(deg[~shown] + nudge, np.full((~shown).sum(), floor), "v", color=color)
        off_scale |= bool((~shown).any())
    left.plot(deg[exact > floor], exact[exact > floor], "x--", color="C2", label="exact LOO")
    left.plot(deg[exact <= floor] + 0.1, np.full((exact <= floor).sum(), floor), "v", color="C2")
    off_scale |= bool((exact <= floor).any())
    if off_scale:
        # A handle of its own says what the triangles at the floor are.
        left.plot(
            [], [], "v", color="0.4", label=f"off scale (< {floor:g} nats), drawn at {floor:g}"
        )
    left.axvline(true_degree, color="k", ls=":", label="true degree")
    left.set(xlabel="polynomial degree", ylabel="Δ nats (vs best)", ylim=(floor - 2, 5))
    left.set_title("Evidence and LOO, relative to their best")
    left.legend(loc="lower right")
    width = 0.4
    right.bar(deg - width / 2, table["evidence_probability"], width, label="evidence probability")
    right.bar(deg + width / 2, table["loo_weight"], width, label="LOO stacking weight")
    right.set(xlabel="polynomial degree", ylabel="weight (probability)", ylim=(0, 1))
    right.set_title("Model weights")
    right.legend()
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plotting.save(fig, path)


@plotting.style()
def plot_path(
    path: Path, scales: Array, coef: Array, name: str, marker: float | None = None
) -> None:
    """Coefficients against the prior scale, with the count of exactly-zero ones below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, height_ratios=[3, 1])
    for k in range(coef.shape[1]):
        top.plot(scales, coef[:, k], label=f"$c_{k + 1}$")
    if marker is not None:
        top.axvline(marker, color="k", ls=":", label="scale used for the evidence")
    top.set(
        xscale="log", ylabel="MAP coefficient", title=f"{name} path (penalty grows to the left)"
    )
    top.legend(ncol=2, loc="lower left")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.step(scales, np.sum(coef == 0.0, axis=1), where="mid", color="k")
    bottom.set(
        xlabel="prior scale (units of y)", ylabel="# exact zeros", ylim=(-0.5, coef.shape[1] + 0.5)
    )
    fig.align_ylabels([top, bottom])
    plotting.save(fig, path)


# Units of the report's columns and posterior variables: x is dimensionless (on [-1, 1]) and y
# is in arbitrary units, so every coefficient has the units of y.
UNITS = {
    "degree": "-",
    "log_evidence": "nats",
    "evidence_probability": "1",
    "elpd_loo": "nats",
    "elpd_se": "nats",
    "loo_weight": "1",
    "max_pareto_k": "1",
    "elpd_loo_exact": "nats",
    "chi2": "1",
    "intercept": "units of y",
    "coef": "units of y",
}

# PSIS-LOO is unreliable above this Pareto k (Vehtari et al. 2017), as in the report's checks.
PARETO_K_MAX = 0.7


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    return ["degrees compared", "MAP paths", "outputs written"]


def loo_checks(table: pd.DataFrame) -> list[str]:
    """A line naming the degrees whose PSIS-LOO has a Pareto k above 0.7 (none: [])."""
    high = table.loc[table["max_pareto_k"] > PARETO_K_MAX, "max_pareto_k"]
    if high.empty:
        return []
    worst = ", ".join(f"{degree} (k = {k:.2f})" for degree, k in high.items())
    return [
        f"Pareto k > {PARETO_K_MAX} in the PSIS-LOO of degrees {worst}: their elpd_loo, and a "
        "choice of degree by PSIS-LOO, are unreliable; elpd_loo_exact (exact leave-one-out) is not"
    ]


def write_summary(out_dir: Path, table: pd.DataFrame, chosen: dict) -> tuple:
    """``summary.csv`` (full precision) and ``summary.md`` (rounded, with the choices)."""
    csv = out_dir / "summary.csv"
    table.to_csv(csv)
    lines = [markdown_table(table.drop(columns="loo_rank"))]
    for criterion, degree in chosen.items():
        k = table.loc[degree, "max_pareto_k"]
        caveat = ""
        if criterion == "loo" and k > PARETO_K_MAX:
            caveat = f" (unreliable: its max Pareto k is {k:.2f} > {PARETO_K_MAX})"
        lines.append(f"- chosen by {criterion}: degree {degree}{caveat}")
    lines.insert(1, "")
    md = out_dir / "summary.md"
    md.write_text("\n".join(lines) + "\n")
    return csv, md


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: StudyProgress | Callable[[str], None] | None = None,
) -> dict:
    """Run the study and write its figures, tables and the chosen posterior to ``out_dir``.

    Parameters
    ----------
    config : dict
        Parsed ``config.toml`` (sections ``data``, ``model``, ``paths``, ``fast``).
    out_dir : Path
        Output folder, created if missing.
    fast : bool
        Use the ``[fast]`` overrides (fewer draws and path points).
    seed : int, optional
        Overrides ``data.seed``.
    progress : StudyProgress or callable, optional
        Told each finished step (see :func:`steps`; the ``bayesphys run`` progress bar).

    Returns
    -------
    dict
        ``true_degree``, ``degree_evidence``, ``degree_loo`` (PSIS), ``degree_exact_loo``,
        ``table`` (DataFrame by degree), ``scales``, ``ridge_path``, ``lasso_path`` (arrays of
        shape (n_grid, max_degree)), ``files`` (name -> path), ``units`` (column -> unit)
        and ``checks`` (the degrees whose PSIS-LOO is unreliable).
    """
    data, model_cfg, path_cfg = config["data"], config["model"], config["paths"]
    settings = {**model_cfg, **path_cfg, **(config.get("fast", {}) if fast else {})}
    seed = data["seed"] if seed is None else seed
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y, y_err, _ = simulate(data, seed)
    true_degree = len(data["true_coefficients"]) - 1

    progress = as_progress(progress)
    models, table = compare_degrees(x, y, y_err, settings, seed, progress)
    progress("degrees compared")
    chosen = {
        "evidence": int(table["evidence_probability"].idxmax()),
        "loo": int(table["elpd_loo"].idxmax()),
        "exact_loo": int(table["elpd_loo_exact"].idxmax()),
    }

    scales = np.logspace(path_cfg["log10_min"], path_cfg["log10_max"], settings["n_grid"])
    ridge = map_path(x, y, y_err, settings["max_degree"], Normal, scales)
    lasso = map_path(x, y, y_err, settings["max_degree"], Laplace, scales)
    progress("MAP paths")

    files = {k: out_dir / f"{k}.png" for k in ("fit", "criteria", "ridge_path", "lasso_path")}
    best = chosen["evidence"]
    plot_fit(files["fit"], x, y, y_err, models[best], best, data["true_coefficients"])
    plot_criteria(files["criteria"], table, true_degree)
    plot_path(files["ridge_path"], scales, ridge, "Ridge (Normal prior)", settings["prior_scale"])
    plot_path(files["lasso_path"], scales, lasso, "Lasso (Laplace prior)")
    for name, coef in (("ridge_path", ridge), ("lasso_path", lasso)):
        files[f"{name}_csv"] = out_dir / f"{name}.csv"
        frame = pd.DataFrame(coef, index=pd.Index(scales, name="scale"))
        frame.rename(columns=lambda k: f"c{k + 1}").to_csv(files[f"{name}_csv"])
    files["summary_csv"], files["summary_md"] = write_summary(out_dir, table, chosen)
    files["posterior"] = results.save(models[best].idata_, out_dir / f"posterior_degree{best}.nc")
    progress("outputs written")
    return {
        "true_degree": true_degree,
        "degree_evidence": chosen["evidence"],
        "degree_loo": chosen["loo"],
        "degree_exact_loo": chosen["exact_loo"],
        "table": table,
        "scales": scales,
        "ridge_path": ridge,
        "lasso_path": lasso,
        "files": files,
        "units": UNITS,
        "checks": loo_checks(table),
    }


if __name__ == "__main__":
    run_as_script(__file__)
