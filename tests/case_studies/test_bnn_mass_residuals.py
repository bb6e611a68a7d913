"""The BNN mass-residual study end to end with --fast settings (through the CLI runner)."""

import numpy as np
import pytest

from bayesphys import results
from bayesphys.studies import load_study, run_study


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    out = tmp_path_factory.mktemp("bnn_mass_residuals")
    return run_study("bnn-mass-residuals", out, fast=True)


def test_features_follow_niu_liang():
    study, _ = load_study("bnn-mass-residuals")
    # 208Pb: doubly magic, even-even. 19F: odd A, nu_p = 1, nu_n = 2. 24Na: odd-odd, nu_p = 3
    # (from 8), nu_n = 5 (from 8: N = 13 is nearer 8 than 20).
    X = study.features([82, 9, 11], [126, 10, 13], ["Z", "N", "delta", "P"])
    np.testing.assert_allclose(X[:, 2], [1.0, 0.0, -1.0])
    np.testing.assert_allclose(X[:, 3], [0.0, 2 / 3, 15 / 8])
    with pytest.raises(ValueError, match="features"):
        study.features([20], [28], ["Z", "shell_gap"])


def test_outputs(outcome):
    names = set(outcome.files)
    figures = {f"{kind}_FRDM95.png" for kind in ("residual_chart", "isotopic_chains")}
    figures |= {"test_predictions_FRDM95.png", "coverage.png"}
    assert figures | {"summary.md", "scores.csv", "report.md", "bnn_posterior_FRDM95.nc"} <= names
    idata = results.load(outcome.files["bnn_posterior_FRDM95.nc"])
    n_test = int(outcome.result["table"].loc[("FRDM95", "raw"), "n_test"])
    assert idata.posterior["correction"].sizes["test_nucleus"] == n_test
    assert float(idata.posterior["sigma"].min()) > 0
    report = outcome.files["report.md"].read_text()
    assert "| FRDM95 | GP |" in report and "![coverage](coverage.png)" in report


def test_corrections_and_calibration(outcome):
    table = outcome.result["table"].loc["FRDM95"]
    assert list(table.index) == ["raw", "BNN", "GP"]
    # Both correctors must improve on the bare model for the nuclei measured since AME2003.
    assert table.loc["BNN", "test_rms"] < table.loc["raw", "test_rms"]
    assert table.loc["GP", "test_rms"] < table.loc["raw", "test_rms"]
    # ~175 test nuclei: 95% intervals cover 95% within a few binomial sd, and are not so wide
    # that they cover everything.
    n = table.loc["raw", "n_test"]
    low = 0.95 - 3 * np.sqrt(0.05 * 0.95 / n) - 0.02
    for corrector in ("BNN", "GP"):
        assert low < table.loc[corrector, "coverage_95"] <= 0.99
    # The test nuclei lie beyond the training data: the network must know it is less sure.
    diag = outcome.result["diagnostics"].loc["FRDM95"]
    assert diag["epistemic_sd_test"] > diag["epistemic_sd_train"]
