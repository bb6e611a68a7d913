"""``magnitude_certified``: moments prove a matrix passes ``check_magnitude`` only when it does."""

import numpy as np
import pytest

from bayesphys.core.validation import (
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    check_magnitude,
    magnitude_certified,
)


def _moments(X, w, centred):
    with np.errstate(all="ignore"):
        centre = w @ X / w.sum() if centred else np.zeros(X.shape[1])
        spread = w @ (X - centre) ** 2
    return centre, spread, float(w.min()), float(w.sum())


def _passes_exact_check(X) -> bool:
    if not np.all(np.isfinite(X)):
        return False
    try:
        check_magnitude(X, "X")
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("centred", [True, False])
def test_certified_only_what_the_exact_check_accepts(centred):
    rng = np.random.default_rng(11)
    certified = 0
    for exponent in range(-320, 309, 3):
        for offset in (0.0, 1.0, 1e3):
            with np.errstate(over="ignore"):  # inf: an overflowing input, also tried
                X = (rng.normal(size=(400, 3)) + offset) * 10.0**exponent
                if rng.uniform() < 0.3:  # one value far out: a bound from averages misses it
                    X[rng.integers(400), rng.integers(3)] *= 1e4
            if rng.uniform() < 0.3:
                X[rng.integers(400), rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
            w = rng.uniform(0.1, 10.0, 400) * 10.0 ** rng.integers(-3, 4)
            if magnitude_certified(*_moments(X, w, centred)):
                certified += 1
                assert _passes_exact_check(X), f"certified a bad X at 1e{exponent}"
    assert certified > 30  # it proves the ordinary scales, not nothing


def test_ordinary_data_are_certified_and_limits_are_not():
    X = np.random.default_rng(2).normal(size=(1000, 4))
    w = np.ones(1000)
    assert magnitude_certified(*_moments(X, w, True))
    assert magnitude_certified(*_moments(X * 1e90, w, True))
    assert magnitude_certified(*_moments(X * 1e-90, w, True))
    assert not magnitude_certified(*_moments(X * MAX_MAGNITUDE, w, True))
    assert not magnitude_certified(*_moments(X * MIN_MAGNITUDE, w, True))
    spike = X.copy()
    spike[7, 1] = 3.0 * MAX_MAGNITUDE  # one value over the limit among ordinary ones
    assert not magnitude_certified(*_moments(spike, w, True))
    assert not magnitude_certified(*_moments(spike, w, False))
    zero_column = X * [1.0, 0.0, 1.0, 1.0]
    assert not magnitude_certified(*_moments(zero_column, w, True))  # left to the exact check
    assert not magnitude_certified(np.zeros(4), np.full(4, np.nan), 1.0, 1000.0)
    assert not magnitude_certified(np.zeros(4), np.ones(4), 0.0, 1000.0)
