"""The closed form's data moments: the equal-weight path (raw X'X, centred afterwards) against
the blocked path that centres as it goes and against sums of the explicitly centred data."""

import numpy as np
import pytest

from bayesphys.linear import gaussian


def _reference(X, y, w):
    """Weighted centred moments from the explicitly centred data, written out here."""
    x_mean = w @ X / w.sum()
    y_mean = float(w @ y / w.sum())
    Xc, yc = X - x_mean, y - y_mean
    return (Xc * w[:, None]).T @ Xc, (Xc * w[:, None]).T @ yc, float(yc @ (w * yc)), x_mean, y_mean


def _data(n, p, offset, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p) + offset
    y = 2.0 + X @ rng.normal(size=p) + rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("offset", [0.0, 20.0, 1e4])  # the last one falls back to the blocks
@pytest.mark.parametrize("n", [500, 5000])
def test_equal_weight_moments_match_explicit_centring(n, offset):
    X, y = _data(n, 4, offset)
    w = np.full(n, 2.5)
    got = gaussian._weighted_moments(X, y, w, True)
    want = _reference(X, y, w)
    # Round-off of sums of n terms, amplified by the cancellation n mean^2 / spread the
    # equal-weight path accepts (at most _MAX_CANCELLATION).
    scale = np.sqrt(np.outer(np.diag(want[0]), np.diag(want[0])))
    np.testing.assert_allclose(got[0] / scale, want[0] / scale, rtol=0, atol=1e-11)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9 * np.abs(want[1]).max())
    assert got[2] == pytest.approx(want[2], rel=1e-11)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-13)
    assert got[4] == pytest.approx(want[4], rel=1e-13)
    blocked = gaussian._blocked_moments(X, y, w, True)
    np.testing.assert_allclose(got[0] / scale, blocked[0] / scale, rtol=0, atol=1e-11)


def test_offset_data_take_the_blocked_path(monkeypatch):
    X, y = _data(3000, 3, 1e4)
    assert gaussian._equal_weight_moments(X, y, 1.0, True) is None
    # An offset the first rows do not show is caught on the full moments.
    monkeypatch.setattr(gaussian, "_GRAM_BLOCK_ROWS", 4)
    X, y = _data(20_000, 3, 1e4)
    X[:4] = [[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
    assert gaussian._equal_weight_moments(X[:4], y[:4], 1.0, True) is not None
    assert gaussian._equal_weight_moments(X, y, 1.0, True) is None
    got = gaussian._weighted_moments(X, y, np.ones(len(y)), True)
    np.testing.assert_allclose(got[0], _reference(X, y, np.ones(len(y)))[0], rtol=1e-9)
    X, y = _data(3000, 3, 1.0)
    assert gaussian._equal_weight_moments(X, y, 1.0, True) is not None


def test_uncentred_moments_are_the_raw_sums():
    X, y = _data(2000, 3, 5.0)
    got = gaussian._weighted_moments(X, y, np.full(2000, 0.5), False)
    np.testing.assert_allclose(got[0], 0.5 * X.T @ X, rtol=1e-13)
    np.testing.assert_allclose(got[1], 0.5 * X.T @ y, rtol=1e-13)
    assert got[2] == pytest.approx(0.5 * y @ y, rel=1e-13) and got[3] is None
