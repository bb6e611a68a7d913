"""``core.stats.Stats``: closed forms (iid, AR(1)) and ArviZ on the same arrays."""

import math
import pickle

import arviz as az
import numpy as np
import pytest

from bayesphys.core.stats import Stats, ess_bulk, r_hat_rank, r_hat_split, statistics


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
