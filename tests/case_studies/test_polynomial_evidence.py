"""Smoke and science test of the polynomial-degree case study (its ``--fast`` configuration)."""

from pathlib import Path

import numpy as np
import pytest

from bayesphys import results
from bayesphys.studies import load_study


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    study, config = load_study("polynomial-evidence")
    out_dir = tmp_path_factory.mktemp("polynomial_evidence")
    return study.run(config, out_dir, fast=True), config, out_dir


def test_outputs_exist(outcome):
    res, _, out_dir = outcome
    for path in res["files"].values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
        assert Path(path).parent == out_dir
    names = {p.name for p in out_dir.iterdir()}
    assert {"fit.png", "criteria.png", "ridge_path.png", "lasso_path.png"} <= names
    assert {"summary.csv", "summary.md", "ridge_path.csv", "lasso_path.csv"} <= names
    # The saved posterior is the evidence-chosen model and reloads with its coefficients.
    idata = results.load(res["files"]["posterior"])
    assert idata.posterior["coef"].shape[-1] == res["degree_evidence"]
    assert "log_likelihood" in idata.groups()


def test_evidence_picks_the_true_degree(outcome):
    res, config, _ = outcome
    table = res["table"]
    true_degree = len(config["data"]["true_coefficients"]) - 1
    assert res["true_degree"] == true_degree
    assert list(table.index) == list(range(config["model"]["max_degree"] + 1))
    assert table["evidence_probability"].idxmax() == true_degree == res["degree_evidence"]
    assert table.loc[true_degree, "evidence_probability"] > 0.5
    np.testing.assert_allclose(table["evidence_probability"].sum(), 1.0)
    # Underfitting is ruled out by many nats, and the truth fits at chi^2/n of about one.
    assert table.loc[true_degree, "log_evidence"] - table.loc[true_degree - 1, "log_evidence"] > 10
    assert 0.5 < table.loc[true_degree, "chi2"] / config["data"]["n"] < 1.5


def test_exact_loo_is_close_to_psis_loo_for_adequate_models(outcome):
    res, _, _ = outcome
    table = res["table"].loc[res["true_degree"] :]
    assert np.all(np.abs(table["elpd_loo"] - table["elpd_loo_exact"]) < 2.0)
    assert res["degree_exact_loo"] >= res["true_degree"]


def test_lasso_path_has_exact_zeros_and_ridge_does_not(outcome):
    res, config, _ = outcome
    lasso, ridge = res["lasso_path"], res["ridge_path"]
    max_degree = config["model"]["max_degree"]
    assert lasso.shape == ridge.shape == (len(res["scales"]), max_degree)
    assert np.all(lasso[0] == 0.0)  # strongest penalty: every coefficient exactly zero
    assert np.count_nonzero(lasso[-1]) >= res["true_degree"]  # weakest: the cubic is back
    assert np.count_nonzero(ridge == 0.0) == 0  # ridge shrinks but never zeroes
    # Shrinkage: the coefficient norm grows as the prior widens.
    norms = np.linalg.norm(ridge, axis=1)
    assert norms[0] < 1e-3 * norms[-1]


def test_unreliable_loo_is_flagged_for_every_degree(outcome):
    res, _, out_dir = outcome
    table = res["table"]
    high = table.index[table["max_pareto_k"] > 0.7]
    assert len(high) > 0  # precise end points have high leverage: k > 0.7 even at the truth
    (line,) = res["checks"]
    for degree in table.index:
        assert (f"{degree} (k = " in line) == (degree in high)
    summary = (out_dir / "summary.md").read_text()
    chosen = res["degree_loo"]
    caveat = "unreliable: its max Pareto k" in summary
    assert caveat == (table.loc[chosen, "max_pareto_k"] > 0.7)
