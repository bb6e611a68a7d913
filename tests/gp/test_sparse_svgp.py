"""SVGP (minibatch) and SGPR with learned inducing inputs."""

import numpy as np
import pytest
import torch

from bayesphys.gp import GPRegression
from bayesphys.gp.inference import svgp as svgp_module
from bayesphys.gp.kernels import compile_kernel
from bayesphys.gp.model import GPModel
from bayesphys.inference import SGPR, SVGP

FIXED = {"lengthscale": [0.9, 1.4], "outputscale": 1.3}


def _truth(X):
    return np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.3 * X[:, 1]


def _data(n, seed, noise=0.2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    return X, _truth(X) + noise * rng.normal(size=n), rng.uniform(-3, 3, size=(200, 2))


def test_svgp_with_fixed_hyperparameters_equals_sgpr():
    # Hyperparameters and inducing inputs fixed: the final full-data natural-gradient step sets
    # q(u) to its optimum, where the ELBO is the collapsed bound and predictions coincide.
    X, y, X_test = _data(300, 0)
    y_err = np.random.default_rng(1).uniform(0.1, 0.3, size=300)
    common = {"n_inducing": 20, "inducing": "random", "learn_inducing": False}
    sgpr = GPRegression(priors=FIXED, noise=0.1, method=SGPR(**common), random_state=0)
    sgpr.fit(X, y, y_err=y_err)
    svgp = GPRegression(
        priors=FIXED, noise=0.1, method=SVGP(batch_size=64, steps=20, **common), random_state=0
    ).fit(X, y, y_err=y_err, progressbar=False)
    np.testing.assert_array_equal(svgp.inducing_points_, sgpr.inducing_points_)
    np.testing.assert_allclose(
        svgp.log_marginal_likelihood_, sgpr.log_marginal_likelihood_, rtol=1e-10
    )
    for a, b in zip(
        svgp.predict(X_test, return_std=True), sgpr.predict(X_test, return_std=True), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_minibatch_elbo_averages_to_the_full_elbo():
    # The likelihood sum is scaled by n / b and the KL term enters once, so the batches of one
    # epoch average exactly to the full-data ELBO (an unbiased estimator under shuffling).
    rng = np.random.default_rng(2)
    X, y, _ = _data(120, 2)
    y_err = rng.uniform(0.1, 0.3, size=120)
    model = GPModel(compile_kernel("rbf", 2, True), "constant", {}, None, X, y, y_err)
    svgp = svgp_module.SVGP(model, model.space.reference() + 0.1, X[:15] + 0.05, True)
    svgp.natural_step(np.arange(40), 0.7)  # some q(u) that is not the optimum
    with torch.no_grad():
        full = float(svgp.elbo())
        batches = np.split(rng.permutation(120), 4)
        minibatch = [float(svgp.elbo(np.sort(b))) for b in batches]
        assert float(svgp.elbo(np.arange(120))) == pytest.approx(full, rel=1e-12)
    np.testing.assert_allclose(np.mean(minibatch), full, rtol=1e-10)
    # ... while single batches scatter around it: the estimator is noisy, not biased.
    assert np.std(minibatch) > 1e-3 * abs(full)


def test_svgp_with_minibatches_agrees_with_sgpr_and_the_exact_gp():
    X, y, X_test = _data(400, 3)
    exact = GPRegression(random_state=0).fit(X, y)
    sgpr = GPRegression(method=SGPR(n_inducing=40), random_state=0).fit(X, y)
    svgp = GPRegression(
        method=SVGP(n_inducing=40, batch_size=100, steps=500, learning_rate=0.02),
        random_state=0,
    ).fit(X, y, progressbar=False)
    mean_e, std_e = exact.predict(X_test, return_std=True)
    for fit in (sgpr, svgp):
        mean, std = fit.predict(X_test, return_std=True)
        # Within a fraction of the exact GP's predictive sd (measured: SGPR 0.35 / 0.09,
        # SVGP 0.50 / 0.12 for the largest / median distance).
        assert np.max(np.abs(mean - mean_e) / std_e) < 0.75
        assert np.median(np.abs(mean - mean_e) / std_e) < 0.2
        np.testing.assert_allclose(np.median(std / std_e), 1.0, atol=0.15)
    np.testing.assert_allclose(svgp.hyperparameters_["noise"], 0.2, rtol=0.15)
    # The ELBO of the learned state is close to the collapsed bound of the SGPR optimum
    # (measured: 2.6 nats apart for n = 400).
    n = len(y)
    assert svgp.log_marginal_likelihood_ <= exact.log_marginal_likelihood_ + 1e-6
    assert abs(svgp.log_marginal_likelihood_ - sgpr.log_marginal_likelihood_) < 0.02 * n


def test_learned_inducing_inputs_raise_the_bound():
    X, y, _ = _data(1000, 4)
    kw = {"priors": FIXED, "noise": 0.2, "random_state": 1}
    fixed = GPRegression(method=SGPR(n_inducing=12, learn_inducing=False), **kw).fit(X, y)
    bound_fixed, Z_fixed = fixed.log_marginal_likelihood_, fixed.inducing_points_
    learned = GPRegression(method=SGPR(n_inducing=12), **kw).fit(X, y)
    assert learned.log_marginal_likelihood_ > bound_fixed + 1.0
    assert not np.allclose(learned.inducing_points_, Z_fixed)
    # Seeded: the same seed gives the same fit.
    again = GPRegression(method=SGPR(n_inducing=12), **kw).fit(X, y)
    np.testing.assert_array_equal(again.inducing_points_, learned.inducing_points_)


def test_svgp_is_seeded_and_ctrl_c_keeps_the_current_state(monkeypatch):
    X, y, X_test = _data(300, 5)
    kw = {"n_inducing": 15, "batch_size": 50}
    fit = {"progressbar": False}
    a = GPRegression(method=SVGP(steps=30, **kw), random_state=3).fit(X, y, **fit).predict(X_test)
    b = GPRegression(method=SVGP(steps=30, **kw), random_state=3).fit(X, y, **fit).predict(X_test)
    np.testing.assert_array_equal(a, b)

    calls = {"n": 0}
    step = svgp_module.SVGP.step

    def interrupted(self, idx, gamma):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return step(self, idx, gamma)

    monkeypatch.setattr(svgp_module.SVGP, "step", interrupted)
    with pytest.warns(RuntimeWarning, match="keeping the state after 5 of 1000 steps"):
        gp = GPRegression(method=SVGP(steps=1000, **kw), random_state=3).fit(X, y, **fit)
    assert gp.interrupted_ and gp.idata_.posterior.attrs["interrupted"] == 1
    mean, std = gp.predict(X_test, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    assert np.isfinite(gp.log_marginal_likelihood_)


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        ("vfe", ValueError, "does not support method='vfe'"),
        (SGPR(n_inducing=0), ValueError, "SGPR.n_inducing must be >= 1"),
        (SGPR(inducing="grid"), ValueError, "SGPR.inducing must be one of"),
        (SGPR(max_iter=0), ValueError, "SGPR.max_iter must be >= 1"),
        (SGPR(learn_inducing=1), TypeError, "SGPR.learn_inducing must be True or False"),
        (SVGP(steps=0), ValueError, "SVGP.steps must be >= 1"),
        (SVGP(batch_size=0), ValueError, "SVGP.batch_size must be >= 1"),
        (SVGP(batch_size=2.5), TypeError, "SVGP.batch_size must be an integer"),
        (SVGP(learning_rate=-0.1), ValueError, "SVGP.learning_rate must be"),
        (SVGP(learning_rate="fast"), TypeError, "SVGP.learning_rate must be"),
    ],
)
def test_bad_sparse_arguments_raise(method, error, match):
    X, y, _ = _data(30, 6)
    with pytest.raises(error, match=match):
        GPRegression(method=method).fit(X, y)


def test_bad_data_raise_value_error_for_svgp():
    X, y, _ = _data(30, 7)
    X[2, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GPRegression(method="svgp").fit(X, y)
    with pytest.raises(ValueError, match="y_err must be > 0"):
        GPRegression(method="svgp").fit(X[3:], y[3:], y_err=np.zeros(27))
