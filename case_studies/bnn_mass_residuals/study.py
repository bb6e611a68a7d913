"""A Bayesian neural network correcting mass-model S2n residuals, compared with the residual GP.

The network sees Z, N and the pairing and shell features of Niu & Liang, PLB 778 (2018) 48, and
learns ``S2n(experiment) - S2n(model)`` on AME2003; the nuclei whose S2n AME2020 made computable
are the test set. The GP correction of the model-averaging study (``bayesphys.bma``, one GP per
parity class) is fitted to the same nuclei and scored on the same test set. Run
``bayesphys run bnn-mass-residuals --fast``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the study writes files and never opens a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesphys import plotting, results
from bayesphys.bma import MassModelAveraging, residual_gp
from bayesphys.bma.plots import empirical_coverage, plot_coverage
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.data.masses import load_ame, load_model, new_measurements, separation_energy
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import HalfNormal
from bayesphys.report import markdown_table, with_uncertainty
from bayesphys.studies import StudyProgress, as_progress, run_as_script

# Magic numbers of the shell model; N = 184 is the predicted next neutron closure.
PROTON_MAGIC = np.array([2, 8, 20, 28, 50, 82, 126])
NEUTRON_MAGIC = np.array([2, 8, 20, 28, 50, 82, 126, 184])
FEATURES = ("Z", "N", "delta", "P", "nu_p", "nu_n")
CORRECTORS = ("raw", "BNN", "GP")


def distance_to_magic(x, magic: np.ndarray) -> np.ndarray:
    """Number of nucleons to the nearest magic number."""
    x = np.asarray(x, dtype=int)
    return np.abs(x[:, None] - magic[None, :]).min(axis=1)


def features(Z, N, names=("Z", "N", "delta", "P")) -> np.ndarray:
    """Network inputs per Niu & Liang (2018), as columns in the order of ``names``.

    ``delta = ((-1)^Z + (-1)^N) / 2`` is +1 for even-even, 0 for odd-A and -1 for odd-odd
    nuclei (the pairing term). ``P = nu_p nu_n / (nu_p + nu_n)`` is the promiscuity factor of
    Casten et al.: ``nu_p``, ``nu_n`` count the valence protons/neutrons (or holes) to the
    nearest closed shell, and P grows towards mid-shell, where deformation sets in. P is 0 at
    doubly magic nuclei.
    """
    Z, N = np.asarray(Z, dtype=int), np.asarray(N, dtype=int)
    nu_p, nu_n = distance_to_magic(Z, PROTON_MAGIC), distance_to_magic(N, NEUTRON_MAGIC)
    total = nu_p + nu_n
    columns = {
        "Z": Z,
        "N": N,
        "delta": ((-1.0) ** Z + (-1.0) ** N) / 2,
        "P": np.divide(nu_p * nu_n, total, out=np.zeros(len(Z)), where=total > 0),
        "nu_p": nu_p,
        "nu_n": nu_n,
    }
    unknown = [name for name in names if name not in columns]
    if unknown or not names:
        raise ValueError(f"features must be a non-empty subset of {FEATURES}, got {list(names)}")
    return np.column_stack([columns[name] for name in names]).astype(float)


def feature_frame(Z, N, names) -> pd.DataFrame:
    """:func:`features` as a DataFrame: the network's weights are then named after them."""
    return pd.DataFrame(features(Z, N, names), columns=list(names))


def residual_sets(model: str, train_s2n: pd.DataFrame, test: pd.DataFrame):
    """Training and test nuclei the model tabulates, with ``residual = S2n_exp - S2n_model``."""
    theory = separation_energy(load_model(model, warn=False), "S2n")[["Z", "N", "S2n"]]
    theory = theory.rename(columns={"S2n": "S2n_model"})
    sets = []
    for table in (train_s2n, test):
        merged = table.merge(theory, on=["Z", "N"]).dropna(subset=["S2n", "S2n_model"])
        sets.append(merged.assign(residual=merged["S2n"] - merged["S2n_model"]))
    return sets


def bnn_method(settings: dict):
    """The inference object named by ``method`` (``"hmc"``, ``"nuts"``, ``"sghmc"``, ``"vi"``),
    with the settings of ``[bnn]`` named after its parameters (``chains``, ``tune``, ...)."""
    supported = BayesianNeuralNetwork.supported_methods
    if settings["method"] not in supported:
        raise ValueError(
            f"bnn.method must be one of {sorted(supported)}, got {settings['method']!r}"
        )
    cls = supported[settings["method"]]
    return cls(**{k: settings[k] for k in cls().get_params() if k in settings})


def fit_bnn(
    train: pd.DataFrame, settings: dict, seed: int, client=None, progressbar: bool = False
) -> BayesianNeuralNetwork:
    """One network for all nuclei: the pairing feature replaces the GP's parity classes.

    AME2003 as shipped has no mass uncertainties, so ``y_err`` is not passed: the learned
    noise ``sigma`` absorbs both the measurement errors (mostly ~10-100 keV, small next to the
    ~0.5 MeV residuals) and the structure the network cannot represent.
    """
    bnn = BayesianNeuralNetwork(
        hidden=tuple(settings["hidden"]),
        weight_prior=settings["weight_prior"],
        likelihood=Gaussian(noise=HalfNormal(settings["noise_scale"])),
        method=bnn_method(settings),
        random_state=seed,
    )
    X = feature_frame(train["Z"], train["N"], settings["features"])
    return bnn.fit(X, train["residual"].to_numpy(), progressbar=progressbar, client=client)


def fit_gp(model: str, train_masses: pd.DataFrame, settings: dict, seed: int, client=None):
    """The residual GPs of ``MassModelAveraging`` (per parity class) for one model."""
    bma = MassModelAveraging(
        [model],
        observable="S2n",
        residual_model=residual_gp(settings["gp_hyperparameters"]),
        weights="uniform",
        random_state=seed,
    )
    return bma.fit(train_masses, client=client).corrected_[model]


def predictions(bnn, gp, nuclei: pd.DataFrame, names) -> pd.DataFrame:
    """Corrections (residual predictions) of both correctors at ``nuclei``, in MeV.

    ``*_sd`` is the predictive sd of a new measurement (epistemic and learned noise);
    ``bnn_epistemic`` is the network's uncertainty about the correction alone.
    """
    X = feature_frame(nuclei["Z"], nuclei["N"], names)
    bnn_mean, bnn_sd = bnn.predict(X, return_std=True, include_noise=True)
    _, bnn_epistemic = bnn.predict(X, return_std=True)
    gp_mean, gp_sd, bare = gp.predict(nuclei["Z"], nuclei["N"])
    return pd.DataFrame(
        {
            "Z": nuclei["Z"].to_numpy(),
            "N": nuclei["N"].to_numpy(),
            "bnn_mean": bnn_mean,
            "bnn_sd": bnn_sd,
            "bnn_epistemic": bnn_epistemic,
            "gp_mean": gp_mean - bare,  # the GP's output is the corrected S2n
            "gp_sd": gp_sd,
        }
    )


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def scores(test: pd.DataFrame, pred: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Test rms, its change from the bare model, coverage of 68/95 % intervals, log score.

    Uncertainties: bootstrap over test nuclei for the rms and for its change (paired: the
    correctors share the nuclei, so the change is known far better than each rms), binomial
    for the coverages. Interval sd: predictive sd and the AME2020 error in quadrature.
    """
    residual = test["residual"].to_numpy()
    err = test["S2n_uncertainty"].fillna(0.0).to_numpy()
    errors = {"raw": residual}
    sds = {}
    for name, key in (("BNN", "bnn"), ("GP", "gp")):
        errors[name] = residual - pred[f"{key}_mean"].to_numpy()
        sds[name] = np.hypot(pred[f"{key}_sd"].to_numpy(), err)
    n = len(residual)
    boot = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot_rms = {k: np.sqrt(np.mean(v[boot] ** 2, axis=1)) for k, v in errors.items()}
    rows = {}
    for name, e in errors.items():
        row = {"n_test": n, "test_rms": _rms(e), "test_rms_sd": boot_rms[name].std(ddof=1)}
        row["change_vs_raw"] = row["test_rms"] - _rms(residual)
        row["change_vs_raw_sd"] = (boot_rms[name] - boot_rms["raw"]).std(ddof=1)
        if name in sds:
            z = np.abs(e / sds[name])
            for level, half in (("68", 1.0), ("95", 1.96)):
                c = float(np.mean(z < half))
                row[f"coverage_{level}"] = c
                row[f"coverage_{level}_sd"] = np.sqrt(c * (1 - c) / n)
            log_density = -0.5 * (z**2 + np.log(2 * np.pi * sds[name] ** 2))
            row["log_score"] = float(np.mean(log_density))
        rows[name] = row
    table = pd.DataFrame(rows).T
    table.index.name = "corrector"
    return table


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """The score table as text cells ``value ± sd`` for the report."""

    def cell(row, key):
        return with_uncertainty(row[key], row[f"{key}_sd"]) if np.isfinite(row[key]) else "-"

    out = pd.DataFrame(index=table.index)
    out["n_test [nuclei]"] = table["n_test"].astype(int)
    out["train rms [MeV]"] = table["train_rms"].map(lambda v: f"{v:.3f}")
    out["test rms [MeV]"] = [cell(r, "test_rms") for _, r in table.iterrows()]
    out["change vs raw [MeV]"] = [
        cell(r, "change_vs_raw") if r.name[1] != "raw" else "-" for _, r in table.iterrows()
    ]
    out["coverage 68% [1]"] = [cell(r, "coverage_68") for _, r in table.iterrows()]
    out["coverage 95% [1]"] = [cell(r, "coverage_95") for _, r in table.iterrows()]
    out["log score [nats]"] = table["log_score"].map(lambda v: "-" if np.isnan(v) else f"{v:.3f}")
    return out.reset_index()


def bnn_posterior(bnn, test: pd.DataFrame, names, seed: int) -> results.InferenceData:
    """The network's posterior for the netCDF file, with its draws at the test nuclei.

    The posterior lists first what is identifiable (noise, layer precisions, the correction
    at each test nucleus), then the weights; the weights' R-hat is meaningless (hidden units
    can be permuted and flipped), the corrections' is the convergence check. The training-set
    log likelihood and replicated data of ``bnn.idata_`` are left out: they would multiply the
    file size by ~50 and the study does not use them.
    """
    post = bnn.idata_.posterior
    draws = bnn.sample_posterior_predictive(
        feature_frame(test["Z"], test["N"], names), random_state=seed
    )
    hyper = [v for v in post.data_vars if not v.startswith(("W", "b"))]
    weights = [v for v in post.data_vars if v.startswith(("W", "b"))]
    values = {name: post[name].values for name in hyper}
    values["correction"] = draws.posterior_predictive["f"].values
    values.update({name: post[name].values for name in weights})
    dims = {name: list(post[name].dims[2:]) for name in hyper + weights}
    dims["correction"] = ["test_nucleus"]
    # Units of the weights: features by name, hidden units by index.
    coords = {dim: post[dim].values for name in weights for dim in dims[name]}
    stats = bnn.idata_.sample_stats
    return results.to_inference_data(
        values,
        sample_stats={k: stats[k].values for k in stats.data_vars},
        posterior_predictive={"residual": draws.posterior_predictive["y"].values},
        observed_data={"residual": test["residual"].to_numpy()},
        constant_data={"Z": test["Z"].to_numpy(), "N": test["N"].to_numpy()},
        coords={**coords, "test_nucleus": np.arange(len(test))},
        dims={**dims, "residual": ["test_nucleus"], "Z": ["test_nucleus"], "N": ["test_nucleus"]},
        attrs={**bnn.idata_.attrs, "features": list(names)},
    )


# ----------------------------------------------------------------------------------- figures
def save_figure(fig, path: Path, dpi: int) -> Path:
    return plotting.save(fig, path, dpi=dpi)


@plotting.style()
def plot_chart(train, test, pred_train, pred_test, model: str):
    """Residuals on the (N, Z) chart: bare model, BNN- and GP-corrected (test nuclei ringed)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), sharey=True)
    both = pd.concat([train, test], ignore_index=True)
    pred = pd.concat([pred_train, pred_test], ignore_index=True)
    limit = float(np.percentile(np.abs(both["residual"]), 98))
    panels = {
        "bare": both["residual"],
        "BNN-corrected": both["residual"] - pred["bnn_mean"],
        "GP-corrected": both["residual"] - pred["gp_mean"],
    }
    n_train = len(train)
    for ax, (label, values) in zip(axes, panels.items(), strict=True):
        points = ax.scatter(
            both["N"], both["Z"], c=values, s=7, marker="s", lw=0, cmap="RdBu_r",
            vmin=-limit, vmax=limit,
        )  # fmt: skip
        ax.scatter(test["N"], test["Z"], s=14, facecolors="none", edgecolors="k", lw=0.4)
        train_rms, test_rms = _rms(values[:n_train]), _rms(values[n_train:])
        ax.set(xlabel="neutron number N", title=f"{model} {label}\n"
               f"train rms {train_rms:.3f}, test rms {test_rms:.3f} MeV")  # fmt: skip
    axes[0].set_ylabel("proton number Z")
    fig.colorbar(points, ax=axes, label="S2n residual (MeV); rings: test nuclei")
    return fig


@plotting.style()
def plot_chains(elements, train, test, grid, model: str):
    """Residuals along isotopic chains: data, and both corrections with 95 % bands."""
    elements = [z for z in elements if (grid["Z"] == z).any()]
    fig, axes = plt.subplots(len(elements), 1, figsize=(8, 2.6 * len(elements)), squeeze=False)
    for ax, z in zip(axes[:, 0], elements, strict=True):
        chain = grid[grid["Z"] == z]
        for key, label, color in (("bnn", "BNN", "C0"), ("gp", "GP (per parity)", "C1")):
            mean, sd = chain[f"{key}_mean"], chain[f"{key}_sd"]
            ax.plot(chain["N"], mean, color=color, lw=1, label=f"{label} mean, 95% band")
            ax.fill_between(chain["N"], mean - 1.96 * sd, mean + 1.96 * sd, color=color, alpha=0.2)
        old, new = train[train["Z"] == z], test[test["Z"] == z]
        ax.plot(old["N"], old["residual"], "k.", ms=4, label="AME2003 (train)")
        ax.errorbar(new["N"], new["residual"], yerr=new["S2n_uncertainty"], fmt="s", ms=3,
                    color="C3", label="new in AME2020 (test)")  # fmt: skip
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(ylabel=f"Z = {z}: residual (MeV)")
    axes[0, 0].set_title(f"{model}: S2n(exp) - S2n(model) along isotopic chains")
    axes[-1, 0].set_xlabel("neutron number N")
    # One legend for all chains (the same four series in every panel), below the last one.
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


@plotting.style()
def plot_test_predictions(test, pred, model: str):
    """Predicted correction vs observed test residual, 1 sd error bars on both."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    observed, err = test["residual"], test["S2n_uncertainty"].fillna(0.0)
    lim = 1.05 * float(np.max(np.abs(observed)))
    for ax, (key, label) in zip(axes, (("bnn", "BNN"), ("gp", "GP")), strict=True):
        ax.errorbar(observed, pred[f"{key}_mean"], xerr=err, yerr=pred[f"{key}_sd"], fmt=".",
                    ms=3, lw=0.5, alpha=0.7)  # fmt: skip
        ax.plot([-lim, lim], [-lim, lim], "k:", lw=1, label="prediction = observation")
        ax.set(xlabel="observed residual (MeV)", title=f"{model}, {label}: test nuclei")
    axes[0].set_ylabel("predicted correction (MeV)")
    axes[0].legend(loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------- run
# Units of the diagnostics table's columns and of the saved posterior's variables: weights,
# biases and their precisions live on the network's standardised scale (dimensionless).
UNITS = {
    "r_hat_max": "1",
    "r_hat_median": "1",
    "ess_bulk_min": "draws",
    "ess_bulk_median": "draws",
    "epistemic_sd_train": "MeV",
    "epistemic_sd_test": "MeV",
    "sigma": "MeV",
    "correction": "MeV",
    **{name: "1" for name in ("W0", "b0", "W1", "b1", "W2", "b2")},
    **{f"tau_{name}": "1" for name in ("W0", "b0", "W1", "b1", "W2", "b2")},
}


def steps(config: dict, *, fast: bool) -> list[str]:
    """The steps :func:`run` reports (``bayesphys run`` shows them as a bar with a total)."""
    models = (config.get("fast", {}) if fast else {}).get("models", config["data"]["models"])
    per_model = ("BNN sampled", "GP fitted", "outputs written")
    return ["data loaded", *(f"{m}: {what}" for m in models for what in per_model)]


def run(
    config: dict,
    out_dir: Path,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: StudyProgress | Callable[[str], None] | None = None,
    client=None,
) -> dict:
    """Fit both correctors to each model's AME2003 S2n residuals and score them on AME2020.

    With a Dask ``client`` (``bayesphys run bnn-mass-residuals --workers N``) the BNN chains
    and the GP parity classes run on the cluster; set ``bnn.chain_groups`` for draws that do
    not depend on whether a client is used (default: chains in lockstep in-process, one group
    per chain on a cluster). The GP fits are the same either way.

    Returns
    -------
    dict
        ``table`` (scores per model and corrector, numeric), ``diagnostics`` (BNN predictive
        R-hat/ESS and epistemic sd per model), ``predictions`` (per model: test-nucleus
        predictions), ``bnn`` and ``gp`` (fitted correctors per model), ``files`` and
        ``units``. ``progress`` is told each finished step (:func:`steps`) and shows the
        sampler's bar.
    """
    settings = {**config["data"], **config["bnn"], **config["gp"], **config["figures"]}
    settings.update(config.get("fast", {}) if fast else {})
    seed = settings["seed"] if seed is None else seed
    progress = as_progress(progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = settings["features"]
    features(np.array([20]), np.array([28]), names)  # bad feature names fail before the fits
    z_range = (settings["z_min"], settings["z_max"])
    dpi = settings["dpi"]

    masses = load_ame(settings["train_year"])
    masses = masses[masses["Z"].between(*z_range)].reset_index(drop=True)
    train_s2n = separation_energy(masses, "S2n")
    new = new_measurements(settings["train_year"], settings["test_year"], "S2n", z_range=z_range)
    progress("data loaded")

    tables, diagnostics, per_model, bnns, gps, files = [], {}, {}, {}, {}, {}
    for k, model in enumerate(settings["models"]):
        train, test = residual_sets(model, train_s2n, new)
        bnn = bnns[model] = fit_bnn(train, settings, seed + k, client, progress.bars)
        progress(f"{model}: BNN sampled")
        gp = gps[model] = fit_gp(model, masses, settings, seed + k, client)
        progress(f"{model}: GP fitted")

        pred_test = predictions(bnn, gp, test, names)
        pred_train = predictions(bnn, gp, train, names)
        table = scores(test, pred_test, settings["bootstrap"], seed)
        table.loc["raw", "train_rms"] = _rms(train["residual"])
        table.loc["BNN", "train_rms"] = _rms(train["residual"] - pred_train["bnn_mean"])
        table.loc["GP", "train_rms"] = _rms(train["residual"] - pred_train["gp_mean"])
        table.insert(0, "model", model)
        tables.append(table.set_index("model", append=True).swaplevel())
        diag = bnn.predictive_diagnostics(feature_frame(test["Z"], test["N"], names))
        diagnostics[model] = {
            "r_hat_max": float(diag["r_hat"].max()),
            "r_hat_median": float(diag["r_hat"].median()),
            "ess_bulk_min": float(diag["ess_bulk"].min()),
            "ess_bulk_median": float(diag["ess_bulk"].median()),
            "epistemic_sd_train": float(pred_train["bnn_epistemic"].mean()),
            "epistemic_sd_test": float(pred_test["bnn_epistemic"].mean()),
            "sigma": float(bnn.idata_.posterior["sigma"].mean()),
        }
        per_model[model] = test[["Z", "N", "S2n", "S2n_uncertainty", "residual"]].join(
            pred_test.drop(columns=["Z", "N"])
        )

        # Figures: the chains use every nucleus the model tabulates in the chosen elements.
        theory = separation_energy(load_model(model, warn=False), "S2n")
        grid = theory[theory["Z"].isin(settings["chain_elements"])]
        grid = grid[grid["N"].between(train["N"].min(), max(train["N"].max(), test["N"].max()))]
        grid = predictions(bnn, gp, grid.reset_index(drop=True), names)
        figures = {
            f"residual_chart_{model}": plot_chart(train, test, pred_train, pred_test, model),
            f"isotopic_chains_{model}": plot_chains(
                settings["chain_elements"], train, test, grid, model
            ),
            f"test_predictions_{model}": plot_test_predictions(test, pred_test, model),
        }
        for name, fig in figures.items():
            files[name] = save_figure(fig, out_dir / f"{name}.png", dpi)
        files[f"bnn_{model}"] = results.save(
            bnn_posterior(bnn, test, names, seed + k), out_dir / f"bnn_posterior_{model}.nc"
        )
        per_model[model].to_csv(out_dir / f"test_predictions_{model}.csv", index=False)
        progress(f"{model}: outputs written")

    table = pd.concat(tables)
    err = {m: p["S2n_uncertainty"].fillna(0.0) for m, p in per_model.items()}
    curves = {}
    for model, p in per_model.items():
        for key, label in (("bnn", "BNN"), ("gp", "GP")):
            curves[f"{model} {label}"] = empirical_coverage(
                p["residual"], p[f"{key}_mean"], np.hypot(p[f"{key}_sd"], err[model])
            )
    n_test = min(len(p) for p in per_model.values())
    files["coverage"] = save_figure(plot_coverage(curves, n_test), out_dir / "coverage.png", dpi)
    table.to_csv(out_dir / "scores.csv")
    diag_table = pd.DataFrame(diagnostics).T
    diag_table.index.name = "model"
    files["summary_md"] = write_summary(out_dir, table, diag_table, settings)
    return {
        "table": table,
        "diagnostics": diag_table,
        "predictions": per_model,
        "bnn": bnns,
        "gp": gps,
        "files": files,
        "units": UNITS,
    }


def write_summary(out_dir: Path, table: pd.DataFrame, diag: pd.DataFrame, settings) -> Path:
    """``summary.md``: the comparison table and the BNN's convergence on predictions."""
    hidden = "x".join(str(h) for h in settings["hidden"])
    lines = [
        f"Train: S2n of AME{settings['train_year']}, {settings['z_min']} <= Z <= "
        f"{settings['z_max']}; test: S2n first computable in AME{settings['test_year']}. "
        f"BNN: inputs ({', '.join(settings['features'])}), hidden {hidden}, "
        f"{settings['weight_prior']} prior, method {settings['method']!r}, "
        f"{settings['chains']} chains x {settings['draws']} draws. "
        f"GP: bayesphys.bma residual GP per parity class, {settings['gp_hyperparameters']}.",
        "",
        markdown_table(shown_table(table), index=False),
        "",
        "Uncertainties: rms and its change from bootstrap over test nuclei (the change is "
        "paired), coverage binomial. Log score: mean log predictive density per test nucleus.",
        "",
        "BNN convergence on the corrections at the test nuclei (weights are not identifiable; "
        "their R-hat in the posterior file is not a diagnostic), and its epistemic sd (MeV):",
        "",
        markdown_table(diag.round(4)),
    ]
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    run_as_script(__file__)
