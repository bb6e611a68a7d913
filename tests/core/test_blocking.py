"""Tests of the blocking standard error and Sokal's autocorrelation time against exact results."""

import warnings

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from bayesphys import results
from bayesphys.core.blocking import BlockingResult, autocorrelation_time, blocking

PHI = 0.9
SIGMA_E = 1.5
SIGMA_X = SIGMA_E / np.sqrt(1 - PHI**2)
TAU_AR1 = (1 + PHI) / (1 - PHI)  # 1 + 2 sum_t phi^t


def ar1(shape, rng, phi=PHI):
    """Stationary AR(1) x_t = phi x_{t-1} + e_t along the last axis (vectorised over the rest)."""
    noise = rng.normal(scale=SIGMA_E, size=shape)
    start = rng.normal(scale=SIGMA_E / np.sqrt(1 - phi**2), size=shape[:-1])
    return lfilter([1.0], [1.0, -phi], noise, axis=-1, zi=(phi * start)[..., None])[0]


def exact_ar1_stderr(n, phi=PHI):
    """Exact finite-n standard error of the mean of a stationary AR(1) series."""
    lags = np.arange(1, n)
    variance = SIGMA_X**2 / n * (1 + 2 * np.sum((1 - lags / n) * phi**lags))
    return np.sqrt(variance)


def test_iid_stderr_is_sigma_over_sqrt_n():
    n, sigma = 2**16, 2.5
    x = np.random.default_rng(0).normal(3.0, sigma, size=n)
    result = blocking(x)
    assert isinstance(result, BlockingResult)
    assert result.stderr == pytest.approx(sigma / np.sqrt(n), rel=0.1)
    assert result.mean == pytest.approx(np.mean(x))
    assert result.variance == pytest.approx(np.var(x))
    assert result.tau == pytest.approx(1.0, abs=0.25)
    assert result.ess == pytest.approx(result.variance / result.stderr**2)
    assert result.n == n and result.n_levels == 16 and result.level_found


def test_ar1_matches_closed_form():
    n = 2**17
    result = blocking(ar1((n,), np.random.default_rng(1)))
    exact = exact_ar1_stderr(n)
    # The asymptotic formula of the brief agrees with the finite-n sum to O(1/n).
    assert exact == pytest.approx(SIGMA_X * np.sqrt(TAU_AR1 / n), rel=1e-3)
    assert result.stderr == pytest.approx(exact, rel=0.1)
    assert result.tau == pytest.approx(TAU_AR1, rel=0.2)
    # The naive iid formula is off by sqrt(tau) ~ 4.4: the test can tell the two apart.
    assert np.sqrt(result.variance / n) < 0.5 * exact


def test_ar1_matches_spread_of_replica_means():
    # n / tau ~ 1700 per replica; the replica spread checks the estimate without a formula.
    replicas, n = 300, 2**15
    series = ar1((replicas, n), np.random.default_rng(2))
    spread = np.std(series.mean(axis=1), ddof=1)  # ~ 4 % sampling error for 300 replicas
    rms_stderr = np.sqrt(np.mean([blocking(s).stderr ** 2 for s in series]))
    assert rms_stderr == pytest.approx(spread, rel=0.12)
    assert spread == pytest.approx(exact_ar1_stderr(n), rel=0.12)


def test_chains_are_pooled_and_axis_is_respected():
    rng = np.random.default_rng(3)
    chains = ar1((4, 2**14), rng)
    result = blocking(chains)
    assert result.n_chains == 4 and result.n == 4 * 2**14
    assert result.mean == pytest.approx(np.mean(chains))
    assert result.stderr == pytest.approx(exact_ar1_stderr(4 * 2**14), rel=0.1)
    # One level for all chains, from the summed test statistic; chain order is irrelevant.
    assert 0 < result.level < result.n_levels
    assert blocking(chains[::-1]).stderr == pytest.approx(result.stderr, rel=1e-12)
    transposed = blocking(chains.T, axis=0)
    assert transposed.stderr == pytest.approx(result.stderr)
    # The pooled test has the power of all chains: it never stops below a single chain.
    assert result.level >= blocking(chains[0]).level


def _lag_corrected_by_hand(x, level):
    """Variance of the mean from the block means at ``level`` with the lag-1 term (n = 2^m)."""
    y = x.copy()
    for _ in range(level):
        y = 0.5 * (y[0::2] + y[1::2])
    m, dev = y.size, y - y.mean()
    s2, gamma = dev @ dev / m, dev[:-1] @ dev[1:] / m
    return (s2 + 2 * m * gamma / (m - 1)) / (m - 3), dev @ dev / (m - 1) / m


def test_single_chain_stderr_is_the_lag_corrected_chosen_level():
    x = ar1((2**12,), np.random.default_rng(5))
    result = blocking(x)
    assert result.level > 0  # correlated data need blocks longer than one sample
    corrected, classic = _lag_corrected_by_hand(x, result.level)
    assert result.stderr == pytest.approx(np.sqrt(corrected), rel=1e-10)
    assert result.stderr_by_level[result.level] == pytest.approx(np.sqrt(classic), rel=1e-10)


def _bias_check(estimates, exact, what):
    # Tolerance from the scatter of the estimates themselves: 3 standard errors of their mean,
    # plus 1 % for the O(1/n) terms the formulas neglect. Plain blocking (s^2 / n_blocks at the
    # level Jonsson's test picks) is ~15 % low here and fails by > 5 standard errors.
    ratio = np.asarray(estimates) / exact
    tol = 3 * ratio.std(ddof=1) / np.sqrt(ratio.size) + 0.01
    assert abs(ratio.mean() - 1) < tol, f"{what}: mean ratio {ratio.mean():.3f} +- {tol:.3f}"


def test_no_small_sample_bias_on_short_ar1_series():
    # n / tau ~ 200 (tau = 10), where the automated level choice used to leave ~15 % bias.
    phi, n, reps = 9 / 11, 2048, 200
    series = ar1((reps, n), np.random.default_rng(10), phi=phi)
    sigma_x = SIGMA_E / np.sqrt(1 - phi**2)
    lags = np.arange(1, n)
    exact = sigma_x * np.sqrt((1 + 2 * np.sum((1 - lags / n) * phi**lags)) / n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stderr = [blocking(x).stderr for x in series]
    _bias_check(stderr, exact, "blocking")
    mcse = [float(results.mcse(x[None, :])) for x in series[:100]]
    _bias_check(mcse, exact, "ArviZ mcse")  # the reference the VMC test compares with


def test_no_bias_for_pooled_chains():
    # 50 chains of n / tau ~ 200 each: the pooled estimate scatters by ~2 % only, so this
    # checks the combination of chains at the percent level.
    phi, n, chains, reps = 9 / 11, 2048, 50, 30
    rng = np.random.default_rng(11)
    sigma_x = SIGMA_E / np.sqrt(1 - phi**2)
    lags = np.arange(1, n)
    exact = sigma_x * np.sqrt((1 + 2 * np.sum((1 - lags / n) * phi**lags)) / (n * chains))
    stderr = [blocking(ar1((chains, n), rng, phi=phi)).stderr for _ in range(reps)]
    _bias_check(stderr, exact, "pooled blocking")


def test_non_power_of_two_length_uses_all_data():
    n = 2**15 + 12345
    x = np.random.default_rng(4).normal(size=n)
    result = blocking(x)
    assert result.n == n
    assert result.n_levels == int(np.floor(np.log2(n)))
    assert result.stderr_by_level.shape == (result.n_levels,)
    assert result.stderr == pytest.approx(1 / np.sqrt(n), rel=0.1)


def test_torch_input_accepted():
    x = torch.randn(2**10, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert blocking(x).stderr == pytest.approx(blocking(x.numpy()).stderr)


@pytest.mark.parametrize("shape", [(1000,), (3, 64)])
def test_zero_variance_gives_zero_stderr_without_warnings(shape):
    x = np.full(shape, -0.4371)  # local energies of an exact eigenstate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = blocking(x)
        tau = autocorrelation_time(x)
    assert result.stderr == 0.0 and result.variance == 0.0
    assert result.mean == -0.4371
    assert result.tau == 1.0 and result.ess == x.size
    assert np.all(result.stderr_by_level == 0.0)
    assert tau == 1.0


def test_alternating_series_has_zero_stderr_not_nan():
    result = blocking(np.tile([1.0, -1.0], 64))
    assert result.stderr == 0.0 and np.isfinite(result.stderr_by_level).all()


def test_short_input_raises():
    with pytest.raises(ValueError, match="at least 16 samples"):
        blocking(np.arange(15.0))
    with pytest.raises(ValueError, match="at least 16 samples"):
        autocorrelation_time(np.ones((2, 8)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(bad):
    x = np.random.default_rng(7).normal(size=64)
    x[10] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        blocking(x)


def test_bad_shape_and_alpha_raise():
    with pytest.raises(ValueError, match="shape"):
        blocking(np.zeros((2, 2, 32)))
    with pytest.raises(ValueError, match="alpha"):
        blocking(np.arange(32.0), alpha=1.5)


def test_too_short_for_its_correlation_warns():
    # A ramp is correlated at every level: no level keeps 16 blocks and passes the test.
    with pytest.warns(RuntimeWarning, match="too short"):
        result = blocking(np.arange(32.0))
    assert not result.level_found


def test_autocorrelation_time_ar1():
    x = ar1((8, 2**15), np.random.default_rng(8))
    assert autocorrelation_time(x) == pytest.approx(TAU_AR1, rel=0.1)
    assert autocorrelation_time(x.T, axis=0) == pytest.approx(autocorrelation_time(x))


def test_autocorrelation_time_iid_and_agreement_with_blocking():
    rng = np.random.default_rng(9)
    assert autocorrelation_time(rng.normal(size=2**14)) == pytest.approx(1.0, abs=0.15)
    x = ar1((2**17,), rng)
    assert blocking(x).tau == pytest.approx(autocorrelation_time(x), rel=0.2)


def test_frozen_chains_never_give_a_zero_stderr():
    # Issue 15: walkers that never move are constant series at different values; pooled
    # blocking counted each as exactly known and reported stderr = 0 for the grand mean.
    rng = np.random.default_rng(11)
    starts = rng.normal(size=(50, 1))
    frozen = np.repeat(starts, 64, axis=1)
    with pytest.warns(RuntimeWarning, match="50 of 50 chains are constant"):
        result = blocking(frozen)
    assert result.frozen_chains == 50
    scatter = starts.std(ddof=1) / np.sqrt(50)
    assert result.stderr == pytest.approx(scatter, rel=1e-12)
    assert np.isfinite(result.tau) and result.tau > 0
    # Partly frozen: the moving chains' error alone would understate the scatter.
    mixed = np.concatenate([frozen[:40], rng.normal(size=(10, 64))])
    with pytest.warns(RuntimeWarning, match="40 of 50 chains"):
        partly = blocking(mixed)
    assert partly.stderr >= mixed.mean(axis=1).std(ddof=1) / np.sqrt(50)


def test_moving_chains_are_unchanged_and_silent():
    x = ar1((20, 512), np.random.default_rng(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = blocking(x)
    assert result.frozen_chains == 0
    # One chain constant at the common value of all: variance 0, nothing frozen to report.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert blocking(np.ones((3, 32))).frozen_chains == 0


def test_compiled_levels_for_many_chains_equal_the_numpy_ones(monkeypatch):
    """From 512 chains on, the per-chain levels run compiled: every result equals the numpy
    path's (a strided walker-major view of a step-major record, as VMC passes it)."""
    from bayesphys.core import blocking as blocking_module

    rng = np.random.default_rng(3)
    record = 0.2 * rng.normal(size=(77, 700)).cumsum(0) + rng.normal(size=(77, 700)) + 5.0
    record[:, 11] = record[0, 11]  # one frozen chain
    compiled = blocking_module.blocking(record, axis=0)
    monkeypatch.setattr(blocking_module, "_COMPILED_MIN_CHAINS", 10**9)
    reference = blocking_module.blocking(record, axis=0)
    for field in ("mean", "stderr", "variance", "tau", "ess"):
        np.testing.assert_allclose(getattr(compiled, field), getattr(reference, field), rtol=1e-12)
    np.testing.assert_allclose(compiled.stderr_by_level, reference.stderr_by_level, rtol=1e-12)
    assert (compiled.level, compiled.frozen_chains) == (reference.level, reference.frozen_chains)
    assert compiled.frozen_chains == 1
    # The variance is the plain pooled one, whatever the path.
    np.testing.assert_allclose(compiled.variance, record.var(), rtol=1e-12)
    np.testing.assert_allclose(compiled.mean, record.mean(), rtol=1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_many_chains_with_a_non_finite_value_are_refused(bad):
    record = np.random.default_rng(4).normal(size=(40, 600))
    record[17, 333] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        blocking(record, axis=0)
