"""Fit the Bethe-Weizsaecker semi-empirical mass formula to measured binding energies.

The liquid-drop binding energy is linear in its five coefficients (volume, surface, Coulomb,
asymmetry, pairing), so their posterior under a Normal-Inverse-Gamma prior is exact
(``BayesianLinearRegression``, method "conjugate"); NUTS can cross-check it. The residuals
``B_exp - B_LDM`` show the shell effects the liquid drop lacks. Run
``python study.py --fast --out /tmp/semf``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesphys import plotting, results
from bayesphys.data.masses import binding_energy, load_ame
from bayesphys.inference import NUTS, Conjugate
from bayesphys.likelihoods import Gaussian
from bayesphys.linear import BayesianLinearRegression
from bayesphys.priors import HalfNormal, InverseGamma, Normal
from bayesphys.studies import StudyProgress, as_progress, run_as_script

MAGIC = (8, 20, 28, 50, 82, 126)
TERMS = {"a_V": "volume", "a_S": "surface", "a_C": "Coulomb", "a_A": "asymmetry", "a_P": "pairing"}


def load_binding_energies(data: dict) -> pd.DataFrame:
    """Measured binding energies (MeV) with Z >= z_min and N >= n_min, from ``load_ame``."""
    table = binding_energy(load_ame(data["ame_year"]))
    keep = (table["Z"] >= data["z_min"]) & (table["N"] >= data["n_min"])
    return table[keep].reset_index(drop=True)


def design(z: np.ndarray, n: np.ndarray) -> pd.DataFrame:
    """Liquid-drop features, so that ``B = X @ (a_V, a_S, a_C, a_A, a_P)``.

    ``B = a_V A - a_S A^(2/3) - a_C Z(Z-1)/A^(1/3) - a_A (N-Z)^2/A + a_P delta/A^(1/2)`` with
    ``delta`` = +1 (even-even), 0 (odd A), -1 (odd-odd). ``Z(Z-1)`` (not ``Z^2``) removes the
    self-energy of each proton.
    """
    z, n = np.asarray(z, dtype=float), np.asarray(n, dtype=float)
    a = z + n
    delta = np.where(z % 2 == 0, 1.0, -1.0) * (z % 2 == n % 2)
    return pd.DataFrame(
        {
            "a_V": a,
            "a_S": -(a ** (2 / 3)),
            "a_C": -z * (z - 1) / a ** (1 / 3),
            "a_A": -((n - z) ** 2) / a,
            "a_P": delta / np.sqrt(a),
        }
    )


def fit_conjugate(X: pd.DataFrame, y: np.ndarray, settings: dict, seed: int):
    """Exact Normal-Inverse-Gamma posterior; mass uncertainties (keV) are negligible next to
    the ~3 MeV model scatter, so the noise variance is inferred and ``y_err`` is not passed."""
    model = BayesianLinearRegression(
        Normal(0.0, settings["prior_scale"]),
        likelihood=Gaussian(variance=InverseGamma(settings["noise_alpha"], settings["noise_beta"])),
        fit_intercept=False,
        coef_prior_scaled_by_noise=True,
        method=Conjugate(draws=settings["draws"], chains=settings["chains"]),
        random_state=seed,
    )
    return model.fit(X, y)


def fit_nuts(X: pd.DataFrame, y: np.ndarray, nuts: dict, seed: int, progressbar: bool = False):
    """NUTS check of the closed form, in centred QR coordinates, mapped back to the coefficients.

    The five features are nearly collinear (A, A^(2/3) and Z^2/A^(1/3) correlate above 0.99) and
    span five orders of magnitude: NUTS with a diagonal mass matrix diverges on them. With the thin
    ``X = Q R`` (``Q`` scaled to unit-rms columns) the posterior of ``theta = R coef`` is isotropic,
    but it sits ~10^4 posterior sds from the sampler's start at 0; so NUTS samples the offset
    ``theta - theta_ls`` from the least-squares solution, with a ``Normal(0, coef_scale)`` prior
    (``coef_scale`` ~ 20 posterior sds: a check of the sampler, not an informative prior).
    """
    x = X.to_numpy()
    q, r = np.linalg.qr(x)
    root_n = np.sqrt(len(y))
    theta_ls = q.T @ np.asarray(y, dtype=float) / root_n  # least squares in scaled coordinates
    model = BayesianLinearRegression(
        Normal(0.0, nuts["coef_scale"]),
        noise=HalfNormal(nuts["noise_scale"]),
        fit_intercept=False,
        method=NUTS(
            draws=nuts["draws"],
            tune=nuts["tune"],
            chains=nuts["chains"],
            target_accept=nuts["target_accept"],
        ),
        random_state=seed,
    )
    model.fit(
        pd.DataFrame(q * root_n, columns=X.columns),
        y - q @ (theta_ls * root_n),
        progressbar=progressbar,
    )
    offset = model.idata_.posterior["coef"]
    theta = offset.values.reshape(-1, r.shape[0]) + theta_ls
    coef = np.linalg.solve(r / root_n, theta.T).T
    model.idata_.posterior["coef"] = offset.copy(data=coef.reshape(offset.shape))
    return model


def coefficient_table(idata) -> pd.DataFrame:
    """Posterior mean, sd and central 95% interval of each coefficient (MeV), and sigma."""
    post = idata.posterior
    draws = {name: post["coef"].sel(feature=name).values.ravel() for name in TERMS}
    draws["sigma"] = post["sigma"].values.ravel()
    rows = {
        name: {
            "mean": v.mean(),
            "sd": v.std(ddof=1),
            "q2.5": np.quantile(v, 0.025),
            "q97.5": np.quantile(v, 0.975),
        }
        for name, v in draws.items()
    }
    table = pd.DataFrame(rows).T
    table.index.name = "coefficient"
    table.insert(0, "term", [*TERMS.values(), "noise"])
    return table


def shell_bumps(data: pd.DataFrame, width: int = 6) -> pd.DataFrame:
    """Mean residual at each magic N (or Z) minus the mean at N +- width: the extra binding of
    closed shells. Positive values mean magic nuclei are more bound than the liquid drop says."""
    rows = []
    for axis in ("N", "Z"):
        means = data.groupby(axis)["residual"].mean()
        for magic in MAGIC[2:]:
            sides = [magic - width, magic + width]
            if magic in means.index and all(s in means.index for s in sides):
                bump = means[magic] - means[sides].mean()
                rows.append({"axis": axis, "magic": magic, "bump_MeV": bump})
    return pd.DataFrame(rows)


@plotting.style()
def plot_residuals(path: Path, data: pd.DataFrame, dpi: int) -> None:
    """Residuals B_exp - B_LDM against N and against Z, with the magic numbers marked."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 7))
    for ax, axis, other in zip(axes, ("N", "Z"), ("Z", "N"), strict=True):
        points = ax.scatter(data[axis], data["residual"], c=data[other], s=4, cmap="viridis", lw=0)
        means = data.groupby(axis)["residual"].mean()
        ax.plot(means.index, means.to_numpy(), "k-", lw=1, label=f"mean over {other}")
        for magic in MAGIC:
            ax.axvline(magic, color="C3", ls=":", lw=1)
        ax.axhline(0, color="0.5", lw=0.8)
        names = {"N": "neutron number N", "Z": "proton number Z"}
        ax.set(xlabel=names[axis], ylabel="$B_{exp} - B_{LDM}$ (MeV)")
        fig.colorbar(points, ax=ax, label=names[other])
        ax.legend(loc="lower right")
    axes[0].set_title("Liquid-drop residuals: shell closures at the magic numbers (dotted)")
    plotting.save(fig, path, dpi=dpi)


@plotting.style()
def plot_chart(path: Path, data: pd.DataFrame, dpi: int) -> None:
    """Residuals on the nuclear chart (N, Z)."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    limit = np.quantile(np.abs(data["residual"]), 0.98)
    points = ax.scatter(
        data["N"], data["Z"], c=data["residual"], s=6, marker="s", lw=0, cmap="RdBu_r",
        vmin=-limit, vmax=limit,
    )  # fmt: skip
    for magic in MAGIC:
        ax.axvline(magic, color="0.4", ls=":", lw=0.8)
        ax.axhline(magic, color="0.4", ls=":", lw=0.8)
    ax.set(xlabel="neutron number N", ylabel="proton number Z",
           title="$B_{exp} - B_{LDM}$ on the nuclear chart")  # fmt: skip
    fig.colorbar(points, ax=ax, label="MeV (red: more bound than the liquid drop)")
    plotting.save(fig, path, dpi=dpi)


@plotting.style()
def plot_binding(path: Path, data: pd.DataFrame, model, dpi: int) -> None:
    """B/A of the data and of the posterior-mean liquid drop along the valley of stability."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(data["A"], data["binding_energy"] / data["A"], ".", ms=2, color="0.7", label="AME")
    # The most bound measured isobar of each A traces the valley of stability.
    valley = data.loc[data.groupby("A")["binding_energy"].idxmax()]
    # A band for new measurements: the noise (the shell scatter) on top of the coefficients'.
    mean, sd = model.predict(design(valley["Z"], valley["N"]), return_std=True, include_noise=True)
    a = valley["A"].to_numpy()
    ax.plot(a, valley["binding_energy"] / a, "k.", ms=3, label="AME, most bound isobar")
    ax.plot(a, mean / a, "C0-", label="liquid drop, most bound isobar")
    ax.fill_between(a, (mean - 2 * sd) / a, (mean + 2 * sd) / a, color="C0", alpha=0.25,
                    label="95% predictive band")  # fmt: skip
    ax.set(xlabel="mass number A", ylabel="B/A (MeV per nucleon)", ylim=(7.0, 9.0))
    ax.legend()
    plotting.save(fig, path, dpi=dpi)


@plotting.style()
def plot_posterior(path: Path, idata, dpi: int) -> None:
    """Marginal posterior of each coefficient."""
    fig, axes = plt.subplots(1, len(TERMS), figsize=(13, 2.8))
    for ax, (name, term) in zip(axes, TERMS.items(), strict=True):
        ax.hist(idata.posterior["coef"].sel(feature=name).values.ravel(), bins=40, color="C0")
        ax.set(xlabel=f"{name} (MeV)", title=term, yticks=[])
    axes[0].set_ylabel("posterior density")
    plotting.save(fig, path, dpi=dpi)


def write_summary(out_dir: Path, tables: dict, bumps: pd.DataFrame, n: int, rms: float) -> Path:
    """``summary.md``: the coefficient tables (mean ± sd) and the shell bumps."""
    lines = [f"{n} nuclei; residual rms of the posterior-mean fit: {rms:.3f} MeV", ""]
    for method, table in tables.items():
        lines += [f"## {method}", ""]
        lines += ["| coefficient | term | mean ± sd [MeV] | 95% interval [MeV] |"]
        lines += ["|---|---|---|---|"]
        lines += [
            f"| {name} | {row.term} | {row['mean']:.4f} ± {row.sd:.4f} | "
            f"[{row['q2.5']:.3f}, {row['q97.5']:.3f}] |"
            for name, row in table.iterrows()
        ]
        lines.append("")
    lines += ["## Shell bumps (mean residual at magic number minus at magic ± 6)", ""]
    lines += [f"- {r.axis} = {r.magic}: {r.bump_MeV:+.2f} MeV" for r in bumps.itertuples()]
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# Units of the posterior variables (the summary's table heads its own columns).
UNITS = {"coef": "MeV", "sigma": "MeV"}


def _nuts_enabled(config: dict, fast: bool) -> bool:
    if fast:
        return bool(config.get("fast", {}).get("nuts_enabled", False))
    return bool(config["nuts"]["enabled"])


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    nuts = ["NUTS sampled"] if _nuts_enabled(config, fast) else []
    return ["data loaded", "conjugate fit", *nuts, "outputs written"]


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: StudyProgress | None = None,
) -> dict:
    """Run the study and write its tables, figures and posterior to ``out_dir``.

    Parameters
    ----------
    config : dict
        Parsed ``config.toml`` (sections ``data``, ``model``, ``nuts``, ``fast``).
    out_dir : Path
        Output folder, created if missing.
    fast : bool
        Use the ``[fast]`` overrides (fewer draws, lower dpi, no NUTS unless
        ``fast.nuts_enabled``).
    seed : int, optional
        Overrides ``data.seed``.
    progress : StudyProgress, optional
        Told each finished step (:func:`steps`); shows the NUTS sampler's bar.

    Returns
    -------
    dict
        ``coefficients`` (DataFrame: mean, sd, 95% interval by coefficient, conjugate fit),
        ``coefficients_nuts`` (same or None), ``data`` (nuclei with residuals), ``rms``,
        ``shell_bumps`` (DataFrame), ``model`` (the fitted conjugate estimator), ``files``.
    """
    data_cfg, nuts_cfg = config["data"], dict(config["nuts"])
    settings = {**config["model"], **(config.get("fast", {}) if fast else {})}
    nuts_cfg["enabled"] = _nuts_enabled(config, fast)
    progress = as_progress(progress)
    seed = data_cfg["seed"] if seed is None else seed
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_binding_energies(data_cfg)
    X, y = design(data["Z"], data["N"]), data["binding_energy"].to_numpy()
    progress("data loaded")
    model = fit_conjugate(X, y, settings, seed)
    progress("conjugate fit")
    data["residual"] = y - model.predict(X)
    rms = float(np.sqrt(np.mean(data["residual"] ** 2)))
    conjugate = coefficient_table(model.idata_)
    tables = {"conjugate (Normal-Inverse-Gamma, exact)": conjugate}
    nuts_model = nuts_table = None
    if nuts_cfg["enabled"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # PyMC/ArviZ deprecation chatter
            nuts_model = fit_nuts(X, y, nuts_cfg, seed + 1, progressbar=progress.bars)
        progress("NUTS sampled")
        nuts_table = tables["NUTS (PyMC, QR coordinates)"] = coefficient_table(nuts_model.idata_)
    bumps = shell_bumps(data)

    files = {k: out_dir / f"{k}.png" for k in ("residuals", "chart", "binding", "posterior")}
    dpi = settings["dpi"]  # --fast lowers it: smoke tests would spend their time rasterising
    plot_residuals(files["residuals"], data, dpi)
    plot_chart(files["chart"], data, dpi)
    plot_binding(files["binding"], data, model, dpi)
    plot_posterior(files["posterior"], model.idata_, dpi)
    files["coefficients_csv"] = out_dir / "coefficients.csv"
    conjugate.to_csv(files["coefficients_csv"])
    files["residuals_csv"] = out_dir / "residuals.csv"
    data.to_csv(files["residuals_csv"], index=False)
    files["summary_md"] = write_summary(out_dir, tables, bumps, len(data), rms)
    files["posterior_nc"] = results.save(model.idata_, out_dir / "posterior_conjugate.nc")
    if nuts_model is not None:
        files["posterior_nuts_nc"] = results.save(nuts_model.idata_, out_dir / "posterior_nuts.nc")
    progress("outputs written")
    return {
        "coefficients": conjugate,
        "coefficients_nuts": nuts_table,
        "data": data,
        "rms": rms,
        "shell_bumps": bumps,
        "model": model,
        "files": files,
        "units": UNITS,
    }


if __name__ == "__main__":
    run_as_script(__file__)
