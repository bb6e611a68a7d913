"""Model weights for Bayesian model averaging, computed in log space.

All functions return weights that are >= 0 and sum to one. Scores are logs (evidences, summed
log predictive densities), so differences of hundreds of nats are handled without overflow.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from bayesphys.core.validation import check_array, check_positive_int

WEIGHT_KINDS = ("evidence", "predictive", "stacking", "uniform")


def normalise_log_weights(log_scores) -> np.ndarray:
    """``w_k = exp(s_k) / sum_j exp(s_j)`` for log scores ``s`` (evidence or predictive).

    Examples
    --------
    >>> normalise_log_weights([-1000.0, -1000.0 + np.log(3.0)]).round(3)
    array([0.25, 0.75])
    """
    scores = check_array(log_scores, "log_scores", ndim=1)
    if scores.size == 0:
        raise ValueError("log_scores is empty: pass one score per model")
    return np.exp(scores - logsumexp(scores))


def uniform_weights(n_models: int) -> np.ndarray:
    """Equal weights ``1 / n_models``."""
    n_models = check_positive_int(n_models, "n_models")
    return np.full(n_models, 1.0 / n_models)


def stacking_weights(log_density) -> np.ndarray:
    """Stacking of predictive distributions (Yao, Vehtari, Simpson & Gelman 2018).

    Maximises ``sum_i log sum_k w_k p_k(y_i)`` over the simplex, where ``log_density[i, k]`` is
    model k's log predictive density of held-out (or leave-one-out) observation i.

    Parameters
    ----------
    log_density : array (n_points, n_models)

    Returns
    -------
    ndarray (n_models,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=200)
    >>> good = -0.5 * y**2 - 0.5 * np.log(2 * np.pi)
    >>> bad = -0.5 * (y - 3) ** 2 - 0.5 * np.log(2 * np.pi)
    >>> bool(stacking_weights(np.column_stack([good, bad]))[0] > 0.95)
    True
    """
    lp = check_array(log_density, "log_density", ndim=2)
    n, k = lp.shape
    if n == 0 or k == 0:
        raise ValueError("log_density must have at least one point and one model")
    if k == 1:
        return np.ones(1)

    # Softmax over k-1 free logits (the last fixed at 0) maps R^(k-1) onto the open simplex.
    def objective(free):
        logits = np.append(free, 0.0)
        log_w = logits - logsumexp(logits)
        mix = logsumexp(lp + log_w, axis=1)
        w = np.exp(log_w)
        # d/d logit_j of sum_i log sum_k w_k p_ik = sum_i (r_ij - w_j), r = responsibilities
        resp = np.exp(lp + log_w - mix[:, None])
        grad = (resp - w).sum(axis=0)[:-1]
        return -mix.sum() / n, -grad / n

    found = minimize(objective, np.zeros(k - 1), jac=True, method="L-BFGS-B")
    return softmax(np.append(found.x, 0.0))
