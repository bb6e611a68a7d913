"""``core.stats.Stats``: closed forms (iid, AR(1)) and ArviZ on the same arrays."""

import math
import pickle

import arviz as az
import numpy as np
import pytest

from bayesphys.core.stats import (
    Stats,
    ess_bulk,
    r_hat_rank,
    r_hat_split,
    r_hat_split_from_moments,
    statistics,
)


def ar1(shape, rng, phi):
    """Stationary AR(1) chains with unit innovations: tau = (1 + phi) / (1 - phi)."""
    noise = rng.normal(size=shape)
    x = np.empty(shape)
    x[:, 0] = noise[:, 0] / math.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def test_iid_normal_error_is_sd_over_sqrt_n():
    rng = np.random.default_rng(0)
    sd, shape = 2.0, (8, 4096)
    s = statistics(3.0 + sd * rng.normal(size=shape))
    n = shape[0] * shape[1]
    # The mean is within 4 standard errors; the blocking error of iid data has a relative
    # uncertainty of about sqrt(2 / blocks) (~2 % here), the variance ~1 %.
    assert abs(s.mean - 3.0) < 4 * sd / math.sqrt(n)
    assert s.error_of_mean == pytest.approx(sd / math.sqrt(n), rel=0.1)
    assert s.variance == pytest.approx(sd**2, rel=0.05)
    assert s.tau_corr == pytest.approx(1.0, abs=0.2)
    assert s.ess == pytest.approx(n, rel=0.1)
    assert s.r_hat == pytest.approx(1.0, abs=0.01)


def test_ar1_tau_and_error_match_closed_form():
    rng = np.random.default_rng(1)
    phi, shape = 0.8, (8, 2**14)
    tau = (1 + phi) / (1 - phi)  # 9
    variance = 1 / (1 - phi**2)
    s = statistics(ar1(shape, rng, phi))
    n = shape[0] * shape[1]
    assert s.tau_corr == pytest.approx(tau, rel=0.15)
    assert s.error_of_mean == pytest.approx(math.sqrt(tau * variance / n), rel=0.1)
    assert s.variance == pytest.approx(variance, rel=0.05)
    assert s.ess == pytest.approx(n / tau, rel=0.15)


@pytest.mark.parametrize(
    ("shape", "phi", "decimals"),
    [((4, 1000), 0.9, None), ((50, 37), 0.5, 1), ((2, 17), 0.0, None), ((3, 64), 0.3, 0)],
)
def test_r_hat_and_ess_equal_arviz_on_the_same_array(shape, phi, decimals):
    x = ar1(shape, np.random.default_rng(2), phi)
    if decimals is not None:  # ties, as rejected Metropolis moves repeat values
        x = np.round(x, decimals)
    s = statistics(x)
    assert s.r_hat == pytest.approx(float(az.rhat(x)), rel=1e-10)
    assert s.ess == pytest.approx(float(az.ess(x)), rel=1e-10)
    assert r_hat_rank(x) == pytest.approx(float(az.rhat(x)), rel=1e-10)
    assert ess_bulk(x) == pytest.approx(float(az.ess(x)), rel=1e-10)
    assert r_hat_split(x) == pytest.approx(float(az.rhat(x, method="split")), rel=1e-10)


def test_one_chain_has_no_r_hat_but_an_ess():
    x = ar1((1, 300), np.random.default_rng(3), 0.5)
    s = statistics(x[0])
    assert math.isnan(s.r_hat)
    assert s.ess == pytest.approx(float(az.ess(x)), rel=1e-10)
    assert "R-hat" not in str(s)


def test_r_hat_flags_chains_that_disagree():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 500)) + np.array([0.0, 0.0, 0.0, 1.0])[:, None]
    assert statistics(x).r_hat > 1.1
    assert statistics(x - x.mean(axis=1, keepdims=True)).r_hat < 1.01


def test_format_repr_and_float_behaviour():
    s = Stats(3.000401, 0.0000213, 0.00182, 1.3, r_hat=1.0012, ess=4200.0)
    assert f"{s}" == "3.00040 +- 0.00002 [var = 0.0018, R-hat = 1.001]"
    assert str(s) == f"{s}" and repr(s) == f"Stats({s})"
    assert s.summary("acc = 0.52") == "3.00040 +- 0.00002 [var = 0.0018, acc = 0.52, R-hat = 1.001]"
    assert f"{s:.3f}" == "3.000"  # a float spec formats the mean, as before Stats
    assert s - 3.0 == pytest.approx(0.000401) and float(s) == s.mean == 3.000401
    # The error's first significant digit is shown: more decimals for a smaller error.
    assert str(Stats(1.0, 3e-7, 1.0, 1.0, r_hat=1.0)).startswith("1.0000000 +- 0.0000003")
    with pytest.raises(AttributeError, match="immutable"):
        s.error_of_mean = 0.0
    back = pickle.loads(pickle.dumps(s))
    assert (float(back), back.error_of_mean, back.r_hat, back.ess) == (
        float(s), s.error_of_mean, 1.0012, 4200.0,
    )  # fmt: skip


def test_without_series_diagnostics_are_nan():
    s = Stats(1.0, 0.1, 2.0, 1.0)
    assert math.isnan(s.r_hat) and math.isnan(s.ess)
    assert str(s) == "1.00000 +- 0.10000 [var = 2]"


def test_invalid_series_raise():
    with pytest.raises(ValueError, match="16 samples"):
        statistics(np.zeros(8))
    with pytest.raises(ValueError, match="shape"):
        statistics(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        statistics(np.r_[np.zeros(20), np.nan])


def test_ranks_average_ties_as_scipy():
    from scipy.stats import rankdata

    from bayesphys.core.stats import _ranks

    rng = np.random.default_rng(5)
    repeated = np.repeat(rng.normal(size=500), 3).reshape(5, 300)  # rejected moves repeat
    special = np.array([[0.0, -0.0, 1.0, -1.0, 5e-320, -5e-320, 1.0000000000000002, 1.0]])
    for x in (repeated, special, np.round(rng.normal(size=(30, 40)), 1)):
        np.testing.assert_array_equal(_ranks(x), rankdata(x).reshape(x.shape))


@pytest.mark.parametrize("steps", [4, 5, 64, 65])
def test_split_r_hat_from_moments_equals_the_one_from_the_series(steps):
    rng = np.random.default_rng(7)
    # Chains with different centres (R-hat well above 1) on a large offset, as VMC energies.
    x = 65.0 + ar1((6, steps), rng, 0.6) + rng.normal(size=(6, 1))
    half = steps // 2
    halves = (x[:, :half], x[:, steps - half :])
    means = np.stack([h.mean(axis=1) for h in halves])
    variances = np.stack([h.var(axis=1, ddof=1) for h in halves])
    expected = r_hat_split(x)
    assert expected > 1.1
    assert r_hat_split_from_moments(half, means, variances) == pytest.approx(expected, rel=1e-12)
    # The halves in any order: the same number.
    flipped = r_hat_split_from_moments(half, means[::-1].T, variances[::-1].T)
    assert flipped == pytest.approx(expected, rel=1e-12)


def test_split_r_hat_from_moments_nan_and_input_errors():
    one_chain = r_hat_split_from_moments(8, [1.0, 1.1], [1.0, 1.0])
    too_short = r_hat_split_from_moments(1, [1.0, 1.1, 0.9, 1.0], [1.0] * 4)
    not_finite = r_hat_split_from_moments(8, [1.0, np.nan, 0.9, 1.0], [1.0] * 4)
    assert math.isnan(one_chain) and math.isnan(too_short) and math.isnan(not_finite)
    with pytest.raises(ValueError, match="means"):
        r_hat_split_from_moments(8, [1.0, 1.1, 0.9], [1.0] * 4)


def test_summary_prints_a_given_split_r_hat_unless_the_rank_one_is_known():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 64))
    s = statistics(x)
    assert s.summary(rank=False, split_r_hat=1.234).endswith("R-hat = 1.234]")
    # Without it, the split R-hat is computed from the series.
    assert s.summary(rank=False).endswith(f"R-hat = {r_hat_split(x):.3f}]")
    # A rank R-hat already computed wins (as for rank=False without split_r_hat).
    rank = s.r_hat
    assert s.summary(rank=False, split_r_hat=1.234).endswith(f"R-hat = {rank:.3f}]")
