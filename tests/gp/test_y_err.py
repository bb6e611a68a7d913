"""Known heteroscedastic measurement errors: calibrated intervals for the latent function."""

import numpy as np
import pytest

from bayesphys.gp import GPRegression

N_DATASETS, N_TRAIN, N_TEST = 10, 60, 150


def _draw_dataset(seed):
    """f from the GP prior the model assumes (RBF, l = 0.6, unit variance); errors known."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 6, size=N_TRAIN + N_TEST)
    K = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.6**2) + 1e-9 * np.eye(len(x))
    f = np.linalg.cholesky(K) @ rng.normal(size=len(x))
    y_err = rng.uniform(0.05, 0.6, size=N_TRAIN)
    y = f[:N_TRAIN] + y_err * rng.normal(size=N_TRAIN)
    return x[:, None], f, y, y_err


@pytest.fixture(scope="module")
def coverages():
    out = []
    for seed in range(N_DATASETS):
        X, f, y, y_err = _draw_dataset(seed)
        gp = GPRegression(noise=0.0, random_state=seed).fit(X[:N_TRAIN], y, y_err=y_err)
        mean, std = gp.predict(X[N_TRAIN:], return_std=True)
        out.append(np.mean(np.abs(f[N_TRAIN:] - mean) <= 1.959964 * std))
    return np.array(out)


def test_latent_95_percent_intervals_cover_95_percent(coverages):
    # Test points within one dataset share its errors, so the Monte-Carlo error comes from the
    # spread between independent datasets, not from a binomial over all points. The allowance
    # of 0.02 covers the plug-in (MAP) hyperparameters, which make intervals slightly narrow.
    se = coverages.std(ddof=1) / np.sqrt(len(coverages))
    assert abs(coverages.mean() - 0.95) < 3 * se + 0.02, (coverages.mean(), se)
    # Sanity of the Monte-Carlo error itself: at least the binomial error of one dataset / R.
    assert se >= 0.5 * np.sqrt(0.95 * 0.05 / N_TEST / N_DATASETS)


def test_errors_only_versus_extra_noise():
    X, _, y, y_err = _draw_dataset(99)
    errors_only = GPRegression(noise=0.0, random_state=0).fit(X[:N_TRAIN], y, y_err=y_err)
    assert errors_only.hyperparameters_["noise"] == 0.0
    # A learned extra noise on top of exact errors is small compared with the errors.
    extra = GPRegression(random_state=0).fit(X[:N_TRAIN], y, y_err=y_err)
    assert extra.hyperparameters_["noise"] < 0.5 * np.median(y_err)
    # The errors are stored with the fit.
    np.testing.assert_array_equal(extra.idata_.constant_data["y_err"].values, y_err)
