"""Smoke and science test of the GP-emulator case study (its ``--fast`` configuration)."""

from pathlib import Path

import numpy as np
import pytest

from bayesphys import results
from bayesphys.studies import load_study


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    study, config = load_study("gp-emulator")
    out_dir = tmp_path_factory.mktemp("gp_emulator")
    return study.run(config, out_dir, fast=True), config, out_dir, study


def test_outputs_exist(outcome):
    res, _, out_dir, _ = outcome
    for path in res["files"].values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
        assert Path(path).parent == out_dir
    idata = results.load(res["files"]["posterior"])
    assert idata.posterior.attrs["inference_method"] == "map"
    assert "lengthscale" in idata.posterior


def test_emulator_is_accurate_and_calibrated(outcome):
    res = outcome[0]
    # Accurate: held-out error a few percent of the output range.
    assert res["rmse"] < 0.06 * res["y_range"]
    # Calibrated: the 95% intervals cover most held-out runs (errors are spatially correlated,
    # so the allowance is wider than the binomial error of 0.014 for 225 runs) ...
    assert 0.85 <= res["coverage_95"] <= 1.0
    # ... and nearly interpolating at the deterministic training runs.
    assert np.max(res["train_std"]) < 0.05 * res["y_range"]


def test_simulator_matches_the_closed_form(outcome):
    _, config, _, study = outcome
    omega, zeta, t = 1.7, 0.2, config["simulator"]["t_end"]
    wd = omega * np.sqrt(1 - zeta**2)
    exact = np.exp(-zeta * omega * t) * (np.cos(wd * t) + zeta * omega / wd * np.sin(wd * t))
    np.testing.assert_allclose(study.simulate(np.array([[omega, zeta]]), t), exact, rtol=1e-7)
