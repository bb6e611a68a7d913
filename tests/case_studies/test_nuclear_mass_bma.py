"""The flagship study end to end (through the CLI runner): --fast, and the full protocol (slow)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from bayesphys import results
from bayesphys.data.masses import MODEL_INFO, DataCoverageWarning
from bayesphys.studies import run_study

SCHEMES = {"evidence", "predictive", "stacking", "existence", "uniform"}
BENCHMARK = ["p_ex(60Ca)", "p_ex(68Ca)", "p_ex(70Ca)", "p_ex(26O)", "p_ex(39Na)"]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    out = tmp_path_factory.mktemp("nuclear_mass_bma")
    with warnings.catch_warnings():
        # The fast window holds only nuclei every model covers: nothing is left out.
        warnings.simplefilter("error", DataCoverageWarning)
        return run_study("nuclear-mass-bma", out, fast=True)


def test_outputs(outcome):
    names = set(outcome.files)
    expected = {"existence_chart.png", "weights.png", "residual_maps.png", "coverage.png"}
    expected |= {"drip_line.png", "schemes.csv", "scheme_weights.csv", "model_quality.csv"}
    assert expected | {"summary.md", "models.csv", "model_weights.nc", "report.md"} <= names
    weights = results.load(outcome.files["model_weights.nc"]).posterior["weight"].values
    assert weights.sum() == pytest.approx(1.0)
    report = outcome.files["report.md"].read_text()
    assert "![drip_line](drip_line.png)" in report
    # Units on the comparison table's columns.
    assert "test_rms [MeV]" in report and "test_log_score [nats]" in report
    assert "p_ex(26O) [1]" in report and "N_eff [models]" in report


def _check_comparison(result):
    """Every scheme present, weights summing to one, rms, coverage and scores per scheme."""
    schemes, weights = result["schemes"], result["scheme_weights"]
    assert set(schemes.index) == SCHEMES and set(weights.columns) == SCHEMES
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
    assert (weights.to_numpy() >= 0).all()
    for column in ["test_rms", "coverage_68", "coverage_95", "test_log_score", *BENCHMARK]:
        assert schemes[column].notna().all(), column
    assert schemes[["coverage_68", "coverage_95", *BENCHMARK]].stack().between(0, 1).all()
    assert (schemes["coverage_68"] <= schemes["coverage_95"]).all()
    n_eff = 1 / (weights**2).sum(axis=0)
    np.testing.assert_allclose(schemes.loc[n_eff.index, "N_eff"], n_eff, rtol=1e-10)
    np.testing.assert_allclose(schemes.loc["uniform", "N_eff"], len(weights), rtol=1e-12)


def test_scheme_comparison(outcome):
    _check_comparison(outcome.result)
    # The default scheme's weights are those of the fitted average.
    default = outcome.result["bma"].weights
    pd.testing.assert_series_equal(
        outcome.result["scheme_weights"][default], outcome.result["weights"], check_names=False
    )


def test_gp_correction_and_calibration(outcome):
    table = outcome.result["table"]
    # The GP correction helps every model not already fitted to the masses; the tables that
    # already reproduce AME2003 to ~0.2 MeV (SVM13 here) gain nothing and may lose a little.
    fitted = [MODEL_INFO[name].fitted_to_data for name in table.index]
    honest = table[~np.array(fitted)]
    assert len(honest) >= 3
    assert np.all(honest["test_rms_corrected"] < honest["test_rms_bare"])
    assert np.all(table["test_rms_corrected"] < 1.1 * table["test_rms_bare"])
    # ~70 held-out S2n values: the default average's 95% intervals cover 95% within a few
    # binomial sd.
    row = outcome.result["schemes"].loc[outcome.result["bma"].weights]
    n = row["n_test"]
    assert row["coverage_95"] > 0.95 - 3 * np.sqrt(0.05 * 0.95 / n) - 0.02
    # Not better than the best bare table (SVM13, fitted to the masses, is hard to beat on rms),
    # but better than the typical one.
    assert row["test_rms"] <= table["test_rms_bare"].median()


def test_drip_lines_are_physical(outcome):
    drip = outcome.result["drip"].set_index("Z")
    # Every element of the window, Z = 8-60; measured bound isotopes set a floor: 24O (N = 16)
    # and 60Ca (N = 40) exist.
    assert list(drip.index) == list(range(8, 61))
    assert drip.loc[8, "N_drip"] >= 16 and drip.loc[20, "N_drip"] >= 40
    assert (drip["N_drip"] % 2 == 0).all()  # the two-neutron drip line runs over even N
    assert np.all(drip["N_low"] <= drip["N_drip"]) and np.all(drip["N_drip"] <= drip["N_high"])
    chart = pd.read_csv(outcome.out_dir / "existence_probability.csv")
    assert chart["p_ex"].between(0, 1).all()


def test_quality_check_leaves_out_the_table_fitted_to_the_validation_data(outcome):
    quality = outcome.result["quality"]
    assert list(quality.index[~quality["passes"]]) == ["BR2013"]


@pytest.mark.slow
def test_full_protocol(tmp_path):
    outcome = run_study("nuclear-mass-bma", tmp_path)
    result = outcome.result
    _check_comparison(result)
    assert len(result["scheme_weights"]) >= 11  # at least eleven mass models averaged
    quality = result["quality"]
    assert set(result["scheme_weights"].index) <= set(quality.index[quality["passes"]])
    drip = result["drip"].set_index("Z")
    assert list(drip.index) == list(range(8, 101))
    # The default is the scheme with the best held-out log score (as the config says).
    assert result["schemes"]["test_log_score"].idxmax() == result["bma"].weights
