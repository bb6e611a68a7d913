"""Tests of InferenceData building, netCDF I/O and the ArviZ wrappers."""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import bayesphys.results as public
from bayesphys.core import results
from bayesphys.core.results import (
    InferenceData,
    compare,
    concat,
    convergence_warnings,
    ess,
    extract_draws,
    load,
    loo,
    mcse,
    rhat,
    save,
    summary,
    to_inference_data,
)

CHAINS, DRAWS = 4, 500


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def idata(rng):
    return to_inference_data(
        {"mu": rng.normal(size=(CHAINS, DRAWS)), "beta": rng.normal(size=(CHAINS, DRAWS, 3))},
        sample_stats={"lp": rng.normal(size=(CHAINS, DRAWS))},
        log_likelihood={"y": rng.normal(-1.0, 0.1, size=(CHAINS, DRAWS, 5))},
        observed_data={"y": rng.normal(size=5)},
        constant_data={"x": np.arange(5.0)},
        coords={"coef": ["a", "b", "c"], "obs": np.arange(5)},
        dims={"beta": ["coef"], "y": ["obs"], "x": ["obs"]},
        attrs={"inference_method": "hmc"},
    )


def test_groups_dims_coords_and_attrs(idata):
    assert set(idata.groups()) == {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "constant_data",
    }
    assert idata.posterior["beta"].dims == ("chain", "draw", "coef")
    assert list(idata.posterior["coef"].values) == ["a", "b", "c"]
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert idata.observed_data["y"].dims == ("obs",)
    assert idata.posterior.sizes["chain"] == CHAINS and idata.posterior.sizes["draw"] == DRAWS
    attrs = idata.posterior.attrs
    assert attrs["inference_method"] == "hmc"
    assert attrs["bayesphys_version"] and attrs["created_at"]
    assert idata.sample_stats.attrs["inference_method"] == "hmc"


def test_prior_and_posterior_predictive_groups(rng):
    idata = to_inference_data(
        {"mu": rng.normal(size=(2, 10))},
        posterior_predictive={"y": rng.normal(size=(2, 10, 3))},
        prior={"mu": rng.normal(size=(1, 50))},  # prior draws need not match the posterior's
    )
    assert {"posterior_predictive", "prior"} <= set(idata.groups())
    assert idata.prior.sizes["draw"] == 50


def test_torch_inputs_are_converted(rng):
    theta = torch.randn(2, 30, 2, dtype=torch.float64, requires_grad=True)
    idata = to_inference_data({"theta": theta, "s": torch.ones(2, 30, dtype=torch.bfloat16)})
    np.testing.assert_array_equal(idata.posterior["theta"].values, theta.detach().numpy())
    assert idata.posterior["s"].dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_posterior_raises_naming_the_variable(rng, bad):
    sigma = np.abs(rng.normal(size=(2, 20)))
    sigma[1, 7] = bad
    with pytest.raises(ValueError, match=r"posterior\['sigma'\] contains 1 NaN or infinite"):
        to_inference_data({"mu": rng.normal(size=(2, 20)), "sigma": sigma})


def test_nan_log_likelihood_raises_but_minus_inf_is_allowed(rng):
    ll = rng.normal(size=(2, 20, 3))
    ll[0, 0, 0] = -np.inf
    to_inference_data({"mu": rng.normal(size=(2, 20))}, log_likelihood={"y": ll})
    ll[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"log_likelihood\['y'\] contains 1 NaN"):
        to_inference_data({"mu": rng.normal(size=(2, 20))}, log_likelihood={"y": ll})


def test_mismatched_chain_draw_shapes_raise(rng):
    with pytest.raises(ValueError, match=r"posterior\['b'\] has \(chain, draw\) = \(3, 20\)"):
        to_inference_data({"a": rng.normal(size=(2, 20)), "b": rng.normal(size=(3, 20))})
    with pytest.raises(ValueError, match=r"sample_stats has .* but the posterior has"):
        to_inference_data(
            {"a": rng.normal(size=(2, 20))}, sample_stats={"lp": rng.normal(size=(2, 19))}
        )
    with pytest.raises(ValueError, match="leading \\(chain, draw\\)"):
        to_inference_data({"a": rng.normal(size=20)})
    with pytest.raises(ValueError, match="at least one variable"):
        to_inference_data({})


def test_dims_and_coords_must_agree(rng):
    post = {"beta": rng.normal(size=(2, 10, 3))}
    with pytest.raises(ValueError, match=r"dimension 'coef' has length 3 .* but 2 in coords"):
        to_inference_data(post, coords={"coef": ["a", "b"]}, dims={"beta": ["coef"]})
    with pytest.raises(ValueError, match=r"dims\['beta'\] = \['coef', 'extra'\] names 2"):
        to_inference_data(post, dims={"beta": ["coef", "extra"]})
    with pytest.raises(ValueError, match="dimension 'obs' has length 5 in observed_data"):
        to_inference_data(
            post,
            log_likelihood={"y": rng.normal(size=(2, 10, 4))},
            observed_data={"y": rng.normal(size=5)},
            dims={"y": ["obs"]},
        )
    with pytest.raises(ValueError, match=r"coords\['chain'\] has 3 values"):
        to_inference_data(post, coords={"chain": [0, 1, 2]})


def test_non_numeric_inputs_and_attrs_raise(rng):
    with pytest.raises(TypeError, match="numeric"):
        to_inference_data({"a": np.full((2, 3), "x")})
    with pytest.raises(TypeError, match=r"attrs\['cfg'\]"):
        to_inference_data({"a": rng.normal(size=(2, 3))}, attrs={"cfg": {"nested": 1}})


def normal_model(y, sigma, rng, draws=DRAWS):
    """Posterior of mu (flat prior) for y ~ N(mu, sigma^2), and its pointwise log-likelihood."""
    n = y.size
    mu = rng.normal(y.mean(), sigma / np.sqrt(n), size=(CHAINS, draws))
    log_lik = stats.norm.logpdf(y, loc=mu[..., None], scale=sigma)
    return to_inference_data(
        {"mu": mu}, log_likelihood={"y": log_lik}, observed_data={"y": y}, dims={"y": ["obs"]}
    )


def exact_loo_elpd(y, sigma):
    """Exact leave-one-out predictive density: N(y_i | mean(y_-i), sigma^2 (1 + 1/(n-1)))."""
    n = y.size
    loo_mean = (y.sum() - y) / (n - 1)
    return stats.norm.logpdf(y, loo_mean, sigma * np.sqrt(1 + 1 / (n - 1))).sum()


def test_loo_matches_exact_leave_one_out(rng):
    y = rng.normal(1.0, 1.0, size=40)
    result = loo(normal_model(y, 1.0, rng))
    assert result["elpd_loo"] == pytest.approx(exact_loo_elpd(y, 1.0), abs=0.3)
    pointwise = loo(normal_model(y, 1.0, rng), pointwise=True)
    assert pointwise["loo_i"].shape == (40,)


def test_compare_ranks_the_true_model_first(rng):
    y = rng.normal(1.0, 1.0, size=40)
    models = {"wide": normal_model(y, 3.0, rng), "true": normal_model(y, 1.0, rng)}
    table = compare(models)
    assert isinstance(table, pd.DataFrame)
    assert table.index[0] == "true"
    assert table.loc["wide", "elpd_diff"] > 5


def test_save_load_round_trip(idata, tmp_path):
    path = save(idata, tmp_path / "new" / "dir" / "fit.nc")
    assert path == tmp_path / "new" / "dir" / "fit.nc"
    assert os.listdir(path.parent) == ["fit.nc"]  # no temporary file left behind
    back = load(path)
    for group in idata.groups():
        for name, values in idata[group].data_vars.items():
            np.testing.assert_array_equal(back[group][name].values, values.values)
            assert back[group][name].dims == values.dims
    assert back.posterior.attrs["inference_method"] == "hmc"
    assert list(back.posterior["coef"].values) == ["a", "b", "c"]
    save(back, path)  # overwriting the file just read works
    assert os.listdir(path.parent) == ["fit.nc"]


def test_failed_save_keeps_old_file_and_leaves_no_temp(idata, tmp_path, monkeypatch):
    target = tmp_path / "fit.nc"
    target.write_bytes(b"previous result")

    def crash(self, filename, **kwargs):
        Path(filename).write_bytes(b"half-writ")
        raise OSError("disk full")

    monkeypatch.setattr(InferenceData, "to_netcdf", crash)
    with pytest.raises(OSError, match="disk full"):
        save(idata, target)
    assert target.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["fit.nc"]


def test_missing_netcdf_backend_gives_a_clear_error(idata, tmp_path, monkeypatch):
    def no_h5py(self, filename, **kwargs):
        raise ImportError("No module named 'h5py'")

    monkeypatch.setattr(InferenceData, "to_netcdf", no_h5py)
    with pytest.raises(ImportError, match="pip install h5py"):
        save(idata, tmp_path / "fit.nc")
    assert os.listdir(tmp_path) == []


def test_save_into_unusable_directory_raises(idata, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="cannot create directory"):
        save(idata, blocker / "fit.nc")


def test_save_into_read_only_directory_raises(idata, tmp_path, monkeypatch):
    # Permission bits do not stop root (CI), so make the access check report read-only.
    monkeypatch.setattr(results.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable"):
        save(idata, tmp_path / "fit.nc")
    assert os.listdir(tmp_path) == []


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nope.nc")
    with pytest.raises(FileNotFoundError, match="is a directory"):
        load(tmp_path)


def test_diagnostics_on_iid_draws(rng):
    n = CHAINS * DRAWS
    good = to_inference_data({"mu": rng.normal(2.0, 3.0, size=(CHAINS, DRAWS))})
    table = summary(good)
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["mu"]
    assert table.loc["mu", "r_hat"] == pytest.approx(1.0, abs=0.01)
    assert float(rhat(good)["mu"]) == pytest.approx(1.0, abs=0.01)
    assert float(ess(good)["mu"]) == pytest.approx(n, rel=0.15)
    assert float(mcse(good)["mu"]) == pytest.approx(3.0 / np.sqrt(n), rel=0.15)
    assert convergence_warnings(good) == []


def test_diagnostics_on_arrays(rng):
    draws = rng.normal(size=(CHAINS, DRAWS, 2))
    assert isinstance(ess(draws[..., 0]), float)
    assert ess(draws[..., 0]) == pytest.approx(CHAINS * DRAWS, rel=0.15)
    assert rhat(torch.from_numpy(draws)).shape == (2,)
    assert mcse(draws).shape == (2,)
    assert np.all(np.abs(rhat(draws) - 1) < 0.01)


def test_convergence_warnings_flag_a_stuck_chain(rng):
    theta = rng.normal(size=(CHAINS, DRAWS, 2))
    theta[0, :, 1] += 4.0  # one chain stuck in another mode for the second component
    bad = to_inference_data(
        {"theta": theta, "ok": rng.normal(size=(CHAINS, DRAWS))},
        coords={"k": ["x", "y"]},
        dims={"theta": ["k"]},
    )
    messages = convergence_warnings(bad)
    assert any(re.match(r"theta\[y\] \(worst of 2\): R-hat = \d\.\d+ > 1\.01", m) for m in messages)
    assert not any(m.startswith("ok") for m in messages)
    stuck = to_inference_data({"c": np.ones((CHAINS, DRAWS))})
    assert "undefined" in convergence_warnings(stuck)[0]
    few = to_inference_data({"mu": rng.normal(size=(2, 50))})
    assert any("bulk ESS" in m for m in convergence_warnings(few, ess_min=400))


def test_convergence_warnings_count_divergences_and_capped_trees(rng):
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[1, [3, 7]] = True
    depth = np.full((CHAINS, DRAWS), 4)
    depth[0, :5] = 10
    idata = to_inference_data(
        {"mu": rng.normal(size=(CHAINS, DRAWS))},
        sample_stats={
            "diverging": diverging,
            "tree_depth": depth,
            "reached_max_treedepth": depth >= 10,
        },
    )
    total = CHAINS * DRAWS
    messages = convergence_warnings(idata, ess_min=0)
    assert messages[0].startswith(f"2 of {total} transitions after tuning diverged (in 1 of")
    assert messages[1].startswith(f"5 of {total} transitions stopped at the maximum tree depth")
    clean = to_inference_data(
        {"mu": rng.normal(size=(CHAINS, DRAWS))}, sample_stats={"diverging": ~diverging & False}
    )
    assert convergence_warnings(clean, ess_min=0) == []


def test_extract_draws_flattens_chain_and_draw(idata):
    beta = extract_draws(idata, "beta")
    assert beta.shape == (CHAINS * DRAWS, 3)
    np.testing.assert_array_equal(beta[DRAWS + 7], idata.posterior["beta"].values[1, 7])
    assert extract_draws(idata, "y", group="log_likelihood").shape == (CHAINS * DRAWS, 5)
    with pytest.raises(KeyError, match="variables are"):
        extract_draws(idata, "nope")
    with pytest.raises(KeyError, match="no group"):
        extract_draws(idata, "mu", group="prior")


def test_concat_along_chains(idata):
    both = concat(idata, idata, dim="chain")
    assert both.posterior.sizes["chain"] == 2 * CHAINS


def test_public_alias_exports_everything():
    for name in public.__all__:
        assert hasattr(public, name), name
    assert public.to_inference_data is results.to_inference_data
    assert {"blocking", "BlockingResult", "autocorrelation_time"} <= set(public.__all__)


def test_only_core_results_imports_arviz():
    package = Path(results.__file__).resolve().parents[1]
    pattern = re.compile(r"^\s*(import arviz|from arviz)", re.MULTILINE)
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if pattern.search(path.read_text()) and path.name != "results.py"
    ]
    offenders += [
        "results.py"
        for path in [package / "results.py"]
        if path.exists() and pattern.search(path.read_text())
    ]
    assert offenders == [], f"only bayesphys/core/results.py may import arviz: {offenders}"
