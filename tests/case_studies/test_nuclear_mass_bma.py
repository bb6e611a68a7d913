"""The flagship study end to end with --fast settings (through the CLI runner)."""

import numpy as np
import pandas as pd
import pytest

from bayesphys import results
from bayesphys.studies import run_study


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    out = tmp_path_factory.mktemp("nuclear_mass_bma")
    return run_study("nuclear-mass-bma", out, fast=True)


def test_outputs(outcome):
    names = set(outcome.files)
    expected = {"existence_chart.png", "weights.png", "residual_maps.png", "coverage.png"}
    assert expected | {"summary.md", "models.csv", "model_weights.nc", "report.md"} <= names
    weights = results.load(outcome.files["model_weights.nc"]).posterior["weight"].values
    assert weights.sum() == pytest.approx(1.0)
    assert "![existence_chart](existence_chart.png)" in outcome.files["report.md"].read_text()


def test_gp_correction_and_calibration(outcome):
    table = outcome.result["table"]
    models = table.drop(index="BMA")
    assert np.all(models["test_rms_corrected"] < models["test_rms_bare"])
    # ~175 new S2n values: the 95% intervals must cover 95% within a few binomial sd.
    n = table.loc["BMA", "n_test"]
    assert table.loc["BMA", "coverage_95"] > 0.95 - 3 * np.sqrt(0.05 * 0.95 / n) - 0.02
    assert table.loc["BMA", "test_rms_corrected"] <= models["test_rms_bare"].min()


def test_drip_lines_are_physical(outcome):
    drip = outcome.result["drip"].set_index("Z")
    # Measured bound isotopes set a floor: 24O (N = 16) and 60Ca (N = 40) exist.
    assert drip.loc[8, "N_drip"] >= 16 and drip.loc[20, "N_drip"] >= 40
    assert np.all(drip["N_low"] <= drip["N_drip"]) and np.all(drip["N_drip"] <= drip["N_high"])
    chart = pd.read_csv(outcome.out_dir / "existence_probability.csv")
    assert chart["p_ex"].between(0, 1).all()
