"""Model weights: log-space normalisation and stacking against known answers."""

import numpy as np
import pytest
from scipy.stats import norm

from bayesphys.bma import normalise_log_weights, stacking_weights, uniform_weights


def test_log_weights_survive_huge_scores():
    w = normalise_log_weights([-5000.0, -5000.0 + np.log(4.0), -7000.0])
    np.testing.assert_allclose(w, [0.2, 0.8, 0.0], atol=1e-12)
    assert w.sum() == pytest.approx(1.0)


def test_uniform_weights():
    np.testing.assert_allclose(uniform_weights(4), 0.25)
    with pytest.raises(ValueError, match="n_models"):
        uniform_weights(0)


def test_stacking_recovers_mixture_proportions():
    # Data from 0.3 N(0, 1) + 0.7 N(4, 1): stacking the two components is the maximum-likelihood
    # estimate of the mixture weight, whose sampling sd is about sqrt(0.21 / n).
    rng = np.random.default_rng(1)
    n = 4000
    y = np.where(rng.random(n) < 0.3, rng.normal(0, 1, n), rng.normal(4, 1, n))
    log_density = np.column_stack([norm.logpdf(y, 0, 1), norm.logpdf(y, 4, 1)])
    w = stacking_weights(log_density)
    assert w.sum() == pytest.approx(1.0)
    assert abs(w[0] - 0.3) < 4 * np.sqrt(0.21 / n)


def test_stacking_picks_the_better_model_and_single_model():
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    w = stacking_weights(np.column_stack([norm.logpdf(y), norm.logpdf(y, 2.0)]))
    assert w[0] > 0.97
    np.testing.assert_array_equal(stacking_weights(norm.logpdf(y)[:, None]), [1.0])


def test_bad_input():
    with pytest.raises(ValueError, match="log_scores"):
        normalise_log_weights([np.nan, 1.0])
    with pytest.raises(ValueError, match="log_density"):
        stacking_weights(np.zeros(5))
