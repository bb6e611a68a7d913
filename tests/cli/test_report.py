"""Report helpers: number formatting and posterior tables of draws and of point estimates."""

import numpy as np
import pandas as pd

from bayesphys import results
from bayesphys.report import markdown_table, posterior_table, with_uncertainty


def test_with_uncertainty_rounds_to_two_digits_of_the_error():
    assert with_uncertainty(3.000412, 0.000213) == "3.00041 ± 0.00021"
    assert with_uncertainty(1234.5, 12.0) == "1234 ± 12"  # round-half-even of 1234.5
    assert with_uncertainty(2.0, 0.0) == "2 ± 0"


def test_markdown_table_shape():
    text = markdown_table(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}), index=False)
    lines = text.splitlines()
    assert lines[0] == "| a | b |" and len(lines) == 4 and lines[3] == "| 2 | nan |"


def test_point_estimate_table_lists_values(tmp_path):
    idata = results.to_inference_data(
        {"weight": np.array([[[0.25, 0.75]]])},
        dims={"weight": ["model"]},
        coords={"model": ["A", "B"]},
    )
    table, warnings = posterior_table(results.save(idata, tmp_path / "w.nc"))
    assert "| weight[A] | 0.25 |" in table and "| weight[B] | 0.75 |" in table
    assert warnings == []


def test_draws_table_has_diagnostics(tmp_path):
    draws = np.random.default_rng(0).normal(5.0, 2.0, size=(2, 500))
    table, _ = posterior_table(
        results.save(results.to_inference_data({"x": draws}), tmp_path / "d.nc")
    )
    assert "R-hat" in table and "| x | 4.9 ± 2.0 |" in table  # mean 4.94 of 1000 draws


def test_write_report_flags_unreadable_posteriors_and_lists_units_of_point_estimates(tmp_path):
    from types import SimpleNamespace

    from bayesphys.report import write_report

    idata = results.to_inference_data({"weight": np.array([[0.25]])})
    results.save(idata, tmp_path / "w.nc")
    (tmp_path / "broken.nc").write_text("not netCDF")
    study = SimpleNamespace(name="direct", description="Called without the runner.")
    report = write_report(
        tmp_path / "report.md",
        study,
        {"units": {"weight": "1"}},
        fast=False,
        seed=None,
        config=None,
    ).read_text()
    checks = report.split("## Checks")[1].split("## ")[0]
    assert "- `broken.nc`: not readable as InferenceData" in checks
    assert "| weight | 0.25 | 1 |" in report  # a point estimate: nothing else to flag
    assert "- seed: none" in report and "## Configuration" not in report  # no settings given
