"""Smoke and science test of the liquid-drop (SEMF) case study (its ``--fast`` configuration)."""

from pathlib import Path

import numpy as np
import pytest

from bayesphys import results
from bayesphys.studies import load_study

# Textbook ranges for this form (Z(Z-1) Coulomb, delta / sqrt(A) pairing), in MeV.
PHYSICAL = {
    "a_V": (15.0, 16.5),
    "a_S": (16.0, 19.0),
    "a_C": (0.65, 0.75),
    "a_A": (21.0, 25.0),
    "a_P": (9.0, 15.0),
    "sigma": (2.0, 4.0),
}


@pytest.fixture(scope="module")
def study():
    return load_study("semf")[0]


@pytest.fixture(scope="module")
def outcome(study, tmp_path_factory):
    config = load_study("semf")[1]
    out_dir = tmp_path_factory.mktemp("semf")
    return study.run(config, out_dir, fast=True), config, out_dir


def test_outputs_exist_and_posterior_reloads(outcome):
    res, config, out_dir = outcome
    for path in res["files"].values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
        assert Path(path).parent == out_dir
    names = {p.name for p in out_dir.iterdir()}
    assert {"residuals.png", "chart.png", "binding.png", "posterior.png", "summary.md"} <= names
    idata = results.load(res["files"]["posterior_nc"])
    assert list(idata.posterior["coef"].feature.values) == ["a_V", "a_S", "a_C", "a_A", "a_P"]
    assert idata.posterior["coef"].shape[:2] == (config["fast"]["chains"], config["fast"]["draws"])
    assert "a_V" in (out_dir / "summary.md").read_text()


def test_coefficients_are_physical_and_precise(outcome):
    res, _, _ = outcome
    table = res["coefficients"]
    assert list(table.index) == list(PHYSICAL)
    for name, (low, high) in PHYSICAL.items():
        assert low < table.loc[name, "mean"] < high, (name, table.loc[name, "mean"])
    # ~2500 nuclei pin the bulk terms to better than 1%; pairing is the loosest term.
    rel = table["sd"] / table["mean"]
    assert (rel[["a_V", "a_S", "a_C", "a_A"]] < 0.01).all() and rel["a_P"] < 0.15
    # The closed form's marginal sd and the exact draws agree.
    np.testing.assert_allclose(
        np.sqrt(np.diag(res["model"].coef_cov_)), table["sd"].iloc[:5], rtol=0.15
    )


def test_data_and_residual_shell_structure(outcome):
    res, _, _ = outcome
    data = res["data"]
    assert len(data) > 2400 and data["Z"].min() >= 8 and data["N"].min() >= 8
    pb208 = data[(data["Z"] == 82) & (data["N"] == 126)].iloc[0]
    assert pb208["binding_energy"] == pytest.approx(1636.43, abs=0.01)
    assert 2.5 < res["rms"] < 3.5  # the classic liquid-drop accuracy
    # Closed shells are more bound than the liquid drop says: bumps at N, Z = 50, 82 and N = 126.
    bumps = res["shell_bumps"].set_index(["axis", "magic"])["bump_MeV"]
    for key in [("N", 50), ("N", 82), ("N", 126), ("Z", 50), ("Z", 82)]:
        assert bumps[key] > 2.0, (key, bumps[key])


def test_design_matches_the_formula(study):
    # 208Pb: even-even, A = 208.
    row = study.design(np.array([82]), np.array([126])).iloc[0]
    a = 208.0
    expected = [a, -(a ** (2 / 3)), -82 * 81 / a ** (1 / 3), -(44.0**2) / a, 1 / np.sqrt(a)]
    np.testing.assert_allclose(row.to_numpy(), expected)
    odd_odd = study.design(np.array([81]), np.array([127])).iloc[0]
    assert odd_odd["a_P"] == pytest.approx(-1 / np.sqrt(a))
    assert study.design(np.array([82]), np.array([127])).iloc[0]["a_P"] == 0.0


@pytest.mark.slow
def test_nuts_cross_check_agrees_with_the_closed_form(study, outcome):
    # ~20 s: NUTS on centred QR offsets, mapped back, must reproduce the exact posterior.
    res, config, _ = outcome
    data = res["data"]
    nuts = {**config["nuts"], "draws": 300, "tune": 300}
    model = study.fit_nuts(study.design(data["Z"], data["N"]), data["binding_energy"], nuts, 0)
    assert int(model.idata_.sample_stats["diverging"].sum()) == 0
    table = study.coefficient_table(model.idata_)
    exact = res["coefficients"]
    pulls = (table["mean"] - exact["mean"]) / exact["sd"]
    assert (pulls.abs() < 0.5).all(), pulls
    np.testing.assert_allclose(table["sd"], exact["sd"], rtol=0.25)
