"""The NUTS target on the LAPACK evidence: exact against autograd, and the same posterior."""

import threading
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as real_wait

import numpy as np
import pytest
import torch

from bayesphys import results
from bayesphys.core import chains
from bayesphys.core.samplers import sample
from bayesphys.gp import GPRegression, regression
from bayesphys.gp.inference import nuts, nuts_target
from bayesphys.gp.kernels import RBF, Linear, compile_kernel, kernel_from_string
from bayesphys.gp.linalg import loo_log_predictive
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import Predictor
from bayesphys.inference import NUTS


def _model(kernel="rbf", mean="zero", n=30, y_err=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, size=(n, 2))
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.1 * rng.normal(size=n)
    err = 0.05 + 0.05 * rng.uniform(size=n) if y_err else None
    compiled = compile_kernel(kernel_from_string(kernel), 2, True)
    return GPModel(compiled, mean, {}, None, X, y, err)


def _reference(model):
    """The autograd log density of the previous implementation (GPyTorch kernels)."""

    def log_prob(z):
        lp = model.log_marginal(z, safe=True)[0]
        values = model.space.values(z)
        for p in model.space.free:  # the priors' own densities of the unconstrained variable
            block = p.transform.inverse(values[p.name])
            if p.affine:  # a mean parameter: z is affine in the value, Jacobian log(unit)
                lp = lp + float(np.log(np.broadcast_to(p.unit, (p.size,))).sum())
            lp = lp + p.prior.log_prob_unconstrained(block).expand(block.shape).sum(-1)
        return lp

    return log_prob


@pytest.mark.parametrize(
    "kernel, mean, y_err",
    [("rbf", "zero", False), ("matern52", "constant", True), (RBF() + Linear(), "linear", False)],
)
def test_log_density_and_gradient_equal_the_autograd_reference(kernel, mean, y_err):
    model = _model(kernel, mean, y_err=y_err)
    dim = model.space.dim
    rng = np.random.default_rng(1)
    center = model.space.reference()
    factor = np.linalg.cholesky(0.1 * np.eye(dim) + 0.02)  # a non-diagonal whitening
    density = nuts_target.ChainDensity(model, center, factor)
    u = torch.as_tensor(rng.normal(size=(5, dim)), dtype=torch.float64).requires_grad_()
    lp = density(u)
    (grad,) = torch.autograd.grad(lp.sum(), u)
    ref_u = u.detach().clone().requires_grad_()
    ref = _reference(model)(density.to_z(ref_u))
    (ref_grad,) = torch.autograd.grad(ref.sum(), ref_u)
    np.testing.assert_allclose(lp.detach(), ref.detach(), rtol=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8 * float(ref_grad.abs().max()))
    # A second call at the same points is served from the cache, unchanged.
    evaluations = density.objective.evaluations
    np.testing.assert_array_equal(density(u).detach(), lp.detach())
    assert density.objective.evaluations == evaluations


def test_loo_densities_from_the_cache_equal_a_fresh_factorisation():
    model = _model(y_err=True)
    start = model.space.reference()
    density = nuts_target.ChainDensity(model, start, 0.1 * np.eye(model.space.dim))
    u = np.random.default_rng(2).normal(size=(3, model.space.dim))
    density(torch.as_tensor(u[:2]))  # the third row is not cached: evaluated on demand
    got = density.log_likelihood(u)
    with torch.no_grad():
        _, L, alpha = model.log_marginal(density.to_z(torch.as_tensor(u)), safe=False)
        expected = loo_log_predictive(L, alpha).numpy() - np.log(model.space.y_scale)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_laplace_factor_whitens_a_gaussian():
    cov = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
    precision = np.linalg.inv(cov)
    mode = np.array([0.5, -1.0, 2.0])

    def objective(z):  # -log N(z | mode, cov) and its gradient
        d = z - mode
        return 0.5 * d @ precision @ d, precision @ d

    C = nuts_target.laplace_factor(objective, mode)
    np.testing.assert_allclose(C @ C.T, cov, rtol=1e-8)


# One lockstep batch (n < 200 by default), two groups, one run per chain (n >= 200 by default).
@pytest.mark.parametrize("n, chain_groups", [(20, None), (20, 2), (200, None)])
def test_chain_threads_do_not_change_the_draws(n, chain_groups):
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 5, size=(n, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=n)
    nuts = NUTS(draws=20, tune=30, chains=2, chain_groups=chain_groups)
    fits = [
        GPRegression(ard=False, method=nuts, random_state=4, chain_threads=t).fit(
            X, y, progressbar=False
        )
        for t in (1, 2)
    ]
    for group in ("posterior", "log_likelihood", "posterior_predictive"):
        for name, value in fits[0].idata_[group].items():
            np.testing.assert_array_equal(value.values, fits[1].idata_[group][name].values)
    assert fits[0].idata_.log_likelihood["y"].shape == (2, 20, n)
    assert fits[0].idata_.posterior_predictive["y"].shape == (2, 20, n)


def _nuts_fit(**kwargs):
    X, y = _small_data()
    nuts = NUTS(**({"draws": 20, "tune": 50, "chains": 2} | kwargs))
    return GPRegression(ard=False, method=nuts, random_state=4).fit(X, y, progressbar=False)


def test_default_chain_groups_below_200_points_is_one_lockstep_group():
    default, one, two = _nuts_fit(), _nuts_fit(chain_groups=1), _nuts_fit(chain_groups=2)
    for name, value in default.idata_.posterior.items():
        np.testing.assert_array_equal(value.values, one.idata_.posterior[name].values)
    # Two groups are two runs with their own streams: other draws of the same posterior.
    assert not np.array_equal(two.idata_.posterior["noise"], one.idata_.posterior["noise"])


def test_ctrl_c_on_chain_threads_keeps_the_finished_group(monkeypatch):
    # Ctrl-C reaches the main thread while it waits for the groups of the draws stage; the
    # shared runner then sets the stop event, and the one rule keeps the finished group.
    full = _nuts_fit(chain_groups=2)
    stage_waits, started, lock = [], [], threading.Lock()
    real_run_group = nuts.run_group

    def second_group_waits_for_ctrl_c(task):
        with lock:
            started.append(task.loo)
            late = task.loo and started.count(True) == 2
        if late:  # the draws stage's other group: still running at Ctrl-C
            assert task.stop.wait(timeout=60)
        return real_run_group(task)

    def ctrl_c_once_a_draws_group_is_done(futures, *args, **kwargs):
        stage_waits.append(len(futures))
        if len(stage_waits) == 2:  # 1: pilot stage, 2: draws stage
            real_wait(futures, return_when=FIRST_COMPLETED)
            raise KeyboardInterrupt
        return real_wait(futures, *args, **kwargs)

    monkeypatch.setattr(nuts, "run_group", second_group_waits_for_ctrl_c)
    monkeypatch.setattr(chains, "wait", ctrl_c_once_a_draws_group_is_done)
    X, y = _small_data()
    method = NUTS(draws=20, tune=50, chains=2, chain_groups=2)
    model = GPRegression(ard=False, method=method, random_state=4, chain_threads=2)
    with pytest.warns(RuntimeWarning, match=r"keeping 1 of 2 chains \(1 of 2 chain groups\)"):
        cut = model.fit(X, y, progressbar=False)
    assert cut.interrupted_ and cut.idata_.posterior.sizes == {"chain": 1, "draw": 20}
    # The kept chain is one of the uninterrupted run's chains, whole.
    noise = full.idata_.posterior["noise"].values
    kept = cut.idata_.posterior["noise"].values[0]
    assert any(np.array_equal(kept, chain) for chain in noise)


def test_chain_groups_and_client_are_checked(monkeypatch):
    X, y = _small_data()
    with pytest.raises(ValueError, match=r"NUTS.chain_groups=3 exceeds chains=2"):
        GPRegression(method=NUTS(chains=2, chain_groups=3)).fit(X, y)
    with pytest.raises(TypeError, match="client"):
        GPRegression(method="nuts").fit(X, y, client="tcp://127.0.0.1:8786")
    # Any client passes the type check here: the fit must refuse before using it.
    monkeypatch.setattr(regression, "check_client", lambda client: client)
    for method in ("map", "sgpr", "svgp"):
        with pytest.raises(ValueError, match=f"method='{method}' runs in this process"):
            GPRegression(method=method).fit(X, y, client=object())


def test_chain_threads_must_be_positive():
    X, y = np.arange(5.0)[:, None], np.arange(5.0)
    with pytest.raises(ValueError, match="chain_threads"):
        GPRegression(method="nuts", chain_threads=0).fit(X, y)


def _small_data(seed=5):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 4, size=(25, 1))
    return X, np.sin(2 * X[:, 0]) + 0.2 * rng.normal(size=25)


def test_posterior_moments_match_quadrature_of_the_autograd_density():
    """Lengthscale and noise free: the reference density integrated on a grid is the truth."""
    X, y = _small_data()
    gp = GPRegression(
        ard=False,
        priors={"outputscale": 1.0},
        method=NUTS(draws=500, tune=150, chains=2),
        random_state=6,
    ).fit(X, y, progressbar=False)
    draws = np.log(np.stack([gp.idata_.posterior[k].values for k in ("lengthscale", "noise")], -1))
    compiled = compile_kernel(kernel_from_string("rbf"), 1, False)
    model = GPModel(compiled, "zero", {"outputscale": 1.0}, None, X, y, None)
    center, scale = draws.reshape(-1, 2).mean(0), draws.reshape(-1, 2).std(0)
    axes = [np.linspace(c - 7 * s, c + 7 * s, 161) for c, s in zip(center, scale, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        log_p = np.concatenate(
            [_reference(model)(torch.as_tensor(chunk)).numpy() for chunk in np.split(grid, 23)]
        )
    weights = np.exp(log_p - log_p.max())
    weights /= weights.sum()
    mean = weights @ grid
    sd = np.sqrt(weights @ (grid - mean) ** 2)
    for k in range(2):
        assert abs(draws[..., k].mean() - mean[k]) < 4 * results.mcse(draws[..., k]), k
        assert abs(draws[..., k].std() / sd[k] - 1) < 0.15, k
    assert results.rhat(draws[..., 0]) < 1.01


@pytest.mark.slow
def test_posterior_means_agree_with_the_lockstep_autograd_sampler():
    """Same posterior as the previous implementation, within Monte Carlo error."""
    X, y = _small_data()
    gp = GPRegression(ard=False, method=NUTS(draws=500, tune=300, chains=4), random_state=6).fit(
        X, y, progressbar=False
    )
    names = ("outputscale", "lengthscale", "noise")
    new = np.log(np.stack([gp.idata_.posterior[k].values for k in names], -1))
    # The previous implementation: lockstep NUTS on the autograd density, started near the mode.
    compiled = compile_kernel(kernel_from_string("rbf"), 1, False)
    model = GPModel(compiled, "zero", {}, None, X, y, None)
    rng = np.random.default_rng(7)
    init = torch.as_tensor(new.reshape(-1, 3).mean(0) + 0.1 * rng.normal(size=(4, 3)))
    old = sample(
        _reference(model),
        init,
        method="nuts",
        draws=500,
        tune=300,
        random_state=7,
        progressbar=False,
    )
    old = old.samples.numpy()
    for k in range(3):
        se = np.hypot(results.mcse(new[..., k]), results.mcse(old[..., k]))
        assert abs(new[..., k].mean() - old[..., k].mean()) < 4 * se, k
        assert abs(new[..., k].std() / old[..., k].std() - 1) < 0.15, k


def test_pilot_whitening_is_the_regularised_covariance_of_the_draws():
    rng = np.random.default_rng(8)
    cov = np.array([[1.0, 0.8], [0.8, 4.0]])
    z = rng.multivariate_normal([1.0, -2.0], cov, size=(2, 2000))
    center, C = nuts_target.pilot_whitening(z, 0.1 * np.eye(2))
    np.testing.assert_allclose(center, [1.0, -2.0], atol=0.1)
    np.testing.assert_allclose(C @ C.T, cov, rtol=0.1, atol=0.05)
    assert np.allclose(C, np.tril(C))


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "matern32", "matern52"])
def test_lapack_mixture_predictions_equal_the_batched_path(kernel, monkeypatch):
    model = _model(kernel, "constant", y_err=True)
    rng = np.random.default_rng(9)
    z = model.space.reference() + 0.3 * rng.normal(size=(6, model.space.dim))
    X_new = rng.uniform(-1, 7, size=(15, 2))
    predictor = Predictor(model, z)
    fast = predictor.moments(X_new, full_cov=False, include_noise=True)
    monkeypatch.setattr(predictor, "_lapack_moments", lambda X: None)
    slow = predictor.moments(X_new, full_cov=False, include_noise=True)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-9)
