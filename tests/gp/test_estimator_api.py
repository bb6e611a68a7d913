"""GPRegression as a scikit-learn estimator: model selection, nested method parameters, method
errors, predictive draws, and the same numbers as before the estimator API (issue 14)."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from bayesphys.gp import GPRegression
from bayesphys.inference import MAP, NUTS, SGPR, SVGP, VI


def _periodic_data(n=45, seed=0):
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(0.0, 12.0, size=n))[:, None]
    return X, np.sin(2 * np.pi * X[:, 0] / 3.0) + 0.05 * rng.normal(size=n)


def test_grid_search_over_the_kernel_picks_the_right_one():
    # Unshuffled folds of sorted inputs: each test fold is a 4-unit gap, longer than the period
    # of 3. Only the periodic kernel carries the pattern across it. Restarts: the periodic
    # evidence is multimodal (one fold's single start ended at a degenerate period).
    X, y = _periodic_data()
    search = GridSearchCV(
        GPRegression(ard=False, method=MAP(n_restarts=3), random_state=0),
        {"kernel": ["rbf", "matern52", "periodic"]},
        cv=KFold(3),
    ).fit(X, y)
    scores = dict(
        zip(search.cv_results_["param_kernel"], search.cv_results_["mean_test_score"], strict=True)
    )
    assert search.best_params_ == {"kernel": "periodic"}
    assert scores["periodic"] > 0.9 > max(scores["rbf"], scores["matern52"]) + 0.3, scores
    # The refitted best estimator is a fitted GPRegression with the chosen kernel.
    assert search.best_estimator_.kernel == "periodic"
    assert search.best_estimator_.score(X, y) > 0.95


def test_nested_method_parameters_and_grid_search_over_them():
    est = GPRegression(ard=False, method=NUTS(draws=10, tune=40, chains=2), random_state=0)
    est.set_params(method__draws=15, method__chains=1)
    assert est.get_params()["method__draws"] == 15
    assert repr(clone(est).method) == repr(NUTS(draws=15, tune=40, chains=1))
    X, y = _periodic_data(n=20)
    est.fit(X, y, progressbar=False)
    assert est.idata_.posterior.sizes == {"chain": 1, "draw": 15}
    # The estimator's own method object is never modified by fit.
    assert est.method.draws == 15 and est.method_ == "nuts"
    search = GridSearchCV(
        GPRegression(method=MAP(), random_state=0),
        {"method__n_restarts": [0, 1]},
        cv=KFold(2),
    ).fit(X, y)
    assert search.best_estimator_.method.n_restarts in (0, 1)


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        ("sparse", ValueError, r"supported: \['map', 'nuts', 'sgpr', 'svgp'\]"),
        ("NUTS", ValueError, "does not support method='NUTS'"),
        (VI(), ValueError, r"does not support method=VI\(\)"),
        (NUTS, TypeError, "method must be a string shortcut"),
        (None, TypeError, "method must be a string shortcut"),
    ],
)
def test_bad_methods_are_rejected_with_the_supported_names(method, error, match):
    X, y = _periodic_data(n=10)
    with pytest.raises(error, match=match):
        GPRegression(method=method).fit(X, y)


def test_map_max_iter_caps_the_optimiser():
    X, y = _periodic_data(n=20)
    full = GPRegression(random_state=0).fit(X, y)
    with pytest.warns(RuntimeWarning, match="stopped without converging"):
        capped = GPRegression(method=MAP(max_iter=2), random_state=0).fit(X, y)
    assert capped.log_marginal_likelihood_ < full.log_marginal_likelihood_ - 1e-3


def test_nuts_max_treedepth_is_honoured():
    X, y = _periodic_data(n=15)
    gp = GPRegression(
        ard=False, method=NUTS(draws=20, tune=40, chains=1, max_treedepth=1), random_state=0
    )
    with pytest.warns(RuntimeWarning, match="maximum tree depth|max_treedepth"):
        gp.fit(X, y, progressbar=False)
    stats = gp.idata_.sample_stats
    assert int(stats["tree_depth"].max()) == 1
    assert int(stats["n_steps"].max()) <= 1
    assert bool(stats["reached_max_treedepth"].any())


@pytest.mark.parametrize("method", [MAP(), NUTS(), SGPR(), SVGP()])
def test_method_objects_and_shortcuts_resolve_to_the_same_name(method):
    assert GPRegression.supported_methods[method.name] is type(method)


def test_cross_val_score_routes_y_err_to_fit():
    X, y = _periodic_data(n=24)
    y_err = np.linspace(0.05, 0.2, len(y))
    seen = []

    class Spy(GPRegression):
        def fit(self, X, y, y_err=None, *, progressbar=None, client=None):
            seen.append(None if y_err is None else y_err.copy())
            return super().fit(X, y, y_err=y_err, progressbar=progressbar, client=client)

    with sklearn.config_context(enable_metadata_routing=True):
        est = Spy(ard=False, random_state=0).set_fit_request(y_err=True)
        scores = cross_val_score(est, X, y, cv=KFold(2), params={"y_err": y_err})
    assert np.all(np.isfinite(scores))
    np.testing.assert_array_equal(np.concatenate(seen[::-1]), y_err)


def test_map_posterior_predictive_has_the_predictive_moments():
    X, y = _periodic_data(n=30)
    gp = GPRegression("periodic", ard=False, random_state=0, max_predict_draws=4000).fit(X, y)
    X_new = np.array([[1.3], [7.9], [13.0]])
    y_err = np.array([0.1, 0.0001, 0.3])
    pp = gp.sample_posterior_predictive(X_new, y_err=y_err, random_state=1)
    draws = pp.posterior_predictive["y"].values
    assert draws.shape == (1, 4000, 3)
    np.testing.assert_array_equal(pp.constant_data["y_err"].values, y_err)
    # The hyperparameters of each draw: the MAP values, repeated.
    np.testing.assert_allclose(pp.posterior["noise"].values, gp.hyperparameters_["noise"])
    mean, std = gp.predict(X_new, return_std=True, include_noise=True)
    sd = np.sqrt(std**2 + y_err**2)
    assert np.all(np.abs(draws[0].mean(0) - mean) < 4 * sd / np.sqrt(4000))
    np.testing.assert_allclose(draws[0].std(0), sd, rtol=0.06)
    # f is a joint draw of the latent function: its covariance is the predictive one.
    f = pp.posterior_predictive["f"].values[0]
    _, cov = gp.predict(X_new, return_cov=True)
    np.testing.assert_allclose(np.cov(f.T), cov, atol=5 * np.max(np.diag(cov)) / np.sqrt(4000))


def test_prior_predictive_follows_the_priors():
    X, y = _periodic_data(n=20)
    from bayesphys.priors import LogNormal

    gp = GPRegression(
        ard=False, priors={"outputscale": 2.0, "lengthscale": LogNormal(0.5, 0.3)}, noise=0.5
    ).fit(X, y)
    X_new = np.array([[0.0], [0.5], [20.0]])
    prior = gp.sample_prior_predictive(X_new, draws=4000, random_state=2)
    ls = prior.prior["lengthscale"].values
    assert ls.shape == (1, 4000)
    assert abs(np.log(ls).mean() - 0.5) < 4 * 0.3 / np.sqrt(4000)
    np.testing.assert_array_equal(prior.prior["outputscale"].values, 2.0)
    y_prior = prior.prior_predictive["y"].values[0]
    # Zero mean, variance outputscale + noise^2, and the RBF correlation of the latent f.
    np.testing.assert_allclose(y_prior.var(0), 2.25, rtol=0.08)
    assert np.all(np.abs(y_prior.mean(0)) < 4 * 1.5 / np.sqrt(4000))
    f = prior.prior_predictive["f"].values[0]
    expected = np.mean(2.0 * np.exp(-0.5 * 0.5**2 / ls[0] ** 2))
    np.testing.assert_allclose(np.mean(f[:, 0] * f[:, 1]), expected, rtol=0.08)
    assert abs(np.corrcoef(f[:, 0], f[:, 2])[0, 1]) < 0.06  # far apart: independent
    again = gp.sample_prior_predictive(X_new, draws=4000, random_state=2)
    np.testing.assert_array_equal(again.prior_predictive["y"].values, y_prior[None])


# ------------------------------------------------------------------------------------------
# The same numbers as the previous API. Recorded with the code before the estimator API
# (fit(X, y, method=..., random_seed=...), commit 50882a0) on this 20-point problem:
#   GPRegression().fit(X, y, random_seed=0)
#   GPRegression(kernel="matern52", mean="constant").fit(X, y, random_seed=1, n_restarts=1)
#   GPRegression().fit(X, y, method="nuts", random_seed=0, draws=30, tune=50, chains=2)
#   GPRegression().fit(X, y, method="sparse", random_seed=0, n_inducing=10)
#   GPRegression().fit(X, y, method="sparse", sparse="svgp", random_seed=0, n_inducing=10,
#                      max_iter=30, batch_size=10)
# The algorithms and seeds are unchanged, so the values are bit for bit the same on the
# recording machine; rtol=1e-12 only allows for BLAS rounding on other CPUs.
def _old_api_data():
    rng = np.random.default_rng(42)
    X = rng.uniform(0, 5, size=(20, 1))
    return X, np.sin(X[:, 0]) + 0.1 * rng.normal(size=20)


X_OLD = np.array([[1.0], [2.5]])


def _assert_recorded(values, recorded):
    for name, value in recorded.items():
        np.testing.assert_allclose(values[name], value, rtol=1e-12, atol=0, err_msg=name)


def test_map_numbers_are_those_of_the_previous_api():
    X, y = _old_api_data()
    gp = GPRegression(random_state=0).fit(X, y)
    _assert_recorded(
        gp.hyperparameters_,
        {
            "outputscale": 0.4252708441200101,
            "lengthscale": 1.2399536128128978,
            "noise": 0.06771693022431376,
        },
    )
    np.testing.assert_allclose(gp.log_marginal_likelihood_, 10.660845552051752, rtol=1e-12)
    mean, std = gp.predict(X_OLD, return_std=True)
    np.testing.assert_allclose(mean, [0.939465001348098, 0.6060777854097931], rtol=1e-12)
    np.testing.assert_allclose(std, [0.050077862952235, 0.03390697289706055], rtol=1e-12)
    draws = gp.sample_y(X_OLD, n=2, random_state=3)
    recorded = [[1.0416698694054185, 0.8114827581581301], [0.6055615733327384, 0.6052575403620646]]
    np.testing.assert_allclose(draws, recorded, rtol=1e-12)
    matern = GPRegression(
        kernel="matern52", mean="constant", method=MAP(n_restarts=1), random_state=1
    ).fit(X, y)
    # Re-recorded when the mean's unconstrained coordinate became standardised (so that it
    # has the scale of the log-hyperparameters whatever the units of y): L-BFGS-B takes another
    # path to the same optimum, ~2e-7 relative away (objective values equal to 1e-14; the
    # previous values: 0.4411017738587686, 1.6879474669751497, -0.20494106298806963,
    # 0.0677146871939447).
    _assert_recorded(
        matern.hyperparameters_,
        {
            "outputscale": 0.4411018754443478,
            "lengthscale": 1.6879475136609419,
            "mean_constant": -0.2049411521269971,
            "noise": 0.06771468539850646,
        },
    )


def test_nuts_numbers_are_those_of_the_previous_api():
    X, y = _old_api_data()
    gp = GPRegression(method=NUTS(draws=30, tune=50, chains=2), random_state=0)
    gp.fit(X, y, progressbar=False)
    means = {k: float(v.values.mean()) for k, v in gp.idata_.posterior.items()}
    # Re-recorded when small GPs moved to the batched closed-form target (issue 18): it sums
    # the gradient in another order, and the draws moved by ~3e-11 relative (the previous
    # values: 1.2318242399837362, 1.67102661580348, 0.07322761016516267; predictions
    # [0.9279000494957359, 0.6172277355139922] and [0.05284702797801746, 0.03779354314439191]).
    # Again when the positive priors' closed form moved to core (one formula for the GP, BNN
    # and numba paths): ~2e-12 relative (previous: 1.23182423994728, 1.6710266158025269,
    # 0.07322761016450134; [0.9279000494957529, 0.6172277355140856],
    # [0.05284702797757515, 0.037793543144167]).
    _assert_recorded(
        means,
        {
            "outputscale": 1.2318242399446555,
            "lengthscale": 1.671026615802576,
            "noise": 0.07322761016444103,
        },
    )
    mean, std = gp.predict(X_OLD, return_std=True)
    np.testing.assert_allclose(mean, [0.9279000494957519, 0.6172277355140939], rtol=1e-12)
    np.testing.assert_allclose(std, [0.052847027977522304, 0.03779354314413647], rtol=1e-12)


def test_sparse_numbers_are_those_of_the_previous_api():
    X, y = _old_api_data()
    sgpr = GPRegression(method=SGPR(n_inducing=10), random_state=0).fit(X, y)
    _assert_recorded(
        sgpr.hyperparameters_,
        {
            "outputscale": 0.4252692664260005,
            "lengthscale": 1.23995338279812,
            "noise": 0.06771699173011579,
        },
    )
    np.testing.assert_allclose(sgpr.log_marginal_likelihood_, 10.660834885579105, rtol=1e-12)
    svgp = GPRegression(method=SVGP(n_inducing=10, steps=30, batch_size=10), random_state=0)
    svgp.fit(X, y, progressbar=False)
    _assert_recorded(
        svgp.hyperparameters_,
        {
            "outputscale": 0.4247217546039245,
            "lengthscale": 1.240420903606247,
            "noise": 0.06957093633694897,
        },
    )
    np.testing.assert_allclose(svgp.log_marginal_likelihood_, 10.675819176417868, rtol=1e-12)
