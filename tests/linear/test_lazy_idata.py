"""``idata_`` is built on first access: a fit makes no draws, log-likelihoods or replicated y
that nothing asks for, and the lazy values are the ones an eager fit would have made."""

import copy
import pickle

import numpy as np
import pytest

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, Conjugate, Evidence
from bayesphys.likelihoods import Gaussian
from bayesphys.linear import regression
from bayesphys.linear.inference import conjugate
from bayesphys.linear.inference.conjugate import closed_form_posterior, draws_from_closed_form
from bayesphys.priors import InverseGamma, Normal


def _nig(**kw):
    return BayesianLinearRegression(
        Normal(0.0, 3.0),
        likelihood=Gaussian(variance=InverseGamma(2.0, 1.0)),
        coef_prior_scaled_by_noise=True,
        method=Conjugate(draws=30, chains=2),
        **kw,
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 3))
    y = 0.5 + X @ np.array([1.0, 0.0, -2.0]) + 0.4 * rng.normal(size=40)
    return X, y


def _conjugate(**kw):
    return BayesianLinearRegression(
        Normal(0.0, 3.0), noise=0.4, method=Conjugate(draws=30, chains=2), **kw
    )


def test_fit_computes_no_draws_until_idata_is_read(data, monkeypatch):
    X, y = data
    calls = {"draws": 0, "loglik": 0}
    draw = conjugate.draws_from_closed_form
    loglik = BayesianLinearRegression._pointwise_log_likelihood

    def counting_draws(*args, **kwargs):
        calls["draws"] += 1
        return draw(*args, **kwargs)

    def counting_loglik(self, *args, **kwargs):
        calls["loglik"] += 1
        return loglik(self, *args, **kwargs)

    monkeypatch.setattr(conjugate, "draws_from_closed_form", counting_draws)
    monkeypatch.setattr(BayesianLinearRegression, "_pointwise_log_likelihood", counting_loglik)
    model = _conjugate(random_state=0).fit(X, y)
    model.predict(X, return_std=True)
    assert calls == {"draws": 0, "loglik": 0}
    idata = model.idata_
    assert {"posterior", "log_likelihood", "posterior_predictive"} <= set(idata.groups())
    assert model.idata_ is idata  # built once, then kept
    assert calls == {"draws": 1, "loglik": 1}


@pytest.mark.parametrize("kind", ["fixed", "nig"])
def test_lazy_draws_are_the_eager_stream(data, kind):
    """The draws equal those made right after the fit from the seed (the eager order)."""
    X, y = data
    model = _conjugate(random_state=4) if kind == "fixed" else _nig(random_state=4)
    model.fit(X, y)
    cf, _ = closed_form_posterior(model._spec, X, y, None, kind)
    eager = draws_from_closed_form(cf, 2, 30, np.random.default_rng(4))
    for name, values in eager.items():
        np.testing.assert_array_equal(model.idata_.posterior[name].values, values)


def test_same_seed_same_idata_in_any_order(data):
    X, y = data
    first = _conjugate(random_state=2).fit(X, y)
    pp_first = first.sample_posterior_predictive(X[:3], random_state=1)
    second = pickle.loads(pickle.dumps(_conjugate(random_state=2).fit(X, y)))
    for group in ("posterior", "log_likelihood", "posterior_predictive"):
        for name in second.idata_[group].data_vars:
            np.testing.assert_array_equal(
                first.idata_[group][name].values, second.idata_[group][name].values
            )
    pp_second = second.sample_posterior_predictive(X[:3], random_state=1)
    np.testing.assert_array_equal(
        pp_first.posterior_predictive["y"].values, pp_second.posterior_predictive["y"].values
    )


def test_idata_keeps_the_settings_of_the_fit(data):
    X, y = data
    model = _conjugate(random_state=0, fit_intercept=False).fit(X, y)
    model.set_params(fit_intercept=True, log_likelihood=False)
    assert "intercept" not in model.idata_.posterior
    assert "log_likelihood" in model.idata_.groups()


def test_a_shared_generator_moves_on(data):
    X, y = data
    rng = np.random.default_rng(3)
    a = _conjugate(random_state=rng).fit(X, y)
    b = _conjugate(random_state=rng).fit(X, y)
    assert not np.array_equal(a.idata_.posterior["coef"].values, b.idata_.posterior["coef"].values)


@pytest.mark.parametrize("method", [Evidence(draws=20, chains=2), MAP()])
def test_refit_replaces_the_idata(data, method):
    X, y = data
    model = BayesianLinearRegression(method=method, random_state=0).fit(X, y)
    first = model.idata_
    model.fit(X[:30], y[:30])
    assert model.idata_ is not first
    assert model.idata_.observed_data.sizes["obs"] == 30


def test_unfitted_has_no_idata():
    assert not hasattr(BayesianLinearRegression(), "idata_")


@pytest.mark.parametrize("kind", ["fixed", "nig"])
def test_blocked_replicates_are_one_call_per_chain(data, monkeypatch, kind):
    """Log-likelihoods and replicated y made in blocks of a few draws equal one call per chain
    (the eager fit's order), random numbers included."""
    X, y = data
    monkeypatch.setattr(regression, "_BLOCK_VALUES", 3 * len(y))  # blocks of 3 draws
    model = _conjugate(random_state=6) if kind == "fixed" else _nig(random_state=6)
    model.fit(X, y)
    rng = copy.deepcopy(model._pending_fit.rng)
    post = draws_from_closed_form(model._pending_fit.outcome.extras["predictive"], 2, 30, rng)
    f = np.einsum("cdp,np->cdn", post["coef"], X) + post["intercept"][..., None]
    params = {} if kind == "fixed" else {"variance": post["sigma"][..., None] ** 2}
    lik = model._spec.likelihood
    expected_rep = np.concatenate(
        [
            lik.sample(f[c : c + 1], rng=rng, **{k: v[c : c + 1] for k, v in params.items()})
            for c in range(2)
        ]
    )
    np.testing.assert_array_equal(model.idata_.posterior_predictive["y"].values, expected_rep)
    np.testing.assert_allclose(
        model.idata_.log_likelihood["y"].values, lik.logpdf(y, f, **params), rtol=1e-12
    )
