"""Convergence of sampled residual fits, and the report lines that flag them.

The table is checked against ArviZ-backed diagnostics computed directly on each fit; the check
lines against hand-made tables with known failures. The slow test runs the shipped NUTS variant
of the flagship's fast configuration.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesphys import results
from bayesphys.bma import MassModelAveraging, residual_gp
from bayesphys.bma._residuals import (
    GP_NUTS_SETTINGS,
    PARITY_CLASSES,
    convergence_checks,
    residual_convergence,
)
from bayesphys.data.masses import load_ame
from bayesphys.studies import run_study

NUTS_CONFIG = Path(__file__).parents[2] / "case_studies" / "nuclear_mass_bma" / "nuts.toml"


@pytest.fixture(scope="module")
def train():
    table = load_ame(2003)
    return table[table["Z"].between(20, 23)].reset_index(drop=True)


def test_table_matches_diagnostics_of_each_fit(train):
    short = residual_gp("nuts").set_params(method__draws=30, method__tune=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: their own convergence warnings
        bma = MassModelAveraging(
            ["DUZU"], residual_model=short, weights="uniform", random_state=1
        ).fit(train)
    table = residual_convergence(bma.corrected_)
    fits = bma.corrected_["DUZU"].residual_models
    assert list(table.index) == [("DUZU", cls) for cls in PARITY_CLASSES if cls in fits]
    for cls, gp in fits.items():
        row = table.loc[("DUZU", cls)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rhat = results.rhat(gp.idata_).to_array().values.max()
            ess = results.ess(gp.idata_, method="bulk").to_array().values.min()
        assert row["max_rhat"] == pytest.approx(rhat, rel=1e-12)
        assert row["min_ess_bulk"] == pytest.approx(ess, rel=1e-12)
        assert row["chains"] == GP_NUTS_SETTINGS["chains"] and row["draws"] == 30
        assert row["n"] == len(gp.idata_.observed_data["y"])
        assert row["divergences"] == int(gp.idata_.sample_stats["diverging"].values.sum())


def test_point_fits_have_nothing_to_check(train):
    bma = MassModelAveraging(["DUZU"], weights="uniform", random_state=0).fit(train)
    table = residual_convergence(bma.corrected_)
    assert table.empty
    assert convergence_checks(table) == []


def _table(rhat, ess, divergences):
    index = pd.MultiIndex.from_tuples(
        [("A", "ee"), ("A", "oo"), ("B", "eo")], names=["model", "parity"]
    )
    return pd.DataFrame(
        {
            "n": 100,
            "chains": 2,
            "draws": 300,
            "max_rhat": rhat,
            "min_ess_bulk": ess,
            "divergences": divergences,
            "mean_tree_steps": 5.0,
        },
        index=index,
    )


def test_checks_flag_every_failing_fit_and_name_the_worst():
    clean = _table([1.001, 1.005, 1.0], [900.0, 450.0, 401.0], [0, 0, 0])
    assert convergence_checks(clean) == []
    bad = _table([1.02, 1.005, 1.3], [900.0, 120.0, 55.0], [0, 3, 1])
    rhat_line, ess_line, divergence_line = convergence_checks(bad)
    assert "R-hat > 1.01 in 2 of 3 fits" in rhat_line and "B eo, 1.300" in rhat_line
    assert "bulk ESS < 400 in 2 of 3 fits" in ess_line and "B eo, 55" in ess_line
    assert "2 x 300 draws" in ess_line
    assert "4 divergent transitions of 1800 in 2 of 3 fits" in divergence_line
    assert "A oo" in divergence_line
    # The thresholds are the caller's.
    assert convergence_checks(bad, rhat_max=1.5, ess_min=50) == [divergence_line]


@pytest.mark.slow
def test_nuts_variant_of_the_fast_flagship(tmp_path):
    outcome = run_study("nuclear-mass-bma", tmp_path, fast=True, config=NUTS_CONFIG)
    bma = outcome.result["bma"]
    table = residual_convergence(bma.corrected_)
    assert len(table) == 4 * len(bma.corrected_), "every residual GP was sampled"
    assert (table["draws"] == GP_NUTS_SETTINGS["draws"]).all()
    weights = outcome.result["scheme_weights"]
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
    # The corrections integrated over their hyperparameters still calibrate: ~70 held-out S2n
    # values, 95% intervals within a few binomial sd.
    row = outcome.result["schemes"].loc[bma.weights]
    n = row["n_test"]
    assert row["coverage_95"] > 0.95 - 3 * np.sqrt(0.05 * 0.95 / n) - 0.02
    table_map = outcome.result["table"]
    assert np.all(table_map["test_rms_corrected"] < 1.1 * table_map["test_rms_bare"])
