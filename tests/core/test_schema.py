"""The shared InferenceData schema (core.schema) and the prior-predictive groups of results."""

import arviz as az
import matplotlib
import numpy as np
import pytest

from bayesphys.core.schema import (
    FEATURE_DIM,
    OBS_DIM,
    fit_inference_data,
    predictive_inference_data,
)

matplotlib.use("Agg")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    draws = {"coef": rng.normal(size=(2, 30, 2)), "sigma": rng.gamma(2.0, size=(2, 30))}
    return rng, X, y, draws


def test_fit_schema_groups_dims_and_plots(data):
    rng, X, y, draws = data
    idata = fit_inference_data(
        draws,
        X=X,
        y=y,
        y_err=np.full(12, 0.1),
        feature_names=["T_K", "P_bar"],
        method="nuts",
        model="Toy",
        sample_stats={"lp": rng.normal(size=(2, 30)), "energy": rng.normal(size=(2, 30))},
        log_likelihood=rng.normal(size=(2, 30, 12)),
        posterior_predictive=rng.normal(size=(2, 30, 12)),
        dims={"coef": [FEATURE_DIM]},
    )
    assert set(idata.groups()) == {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
        "constant_data",
    }
    assert idata.posterior["coef"].dims == ("chain", "draw", FEATURE_DIM)
    assert list(idata.posterior[FEATURE_DIM].values) == ["T_K", "P_bar"]
    assert idata.constant_data["X"].dims == (OBS_DIM, FEATURE_DIM)
    assert idata.constant_data["y_err"].dims == (OBS_DIM,)
    assert idata.posterior.attrs["inference_method"] == "nuts"
    assert idata.posterior.attrs["model"] == "Toy"
    az.plot_ppc(idata, num_pp_samples=5)
    assert np.all(np.isfinite(az.bfmi(idata)))
    matplotlib.pyplot.close("all")


def test_fit_schema_rejects_nonstandard_stats_and_bad_names(data):
    rng, X, y, draws = data
    common = {"X": X, "y": y, "y_err": None, "method": "nuts", "model": "Toy"}
    with pytest.raises(ValueError, match="not in the shared schema"):
        fit_inference_data(
            draws,
            feature_names=["a", "b"],
            sample_stats={"perf_counter_diff": rng.normal(size=(2, 30))},
            **common,
        )
    with pytest.raises(ValueError, match="feature_names has 3 names for 2 columns"):
        fit_inference_data(draws, feature_names=["a", "b", "c"], **common)


def test_prior_predictive_layout(data):
    rng, X, _, _ = data
    prior = predictive_inference_data(
        {"coef": rng.normal(size=(1, 50, 2))},
        rng.normal(size=(1, 50, 12)),
        X=X,
        y_err=None,
        feature_names=["a", "b"],
        method="conjugate",
        model="Toy",
        kind="prior",
        dims={"coef": [FEATURE_DIM]},
    )
    assert {"prior", "prior_predictive", "constant_data"} <= set(prior.groups())
    assert "posterior" not in prior.groups()
    assert prior.prior_predictive["y"].dims == ("chain", "draw", OBS_DIM)
    post = predictive_inference_data(
        {"coef": rng.normal(size=(2, 5, 2))},
        rng.normal(size=(2, 5, 12)),
        X=X,
        y_err=np.full(12, 0.2),
        feature_names=["a", "b"],
        method="nuts",
        model="Toy",
        extra_predictive={"f": rng.normal(size=(2, 5, 12))},
        dims={"coef": [FEATURE_DIM], "f": [OBS_DIM]},
    )
    assert post.posterior_predictive["f"].dims == ("chain", "draw", OBS_DIM)
    with pytest.raises(ValueError, match="kind"):
        predictive_inference_data(
            {}, None, X=X, y_err=None, feature_names=["a", "b"], method="m", model="M", kind="x"
        )
