"""Promises every estimator keeps, checked on every registered configuration."""

import pickle

import numpy as np
import pytest

from bayesphys import results
from bayesphys.core.base import clone
from tests.contract import CASES, regression_data


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def fitted(request):
    case = request.param
    X, y, y_err = regression_data()
    model = case.make()
    returned = model.fit(X, y, y_err=y_err, random_seed=123, **case.fit_kwargs)
    return case, model, returned, (X, y, y_err)


def test_fit_returns_self(fitted):
    _, model, returned, _ = fitted
    assert returned is model


def test_same_seed_same_result(fitted):
    case, model, _, (X, y, y_err) = fitted
    again = case.make().fit(X, y, y_err=y_err, random_seed=123, **case.fit_kwargs)
    for name, var in model.idata_.posterior.data_vars.items():
        np.testing.assert_array_equal(var.values, again.idata_.posterior[name].values)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))


def test_pickle_round_trip(fitted):
    _, model, _, (X, _, _) = fitted
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert repr(restored) == repr(model)


def test_idata_schema(fitted, tmp_path):
    case, model, _, (_, y, _) = fitted
    idata = model.idata_
    post = idata.posterior
    assert post.sizes["chain"] >= 1 and post.sizes["draw"] >= 1
    assert post.attrs["inference_method"] == model.method_
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    if case.has_draws:
        assert idata.log_likelihood["y"].shape[-1] == len(y)
        assert np.all(np.isfinite(idata.log_likelihood["y"].values))
    path = results.save(idata, tmp_path / "fit.nc")
    loaded = results.load(path)
    for name in post.data_vars:
        np.testing.assert_array_equal(loaded.posterior[name].values, post[name].values)


def test_predict_shapes_and_finiteness(fitted):
    _, model, _, (X, _, _) = fitted
    mean, std = model.predict(X[:4], return_std=True)
    assert mean.shape == std.shape == (4,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_learned_attributes_and_clone(fitted):
    case, model, _, _ = fitted
    assert model.n_features_in_ == 2
    for name in case.learned:
        assert hasattr(model, name), name
    fresh = clone(model)
    assert not hasattr(fresh, "idata_")
    assert fresh.get_params().keys() == model.get_params().keys()
