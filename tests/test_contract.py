"""Promises every estimator keeps, checked on every registered configuration."""

import pickle
import warnings

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bayesphys import results
from bayesphys.core.inference import InferenceMethod
from bayesphys.core.schema import FEATURE_DIM, OBS_DIM, SAMPLE_STATS
from tests.contract import CASES, regression_data

matplotlib.use("Agg")
MCMC_STATS = ("lp", "acceptance_rate", "step_size", "n_steps", "diverging", "energy")


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def fitted(request):
    case = request.param
    X, y, y_err = regression_data()
    model = case.make()
    returned = model.fit(X, y, y_err=y_err, **case.fit_kwargs)
    return case, model, returned, (X, y, y_err)


def test_fit_returns_self(fitted):
    _, model, returned, _ = fitted
    assert returned is model


def test_configuration_lives_in_the_constructor(fitted):
    case, model, _, _ = fitted
    params = model.get_params(deep=False)
    assert "method" in params and "random_state" in params
    assert isinstance(params["method"], InferenceMethod | str)
    assert params["random_state"] is not None, "contract cases are seeded"
    fresh = case.make()
    assert repr(fresh) == repr(model), "fit must not change constructor parameters"


def test_same_seed_same_result(fitted):
    case, model, _, (X, y, y_err) = fitted
    again = case.make().fit(X, y, y_err=y_err, **case.fit_kwargs)
    for name, var in model.idata_.posterior.data_vars.items():
        np.testing.assert_array_equal(var.values, again.idata_.posterior[name].values)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))


def test_pickle_round_trip(fitted):
    _, model, _, (X, _, _) = fitted
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert repr(restored) == repr(model)


def test_idata_schema(fitted, tmp_path):
    case, model, _, (X, y, y_err) = fitted
    idata = model.idata_
    post = idata.posterior
    assert post.sizes["chain"] >= 1 and post.sizes["draw"] >= 1
    assert post.attrs["inference_method"] == model.method_
    assert post.attrs["model"] == type(model).__name__
    assert idata.observed_data["y"].dims == (OBS_DIM,)
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    assert idata.constant_data["X"].dims == (OBS_DIM, FEATURE_DIM)
    np.testing.assert_array_equal(idata.constant_data["X"].values, X)
    np.testing.assert_array_equal(idata.constant_data["y_err"].values, y_err)
    if case.has_draws:
        for group in ("log_likelihood", "posterior_predictive"):
            var = idata[group]["y"]
            assert var.dims == ("chain", "draw", OBS_DIM), group
            assert var.shape == (post.sizes["chain"], post.sizes["draw"], len(y)), group
        assert np.all(np.isfinite(idata.log_likelihood["y"].values))
    if "sample_stats" in idata.groups():
        assert set(idata.sample_stats.data_vars) <= set(SAMPLE_STATS)
    if case.mcmc:
        assert set(MCMC_STATS) <= set(idata.sample_stats.data_vars)
        if model.method_ == "nuts":
            assert {"tree_depth", "reached_max_treedepth"} <= set(idata.sample_stats.data_vars)
    for name, var in post.data_vars.items():  # no ArviZ default dim names
        assert not any("_dim_" in d for d in var.dims), (name, var.dims)
    path = results.save(idata, tmp_path / "fit.nc")
    loaded = results.load(path)
    for name in post.data_vars:
        np.testing.assert_array_equal(loaded.posterior[name].values, post[name].values)


def test_arviz_works_on_the_fit(fitted):
    case, model, _, _ = fitted
    idata = model.idata_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits: ArviZ warns about ESS, Pareto k
        az.summary(idata)
        if case.has_draws:
            az.plot_ppc(idata, num_pp_samples=5)
            az.loo(idata)
            az.compare({"a": idata, "b": idata})
        if case.mcmc:
            assert np.all(np.isfinite(az.bfmi(idata)))
            az.plot_energy(idata)
    matplotlib.pyplot.close("all")


def test_predict_shapes_and_noise(fitted):
    _, model, _, (X, _, _) = fitted
    mean, std = model.predict(X[:4], return_std=True)
    assert mean.shape == std.shape == (4,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    mean_noisy, std_noisy = model.predict(X[:4], return_std=True, include_noise=True)
    np.testing.assert_allclose(mean_noisy, mean)
    assert np.all(std_noisy >= std)
    assert model.predict(X[:4]).shape == (4,)


def test_score_is_r2(fitted):
    _, model, _, (X, y, _) = fitted
    score = model.score(X, y)
    residual = np.sum((y - model.predict(X)) ** 2)
    np.testing.assert_allclose(score, 1 - residual / np.sum((y - y.mean()) ** 2))


def test_posterior_predictive_at_new_points(fitted):
    case, model, _, (X, _, _) = fitted
    predictive = case.has_draws if case.predictive_draws is None else case.predictive_draws
    if not predictive:
        with pytest.raises(ValueError, match="draws"):
            model.sample_posterior_predictive(X[:5], random_state=1)
        return
    pp = model.sample_posterior_predictive(X[:5], y_err=np.full(5, 0.1), random_state=1)
    y_rep = pp.posterior_predictive["y"]
    assert y_rep.dims[-1] == OBS_DIM and y_rep.shape[-1] == 5
    assert np.all(np.isfinite(y_rep.values))
    again = model.sample_posterior_predictive(X[:5], y_err=np.full(5, 0.1), random_state=1)
    np.testing.assert_array_equal(y_rep.values, again.posterior_predictive["y"].values)


def test_prior_predictive(fitted):
    case, model, _, (X, _, _) = fitted
    if not case.prior_predictive:
        with pytest.raises(ValueError, match="prior"):
            model.sample_prior_predictive(X[:5], draws=20, random_state=1)
        return
    prior = model.sample_prior_predictive(X[:5], draws=20, random_state=1)
    y_prior = prior.prior_predictive["y"]
    assert y_prior.shape == (1, 20, 5) and y_prior.dims[-1] == OBS_DIM
    assert np.all(np.isfinite(y_prior.values))
    assert "prior" in prior.groups()


def test_clone_keeps_configuration(fitted):
    case, model, _, _ = fitted
    fresh = clone(model)
    assert not hasattr(fresh, "idata_")
    assert repr(fresh.method) == repr(model.method)
    assert fresh.random_state == model.random_state
    assert fresh.get_params().keys() == model.get_params().keys()
    for name in case.learned:
        assert hasattr(model, name), name
    assert model.n_features_in_ == 2


def test_nested_method_params(fitted):
    _, model, _, _ = fitted
    if isinstance(model.method, str):
        return
    est = clone(model)
    name, value = next(iter(est.method.get_params().items()))
    est.set_params(**{f"method__{name}": value})
    assert est.get_params()[f"method__{name}"] == value


def test_pipeline_fit_predict_score(fitted):
    _, model, _, (X, y, _) = fitted
    pipe = make_pipeline(StandardScaler(), clone(model)).fit(X, y)
    assert pipe.predict(X).shape == y.shape
    assert np.isfinite(pipe.score(X, y))


def test_dataframe_column_order_is_checked(fitted):
    case, model, _, (X, y, y_err) = fitted
    df = pd.DataFrame(X, columns=["T_K", "P_bar"])
    est = clone(model).fit(df, y, y_err=y_err, **case.fit_kwargs)
    assert list(est.feature_names_in_) == ["T_K", "P_bar"]
    if FEATURE_DIM in est.idata_.constant_data.coords:
        assert list(est.idata_.constant_data[FEATURE_DIM].values) == ["T_K", "P_bar"]
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[["P_bar", "T_K"]])
    np.testing.assert_allclose(est.predict(df), est.predict(df.to_numpy()))


def test_cross_val_score_routes_y_err(fitted):
    _, model, _, (X, y, y_err) = fitted
    seen = []
    fit = type(model).fit

    def spy(self, X, y, y_err=None, **kwargs):
        seen.append(None if y_err is None else len(y_err))
        return fit(self, X, y, y_err=y_err, **kwargs)

    with sklearn.config_context(enable_metadata_routing=True), pytest.MonkeyPatch.context() as m:
        est = clone(model).set_fit_request(y_err=True)
        m.setattr(type(est), "fit", spy)
        scores = cross_val_score(est, X, y, cv=2, params={"y_err": y_err})
    assert np.all(np.isfinite(scores))
    assert seen == [len(y) // 2, len(y) - len(y) // 2], "y_err must reach fit, split with X"
