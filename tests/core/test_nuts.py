"""Tests of the vectorised No-U-Turn sampler (bayesphys.samplers.NUTS)."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from bayesphys import results
from bayesphys.samplers import NUTS, StepInfo, sample
from tests.core._targets import (
    DT,
    K_SIGMA,
    CorrelatedGaussian,
    randn,
    std_normal_log_prob,
)

# Strongly correlated, differently scaled 2-D Gaussian: diagonal mass adaptation cannot remove
# the correlation, so trees stay several doublings deep.
gauss_log_prob = CorrelatedGaussian((1.0, -2.0), (1.0, 10.0), 0.95)
MU, SCALES, RHO = gauss_log_prob.mu, gauss_log_prob.scales, gauss_log_prob.rho


def log_gamma_log_prob(theta: torch.Tensor, shape: float = 2.0) -> torch.Tensor:
    """``x = log(y)`` with ``y ~ Gamma(shape, 1)``: a skewed 1-D target with exact CDF."""
    x = theta[:, 0]
    return shape * x - torch.exp(x)


def check_moments(draws: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    """Per-dimension mean and variance within K_SIGMA Monte Carlo errors (from bulk ESS)."""
    ess = np.asarray(results.ess(draws))
    tol_mean = K_SIGMA * np.sqrt(var / ess)
    np.testing.assert_array_less(np.abs(draws.mean((0, 1)) - mean), tol_mean)
    sq = (draws - mean) ** 2
    ess_sq = np.asarray(results.ess(sq))
    tol_var = K_SIGMA * sq.std((0, 1)) / np.sqrt(ess_sq)
    np.testing.assert_array_less(np.abs(sq.mean((0, 1)) - var), tol_var)


@functools.cache
def correlated_runs(chains: int = 8, draws: int = 500, tune: int = 200):
    """NUTS and HMC on the correlated Gaussian, shared by the accuracy and efficiency tests."""
    init = MU + 0.1 * randn(chains, 2, seed=1)
    kw = {"draws": draws, "tune": tune, "progressbar": False}
    return (
        sample(gauss_log_prob, init, method="nuts", random_state=11, **kw),
        sample(gauss_log_prob, init, method="hmc", random_state=11, **kw),
    )


def test_standard_normal_50d():
    # Many chains: they cost little more than one (one batched evaluation), and on a Gaussian
    # all trees have the same depth, so the lockstep wastes nothing either.
    result = sample(
        std_normal_log_prob,
        randn(16, 50),
        method="nuts",
        draws=600,
        tune=150,
        random_state=3,
        progressbar=False,
    )
    draws = result.samples.numpy()
    assert np.max(results.rhat(draws)) < 1.01
    check_moments(draws, np.zeros(50), np.ones(50))
    # Optimal NUTS on a (whitened) Gaussian: acceptance near the target, shallow trees.
    assert abs(float(result.accept_prob.mean()) - 0.8) < 0.1
    assert result.tree_depth is not None and int(result.tree_depth.max()) <= 5
    assert not bool(result.diverging.any())


def check_correlated(result) -> None:
    draws = result.samples.numpy()
    check_moments(draws, MU.numpy(), (SCALES**2).numpy())
    corr = np.corrcoef(draws.reshape(-1, 2).T)[0, 1]
    assert abs(corr - RHO) < 0.02
    assert abs(float(result.accept_prob.mean()) - 0.8) < 0.1
    assert not bool(result.diverging.any())


def test_correlated_gaussian_moments_and_rhat():
    result, _ = correlated_runs()
    check_correlated(result)
    # With a diagonal metric NUTS gets ~0.2 effective draws per draw here (as PyMC's NUTS), and
    # split R-hat is then biased up by about (1 / 0.2 - 1) / (2 * 250 draws per half chain)
    # ~ 0.008 on top of its noise, so R-hat < 1.01 needs the longer run of the slow test.
    assert np.max(results.rhat(result.samples.numpy())) < 1.02


@pytest.mark.slow
def test_correlated_gaussian_long_run_rhat():
    result, _ = correlated_runs(chains=8, draws=2500, tune=500)
    check_correlated(result)
    assert np.max(results.rhat(result.samples.numpy())) < 1.01


def test_ess_per_gradient_not_worse_than_hmc():
    nuts, hmc = correlated_runs()

    def ess_per_grad(res):
        # The worst of bulk ESS, tail ESS and ESS of the squared deviations: on a Gaussian a
        # fixed trajectory length can be antithetic for the mean (ESS > draws) and poor for
        # the variance, so the mean alone would flatter HMC.
        draws = res.samples.numpy()
        ess = min(
            np.min(results.ess(draws)),
            np.min(results.ess(draws, method="tail")),
            np.min(results.ess((draws - MU.numpy()) ** 2)),
        )
        return ess / float(res.n_steps.sum())

    # Both after the same tuning; NUTS picks its own lengths, HMC uses 10 (jittered) steps.
    assert ess_per_grad(nuts) > ess_per_grad(hmc) / 3.0


def test_invariance_from_exact_draws_1d():
    """Chains started at exact draws stay exactly distributed: a KS test on independent chains.

    With a fixed step size (no adaptation) every transition must leave the target invariant;
    final states of independent chains are i.i.d. (ESS = number of chains), so the KS test
    needs no autocorrelation correction. Several step sizes exercise deep and shallow trees.
    """
    n = 2000
    gen = torch.Generator().manual_seed(5)
    y = torch.distributions.Gamma(torch.tensor(2.0, dtype=DT), 1.0).sample((n,))
    x0 = torch.log(y)[:, None]
    exact = stats.loggamma(2.0)
    for step_size in (0.2, 0.9, 1.8):
        kernel = NUTS(step_size=step_size, adapt_step_size=False, adapt_mass=False)
        state = kernel.init_state(log_gamma_log_prob, x0, generator=gen)
        for _ in range(5):
            state, _ = kernel.step(state)
        x = state.theta[:, 0].numpy()
        assert stats.kstest(x, exact.cdf).pvalue > 1e-3, step_size
        assert float((state.theta != x0).float().mean()) > 0.5  # the chains did move


# A correlated 3-D Gaussian and a non-unit metric for the tree-building reference check.
_CHOL3 = np.array([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.2, -0.5, 2.0]])
_PREC3 = np.linalg.inv(_CHOL3 @ _CHOL3.T)
_INV_MASS3 = np.array([1.0, 0.5, 2.0])


def _reference_subtree(x, p, eps, depth, extra_checks=True):
    """Recursive (Stan-style) subtree of one chain: (valid, leapfrog steps taken)."""

    def turned(p_minus, p_plus, rho):
        return (_INV_MASS3 * p_minus) @ rho <= 0 or (_INV_MASS3 * p_plus) @ rho <= 0

    def build(x, p, d):
        if d == 0:
            p_half = p - 0.5 * eps * _PREC3 @ x
            x = x + eps * _INV_MASS3 * p_half
            p = p_half - 0.5 * eps * _PREC3 @ x
            return {"ok": True, "rho": p, "first": p, "last": p, "x": x, "p": p, "n": 1}
        left = build(x, p, d - 1)
        if not left["ok"]:
            return left
        right = build(left["x"], left["p"], d - 1)
        n = left["n"] + right["n"]
        if not right["ok"]:
            return {**right, "n": n}
        rho = left["rho"] + right["rho"]
        bad = turned(left["first"], right["last"], rho)
        if extra_checks:
            bad = bad or turned(left["first"], right["first"], left["rho"] + right["first"])
            bad = bad or turned(left["last"], right["last"], left["last"] + right["rho"])
        return {"ok": not bad, "rho": rho, "first": left["first"], "last": right["last"],
                "x": right["x"], "p": right["p"], "n": n}  # fmt: skip

    out = build(x, p, depth)
    return out["ok"], out["n"]


def test_iterative_subtree_matches_recursive_reference():
    """The checkpoint-stack U-turn checks stop exactly where Stan's recursion does."""
    from bayesphys.core.samplers._nuts_tree import build_subtree, checkpoint_buffer, make_leaf

    rng = np.random.default_rng(0)
    n = 120
    x0 = rng.normal(size=(n, 3)) @ _CHOL3.T
    p0 = rng.normal(size=(n, 3)) / np.sqrt(_INV_MASS3)
    eps = np.where(rng.random(n) < 0.5, 0.25, -0.25)  # both build directions
    prec, inv_mass = torch.as_tensor(_PREC3), torch.as_tensor(_INV_MASS3)

    def log_prob(theta):
        return -0.5 * ((theta @ prec) * theta).sum(-1)

    x, p = torch.as_tensor(x0), torch.as_tensor(p0)
    grad = -x @ prec
    start = make_leaf(x, p, log_prob(x), grad)
    h0 = -log_prob(x) + 0.5 * (p * p * inv_mass).sum(-1)
    outcomes, extra_mattered = set(), 0
    for depth in (1, 2, 3, 4, 5):
        sub = build_subtree(
            log_prob,
            start,
            torch.as_tensor(eps)[:, None],
            inv_mass,
            h0,
            depth,
            torch.ones(n, dtype=torch.bool),
            1000.0,
            torch.Generator().manual_seed(depth),
            checkpoint_buffer(10, x),
        )
        for i in range(n):
            expected = _reference_subtree(x0[i], p0[i], eps[i], depth)
            assert (bool(sub.valid[i]), int(sub.n_steps[i])) == expected, (depth, i)
            outcomes.add(expected[0])
            extra_mattered += expected != _reference_subtree(
                x0[i], p0[i], eps[i], depth, extra_checks=False
            )
    # Both outcomes occur, and the checks across subtree boundaries changed some of them.
    assert outcomes == {True, False}
    assert extra_mattered > 0


def test_long_run_quantiles_1d_within_ess_tolerance():
    """Adapted run on the skewed 1-D target: P(x < q_p) matches p within ESS-based errors."""
    result = sample(
        log_gamma_log_prob,
        torch.zeros(8, 1, dtype=DT),
        method="nuts",
        draws=400,
        tune=150,
        random_state=7,
        progressbar=False,
    )
    x = result.samples[..., 0].numpy()
    exact = stats.loggamma(2.0)
    ess_min = math.inf
    for p in (0.05, 0.25, 0.5, 0.75, 0.95):
        below = (x < exact.ppf(p)).astype(float)
        ess = float(results.ess(below))
        ess_min = min(ess_min, ess)
        assert abs(below.mean() - p) < K_SIGMA * math.sqrt(p * (1 - p) / ess), p
    # Kolmogorov distance, with the i.i.d. 0.1 % critical value 1.95 / sqrt(n) and n replaced
    # by the smallest ESS of the CDF indicators above.
    ks = stats.kstest(x.ravel(), exact.cdf).statistic
    assert ks < 1.95 / math.sqrt(ess_min)


def test_tree_depth_reflects_conditioning():
    """Without a mass matrix an ill-conditioned target needs long trees; with it, short ones."""
    # Scales 1 .. 31.6 in 10-D; the step size 0.5 is set by the narrowest direction.
    scales = torch.logspace(0.0, 1.5, 10, dtype=DT)

    def log_prob(theta):
        return -0.5 * ((theta / scales) ** 2).sum(-1)

    init = randn(4, 10, seed=2) * scales
    depths = {}
    for name, inv_mass in (("identity", None), ("matched", scales**2)):
        kernel = NUTS(step_size=0.5, adapt_step_size=False, adapt_mass=False, inv_mass=inv_mass)
        state = kernel.init_state(log_prob, init, generator=torch.Generator().manual_seed(0))
        per_step = []
        for _ in range(8):
            state, info = kernel.step(state)
            per_step.append(info.tree_depth)
        depths[name] = torch.stack(per_step).double().mean().item()
    # In the matched metric the target has unit scales: a U-turn after ~pi / 0.5 steps.
    assert depths["identity"] >= 5.0
    assert depths["matched"] <= 3.0

    # Through sample(), on a 2-D target cheap enough to tune from the identity: windowed mass
    # adaptation learns the scales, and the trees are shorter than those of the identity metric
    # at the same (adapted) step size.
    wide = torch.tensor([1.0, 30.0], dtype=DT)

    def log_prob_2d(theta):
        return -0.5 * ((theta / wide) ** 2).sum(-1)

    init_2d = randn(4, 2, seed=3) * wide
    adapted = sample(
        log_prob_2d, init_2d, method="nuts", draws=30, tune=100, random_state=1, progressbar=False
    )
    np.testing.assert_allclose(adapted.inv_mass.numpy(), (wide**2).numpy(), rtol=0.6)
    depth_adapted = float(adapted.tree_depth.double().mean())
    kernel = NUTS(step_size=adapted.step_size, adapt_step_size=False, adapt_mass=False)
    state = kernel.init_state(log_prob_2d, init_2d, generator=torch.Generator().manual_seed(0))
    per_step = []
    for _ in range(10):
        state, info = kernel.step(state)
        per_step.append(info.tree_depth)
    assert depth_adapted <= 2.5
    assert torch.stack(per_step).double().mean().item() >= depth_adapted + 1.5


def test_max_treedepth_caps_the_trajectory():
    kernel = NUTS(step_size=0.01, adapt_step_size=False, adapt_mass=False, max_treedepth=3)
    state = kernel.init_state(std_normal_log_prob, randn(3, 2), generator=torch.Generator())
    state, info = kernel.step(state)
    assert info.tree_depth.tolist() == [3, 3, 3]
    assert info.n_steps.tolist() == [7, 7, 7]


def test_trees_cut_at_max_depth_are_recorded_and_warned():
    kernel = NUTS(step_size=0.01, adapt_step_size=False, adapt_mass=False, max_treedepth=3)
    options = {"method": kernel, "draws": 5, "tune": 0, "random_state": 0, "progressbar": False}
    match = r"nuts: 15 of 15 transitions stopped at the maximum tree depth \(3\)"
    with pytest.warns(RuntimeWarning, match=match):
        result = sample(std_normal_log_prob, randn(3, 2), **options)
    idata = result.to_inference_data()
    assert bool(idata.sample_stats["reached_max_treedepth"].all())
    assert any("maximum tree depth (3)" in m for m in results.convergence_warnings(idata))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample(std_normal_log_prob, randn(3, 2), compute_convergence_checks=False, **options)
    # A large step and no tuning: trees end at U-turns well below the cap.
    wide = sample(std_normal_log_prob, randn(3, 2), **(options | {"method": NUTS(step_size=1.0)}))
    assert not wide.to_inference_data().sample_stats["reached_max_treedepth"].any()


def funnel_log_prob(theta: torch.Tensor) -> torch.Tensor:
    """Neal's funnel: v ~ N(0, 3), x_i | v ~ N(0, exp(v / 2))."""
    v, x = theta[:, 0], theta[:, 1:]
    return -(v**2) / 18.0 - 0.5 * (x**2).sum(-1) * torch.exp(-v) - 0.5 * x.shape[1] * v


def test_divergences_flagged_on_funnel_without_nan():
    with pytest.warns(RuntimeWarning, match=r"nuts: \d+ of 320 transitions after tuning") as rec:
        result = sample(
            funnel_log_prob,
            0.5 * randn(4, 4, seed=4),
            method="nuts",
            draws=80,
            tune=80,
            random_state=2,
            progressbar=False,
            max_treedepth=6,
        )
    assert int(result.diverging.sum()) > 0
    assert f"nuts: {int(result.diverging.sum())} of 320" in str(rec[0].message)
    assert bool(torch.isfinite(result.samples).all())
    assert bool(torch.isfinite(result.log_prob).all())
    assert bool(torch.isfinite(result.accept_prob).all())
    stats_ = result.to_inference_data().sample_stats
    assert int(stats_["diverging"].sum()) == int(result.diverging.sum())


def test_wall_is_never_crossed_and_flags_divergences():
    calls = {"nonfinite_input": 0}

    def half_normal(theta):
        calls["nonfinite_input"] += int((~torch.isfinite(theta)).sum())
        lp = -0.5 * (theta**2).sum(-1)
        return torch.where(theta[:, 0] > 0, lp, -torch.inf)

    result = sample(
        half_normal,
        torch.full((4, 1), 0.5, dtype=DT),
        method="nuts",
        draws=250,
        tune=100,
        random_state=6,
        progressbar=False,
        compute_convergence_checks=False,  # no divergence warning (tested on the funnel)
    )
    assert bool((result.samples > 0).all())
    assert int(result.diverging.sum()) > 0  # trajectories hitting the wall
    assert calls["nonfinite_input"] == 0
    # Still the right (half-normal) distribution: mean sqrt(2/pi).
    x = result.samples.numpy()
    tol = K_SIGMA * x.std() / math.sqrt(float(results.ess(x[..., 0])))
    assert abs(x.mean() - math.sqrt(2 / math.pi)) < tol


def test_seeded_runs_are_reproducible():
    kw = {"method": "nuts", "draws": 20, "tune": 20, "progressbar": False}
    a = sample(log_gamma_log_prob, randn(3, 1), random_state=42, **kw)
    b = sample(log_gamma_log_prob, randn(3, 1), random_state=42, **kw)
    c = sample(log_gamma_log_prob, randn(3, 1), random_state=43, **kw)
    assert torch.equal(a.samples, b.samples)
    assert torch.equal(a.tree_depth, b.tree_depth)
    assert torch.equal(a.step_size, b.step_size)
    assert not torch.equal(a.samples, c.samples)


def test_result_fields_thinning_float32_and_inference_data():
    result = sample(
        std_normal_log_prob,
        torch.zeros(2, 3, dtype=torch.float32),
        method=NUTS(max_treedepth=4),
        draws=20,
        tune=20,
        thin=2,
        random_state=0,
        progressbar=False,
    )
    assert result.samples.dtype == torch.float32
    assert result.method == "nuts"
    assert result.tree_depth.shape == (2, 20) and int(result.tree_depth.max()) <= 4
    # n_steps sums the two thinned transitions, each of at most 2**4 - 1 steps.
    assert int(result.n_steps.min()) >= 2 and int(result.n_steps.max()) <= 30
    stats_ = result.to_inference_data().sample_stats
    assert {"tree_depth", "n_steps", "diverging", "acceptance_rate"} <= set(stats_.data_vars)


def test_interrupt_keeps_draws_and_tree_depth():
    calls = {"n": 0}

    def log_prob(theta):
        calls["n"] += 1
        if calls["n"] > 400:
            raise KeyboardInterrupt
        return std_normal_log_prob(theta)

    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = sample(
            log_prob,
            torch.zeros(2, 2, dtype=DT),
            method="nuts",
            draws=500,
            tune=20,
            random_state=0,
            progressbar=False,
        )
    assert 0 < result.n_draws < 500
    assert result.tree_depth.shape == (2, result.n_draws)


def test_other_kernels_leave_tree_depth_empty():
    info = StepInfo(*(torch.zeros(1) for _ in range(4)))
    assert info.tree_depth is None
    result = sample(
        std_normal_log_prob,
        torch.zeros(2, 2),
        method="hmc",
        draws=5,
        tune=5,
        random_state=0,
        progressbar=False,
    )
    assert result.tree_depth is None
    assert "tree_depth" not in result.to_inference_data().sample_stats


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_treedepth": 0}, "max_treedepth"),
        ({"max_treedepth": -3}, "max_treedepth"),
        ({"max_treedepth": 31}, "max_treedepth"),
        ({"max_energy_error": 0.0}, "max_energy_error"),
        ({"max_energy_error": -5.0}, "max_energy_error"),
        ({"max_energy_error": float("nan")}, "max_energy_error"),
        ({"max_energy_error": "big"}, "max_energy_error"),
        ({"step_size": 0.0}, "step_size"),
        ({"step_size": float("inf")}, "step_size"),
        ({"target_accept": 1.0}, "target_accept"),
        ({"target_accept": 0.0}, "target_accept"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NUTS(**kwargs)
    with pytest.raises(ValueError, match=match):
        sample(std_normal_log_prob, torch.zeros(2, 2), method="nuts", progressbar=False, **kwargs)


@pytest.mark.parametrize("depth", [2.5, True, "7"])
def test_a_non_integer_tree_depth_is_a_type_error(depth):
    # One integer validator (core.validation.check_positive_int): a wrong type is a TypeError.
    with pytest.raises(TypeError, match="max_treedepth must be an integer"):
        NUTS(max_treedepth=depth)


def test_bad_state_inputs_raise():
    with pytest.raises(ValueError, match="inv_mass"):
        NUTS(inv_mass=torch.ones(3)).init_state(std_normal_log_prob, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="step_size"):
        NUTS(step_size=[0.1, 0.2, 0.3]).init_state(std_normal_log_prob, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="not finite"):
        NUTS().init_state(lambda t: torch.full((2,), torch.nan), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="unexpected keyword"):
        NUTS(n_leapfrog=10)
    assert "max_treedepth=10" in repr(NUTS())
