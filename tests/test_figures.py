"""Every figure is readable: no overlapping text, and a legend wherever series share an axes.

Each study figure function (and ``bma.plots``, ``results.plot_diagnostics``) is drawn on small
synthetic inputs with the Agg backend; then the window extents of titles, axis labels, tick labels
and legends are compared pairwise.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh
from matplotlib.container import BarContainer, ErrorbarContainer

from bayesphys import results
from bayesphys.bma import plots
from bayesphys.studies import load_study

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _same_data_in_any_order():
    """Each test draws the same synthetic data whether run alone or with the others."""
    global RNG
    RNG = np.random.default_rng(0)


# ------------------------------------------------------------------------------------ checks
def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar") or ax.get_label() == "<colorbar>"


def text_boxes(fig) -> list[tuple[str, object, bool]]:
    """(name, window extent, is_tick_label) of every visible, non-empty text of ``fig``."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []

    def add(name, artist, tick=False):
        if artist is None or not artist.get_visible():
            return
        if hasattr(artist, "get_text") and not artist.get_text().strip():
            return
        boxes.append((name, artist.get_window_extent(renderer), tick))

    if fig._suptitle is not None:
        add("suptitle", fig._suptitle)
    for legend in fig.legends:
        add("figure legend", legend)
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for key in ("title", "_left_title", "_right_title"):
            add(f"axes {i} {key}", getattr(ax, key))
        add(f"axes {i} xlabel", ax.xaxis.label)
        add(f"axes {i} ylabel", ax.yaxis.label)
        add(f"axes {i} legend", ax.get_legend())
        for axis in (ax.xaxis, ax.yaxis):
            # Only ticks inside the view interval are drawn; the locator returns more.
            lo, hi = sorted(axis.get_view_interval())
            slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if lo - slack <= tick.get_loc() <= hi + slack:
                    for label in (tick.label1, tick.label2):
                        add(f"axes {i} tick {label.get_text()!r}", label, tick=True)
    return boxes


def overlaps(fig) -> list[str]:
    """Pairs of texts whose boxes overlap by more than a pixel (tick labels among themselves
    are the tick locator's business and are not compared)."""
    found = []
    for (n1, b1, t1), (n2, b2, t2) in itertools.combinations(text_boxes(fig), 2):
        if t1 and t2:
            continue
        width = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        height = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        if width > 1 and height > 1:
            found.append(f"{n1} / {n2}")
    return found


def series(ax) -> int:
    """Data series on ``ax``: an errorbar or bar group counts once; two-point reference lines
    (axhline, axvline, a diagonal) and colour-mapped artists (explained by a colour bar) do not."""
    grouped = set()
    count = 0
    for container in ax.containers:
        if isinstance(container, (ErrorbarContainer, BarContainer)):
            count += 1
            for part in container.get_children():
                grouped.add(id(part))
    for line in ax.lines:
        if id(line) not in grouped and len(line.get_xdata()) > 2:
            count += 1
    for coll in ax.collections:
        if id(coll) in grouped or isinstance(coll, QuadMesh) or coll.get_array() is not None:
            continue
        count += 1
    return count


def missing_legends(fig) -> list[int]:
    """Indices of axes with more than one series and no legend (an axes' or the figure's)."""
    if fig.legends:
        return []
    return [
        i
        for i, ax in enumerate(fig.axes)
        if not _is_colorbar(ax) and series(ax) > 1 and ax.get_legend() is None
    ]


def assert_readable(fig):
    assert not overlaps(fig), f"overlapping text: {overlaps(fig)}"
    assert not missing_legends(fig), f"axes without a legend: {missing_legends(fig)}"


@pytest.fixture
def kept_figures(monkeypatch):
    """Figures drawn by functions that save and close them: ``plt.close`` is disabled."""
    plt.close("all")
    monkeypatch.setattr(plt, "close", lambda *a, **k: None)
    yield lambda: [plt.figure(n) for n in plt.get_fignums()]
    plt.close("all")


def _chart(n=60):
    z = RNG.integers(10, 40, n)
    return pd.DataFrame({"Z": z, "N": z + RNG.integers(0, 20, n), "residual": RNG.normal(0, 1, n)})


# --------------------------------------------------------------------------------- bma.plots
def test_overlap_check_catches_overlapping_titles():
    fig, (a, b) = plt.subplots(1, 2, figsize=(4, 2))
    a.set_title("a title much too long for its narrow panel")
    b.set_title("another long title")
    assert overlaps(fig)
    a.plot([0, 1, 2], [0, 1, 2])
    a.plot([0, 1, 2], [2, 1, 0])
    assert missing_legends(fig) == [0]
    plt.close(fig)


def test_bma_plots_readable():
    chart = _chart()
    figs = [
        plots.plot_existence_chart(chart.assign(p_ex=RNG.uniform(size=len(chart))), chart),
        plots.plot_weights(pd.Series([0.5, 0.3, 0.2], index=["FRDM2012", "HFB-24", "UNEDF1"])),
        plots.plot_residual_maps(
            chart["Z"],
            chart["N"],
            chart["residual"],
            0.3 * chart["residual"],
            title="DUZU S2n (AME2003):",
        ),
        plots.plot_coverage({"FRDM2012": plots.NOMINAL, "BMA": plots.NOMINAL}, 100),
    ]
    for fig in figs:
        assert_readable(fig)
        plt.close(fig)


def test_plot_diagnostics_readable(tmp_path, kept_figures):
    posterior = {
        name: RNG.normal(size=(4, 50, *shape))
        for name, shape in {"a": (), "b": (), "coef": (3,), "sigma": ()}.items()
    }
    idata = az.from_dict(posterior=posterior)
    results.plot_diagnostics(idata, tmp_path)
    figs = kept_figures()
    assert len(figs) == 2
    for fig in figs:
        assert_readable(fig)
    width, height = figs[1].get_size_inches()
    assert width / height < 3, "rank plot is one long row"


# ----------------------------------------------------------------------------- case studies
def test_polynomial_evidence_figures(tmp_path, kept_figures):
    study, _ = load_study("polynomial-evidence")
    x = np.linspace(-1, 1, 20)
    y = x**2 + RNG.normal(0, 0.1, x.size)

    class Model:
        def predict(self, X, return_std=False, include_noise=False):
            mean = np.asarray(X)[:, :3].sum(axis=1) * 0 + np.asarray(X)[:, 1] ** 2
            return (mean, np.full(mean.size, 0.1)) if return_std else mean

    study.plot_fit(tmp_path / "fit.png", x, y, np.full(x.size, 0.1), Model(), 2, [0, 0, 1])
    table = pd.DataFrame(
        {
            "log_evidence": [-80.0, -10.0, 0.0, -1.0],
            "elpd_loo": [-90.0, -12.0, 0.0, -0.5],
            "elpd_se": [3.0, 2.0, 1.0, 1.0],
            "elpd_loo_exact": [-90.0, -12.0, 0.1, -0.6],
            "evidence_probability": [0.0, 0.0, 0.7, 0.3],
            "loo_weight": [0.0, 0.1, 0.6, 0.3],
        },
        index=pd.Index([1, 2, 3, 4], name="degree"),
    )
    study.plot_criteria(tmp_path / "criteria.png", table, 3)
    scales = np.logspace(-3, 1, 20)
    coef = np.outer(np.minimum(scales, 1), [1.0, -0.5, 0.2, 0.0])
    study.plot_path(tmp_path / "path.png", scales, coef, "lasso", marker=1.0)
    figs = kept_figures()
    assert len(figs) == 3
    for fig in figs:
        assert_readable(fig)
    # Off-scale points of criteria.png are explained in its legend.
    legend = figs[1].axes[0].get_legend()
    assert any("off scale" in t.get_text() for t in legend.get_texts())


def test_quantum_dot_vmc_figures(tmp_path, kept_figures):
    study, _ = load_study("quantum-dot-vmc")
    config = {
        "system": {"exact": 3.0, "omega": 1.0},
        "models": {"pade": {"label": "Padé-Jastrow"}, "gauss": {"label": "Gaussian only"}},
    }
    r = np.linspace(0, 3, 30)

    def fitted_model(e0):
        history = pd.DataFrame({"energy": e0 + np.exp(-np.arange(10)), "stderr": 0.01})
        blocking = SimpleNamespace(stderr_by_level=np.linspace(0.001, 0.003, 8), level=5)
        est = SimpleNamespace(
            density_r=r, density=2 * np.exp(-(r**2)) / np.pi, blocking=blocking, stderr=0.003
        )
        return SimpleNamespace(history=history), est

    fitted = {"pade": fitted_model(3.0), "gauss": fitted_model(3.3)}
    study.plot_history(tmp_path / "h.png", config, fitted)
    study.plot_blocking(tmp_path / "b.png", fitted["pade"][1], "Padé-Jastrow")
    study.plot_density(tmp_path / "d.png", config, fitted)
    figs = kept_figures()
    assert len(figs) == 3
    for fig in figs:
        assert_readable(fig)
    # The blocking axis shows standard errors, so its legend must not name a variance.
    blocking = figs[1].axes[0]
    assert "s_k^2" not in " ".join(t.get_text() for t in blocking.get_legend().get_texts())


def test_gp_emulator_figures(tmp_path, kept_figures):
    study, _ = load_study("gp-emulator")
    w, z = np.meshgrid(np.linspace(0.5, 2, 8), np.linspace(0.1, 1, 8))
    truth = np.sin(w * z).ravel()
    theta = np.column_stack([RNG.uniform(0.5, 2, 10), RNG.uniform(0.1, 1, 10)])
    study.plot_surfaces(
        tmp_path / "s.png", w, z, truth, truth + 0.01, np.full(truth.size, 0.02), theta
    )
    study.plot_calibration(tmp_path / "c.png", study.LEVELS, RNG.normal(size=50))
    for fig in kept_figures():
        assert_readable(fig)


def test_bnn_mass_residuals_figures():
    study, _ = load_study("bnn-mass-residuals")
    train, test = _chart(60), _chart(15).assign(S2n_uncertainty=0.1)
    pred = lambda frame: pd.DataFrame(  # noqa: E731
        {f"{k}_{s}": RNG.normal(0, 0.5, len(frame)) for k in ("bnn", "gp") for s in ("mean", "sd")}
    ).abs()
    grid = pd.concat([_chart(40), _chart(40)]).reset_index(drop=True)
    grid = pd.concat([grid[["Z", "N"]], pred(grid)], axis=1)
    elements = sorted(set(grid["Z"]))[:2]
    figs = [
        study.plot_chart(train, test, pred(train), pred(test), "FRDM2012"),
        study.plot_chains(elements, train, test, grid.sort_values("N"), "FRDM2012"),
        study.plot_test_predictions(test, pred(test), "FRDM2012"),
    ]
    for fig in figs:
        assert_readable(fig)
        plt.close(fig)


def test_semf_figures(tmp_path, kept_figures):
    study, _ = load_study("semf")
    data = _chart(80)
    data["A"] = data["Z"] + data["N"]
    data["binding_energy"] = 8.0 * data["A"] + data["residual"]

    class Model:
        def predict(self, X, return_std=False, include_noise=False):
            mean = 8.0 * np.asarray(X).shape[0] * 0 + 8.0 * np.asarray(X)[:, 0]
            return (mean, np.full(mean.size, 2.0)) if return_std else mean

    study.plot_residuals(tmp_path / "r.png", data, 100)
    study.plot_chart(tmp_path / "c.png", data, 100)
    study.plot_binding(tmp_path / "b.png", data, Model(), 100)
    coef = xr.DataArray(
        RNG.normal(size=(2, 50, len(study.TERMS))),
        dims=("chain", "draw", "feature"),
        coords={"feature": list(study.TERMS)},
    )
    study.plot_posterior(tmp_path / "p.png", SimpleNamespace(posterior={"coef": coef}), 100)
    figs = kept_figures()
    assert len(figs) == 4
    for fig in figs:
        assert_readable(fig)
