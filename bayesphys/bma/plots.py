"""Figures of a mass-model average: nuclear chart of p_ex, weights, residual maps, coverage.

Each function draws on a new figure in the shared style (:mod:`bayesphys.plotting`) and returns
it (``plotting.save(fig, path)`` is the caller's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from bayesphys import plotting

# Standard-normal quantiles for a coverage curve: central intervals from 5% to 99%.
NOMINAL = np.linspace(0.05, 0.99, 40)


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _subplots(ax, **kwargs):
    """``(fig, ax)`` of the given axes, or of a new figure."""
    if ax is not None:
        return ax.figure, ax
    return _pyplot().subplots(**kwargs)


@plotting.style()
def plot_existence_chart(p_ex: pd.DataFrame, measured: pd.DataFrame | None = None, ax=None):
    """Nuclear chart (N across, Z up) coloured by the existence probability ``p_ex``."""
    fig, ax = _subplots(ax, figsize=(10, 6))
    shown = p_ex.dropna(subset=["p_ex"])
    points = ax.scatter(
        shown["N"], shown["Z"], c=shown["p_ex"], s=6, marker="s", cmap="viridis", vmin=0, vmax=1
    )
    if measured is not None:
        ax.scatter(measured["N"], measured["Z"], s=2, c="k", marker="s", label="measured")
        ax.legend(loc="upper left", frameon=False)
    fig.colorbar(points, ax=ax, label="$p_{ex}$ (bound to neutron emission)")
    ax.set(
        xlabel="neutron number N",
        ylabel="proton number Z",
        title="Probability of existence (model average)",
    )
    return fig


@plotting.style()
def plot_weights(weights: pd.Series, ax=None):
    """Bar chart of the model weights."""
    fig, ax = _subplots(ax, figsize=(6, 3.5))
    ax.bar(weights.index, weights.to_numpy(), color="C0")
    ax.set(
        xlabel="mass model",
        ylabel="weight (posterior probability)",
        ylim=(0, 1),
        title="Model weights",
    )
    ax.tick_params(axis="x", rotation=30)
    return fig


@plotting.style()
def plot_residual_maps(Z, N, before, after, title: str = ""):
    """Side-by-side residual maps (experiment minus model) before and after correction."""
    # The shared part of the titles goes above both panels: two full titles side by side
    # overlapped each other.
    fig, axes = _pyplot().subplots(1, 2, figsize=(12, 4.5), sharey=True)
    limit = float(np.nanpercentile(np.abs(before), 98))
    panels = zip(axes, (before, after), ("bare model", "GP-corrected"), strict=True)
    for ax, values, label in panels:
        rms = float(np.sqrt(np.nanmean(np.square(values))))
        points = ax.scatter(N, Z, c=values, s=8, marker="s", cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xlabel="neutron number N", title=f"{label}: rms {rms:.3f} MeV")
    axes[0].set_ylabel("proton number Z")
    if title:
        fig.suptitle(f"{title.rstrip(': ')}: experiment minus model")
    fig.colorbar(points, ax=axes, label="residual (MeV)")
    return fig


def empirical_coverage(y, mean, std) -> np.ndarray:
    """Fraction of ``y`` inside the central intervals of ``NOMINAL`` probability."""
    z = np.abs((np.asarray(y) - np.asarray(mean)) / np.asarray(std))
    z = z[np.isfinite(z)]
    half_widths = norm.ppf(0.5 + NOMINAL / 2)
    return np.array([(z <= h).mean() for h in half_widths])


@plotting.style()
def plot_coverage(curves: dict[str, np.ndarray], n_points: int, ax=None):
    """Empirical vs nominal coverage of central credible intervals, with a binomial band."""
    fig, ax = _subplots(ax, figsize=(5, 5))
    band = 2 * np.sqrt(NOMINAL * (1 - NOMINAL) / max(n_points, 1))
    ax.fill_between(NOMINAL, NOMINAL - band, NOMINAL + band, color="0.85", label="binomial 2 sd")
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="ideal")
    for i, (label, curve) in enumerate(curves.items()):
        style = {"lw": 2.5, "color": "k"} if label == "BMA" else {"lw": 1, "color": f"C{i}"}
        ax.plot(NOMINAL, curve, label=label, **style)
    ax.set(xlabel="nominal coverage", ylabel="empirical coverage", title="Calibration on new data")
    ax.legend()
    return fig


def _draw_drip(ax, shown: pd.DataFrame, known: pd.DataFrame | None, *, labels: bool) -> None:
    low = shown["N_low"].astype(float).fillna(shown["N_drip"].astype(float))
    high = shown["N_high"].astype(float).fillna(shown["N_drip"].astype(float))
    ax.fill_betweenx(shown["Z"], low, high, step="mid", color="C0", alpha=0.3, label="68% range")
    ax.step(shown["N_drip"], shown["Z"], where="mid", color="C0", lw=1.5, label="$N_{drip}$")
    if known is not None and len(known):
        ax.scatter(
            known["N"],
            known["Z"],
            marker="*",
            s=80,
            color="C3",
            zorder=3,
            label="heaviest known bound isotope",
        )
        if labels:
            for _, row in known.iterrows():
                ax.annotate(
                    row["nucleus"],
                    (row["N"], row["Z"]),
                    xytext=(5, -3),
                    textcoords="offset points",
                    fontsize=8,
                )


@plotting.style()
def plot_drip_line(drip: pd.DataFrame, known: pd.DataFrame | None = None, ax=None):
    """Two-neutron drip line ``N_drip(Z)`` with its credible band and known last bound isotopes.

    ``drip`` is :meth:`MassModelAveraging.drip_line` output (``Z``, ``N_drip``, ``N_low``,
    ``N_high``); ``known`` a table with ``Z``, ``N`` and ``nucleus`` (e.g.
    :func:`bayesphys.data.masses.heaviest_bound_isotopes`), drawn as markers. When the drip
    line reaches beyond Z = 30, an inset shows Z <= 20, where the markers lie.
    """
    fig, ax = _subplots(ax, figsize=(10, 6))
    shown = drip.dropna(subset=["N_drip"]).sort_values("Z")
    _draw_drip(ax, shown, known, labels=shown["Z"].max() <= 30)
    if shown["Z"].max() > 30:
        light = shown[shown["Z"] <= 20]
        inset = ax.inset_axes([0.58, 0.08, 0.38, 0.38])
        _draw_drip(inset, light, known, labels=True)
        inset.set_title("Z <= 20", fontsize=9)
        inset.tick_params(labelsize=8)
    ax.set(
        xlabel="neutron number N",
        ylabel="proton number Z",
        title="Two-neutron drip line (model average)",
    )
    ax.legend(loc="upper left", frameon=False)
    return fig
