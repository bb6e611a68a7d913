"""Model weights for Bayesian model averaging, computed in log space.

All functions return weights that are >= 0 and sum to one. Scores are logs (evidences, summed
log predictive densities), so differences of hundreds of nats are handled without overflow.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from bayesphys.core.validation import check_array, check_positive_int

WEIGHT_KINDS = ("evidence", "predictive", "stacking", "existence", "uniform")
# Below this effective number of models an average is in practice one model (plus a little).
MIN_EFFECTIVE_MODELS = 1.5


class ConcentratedWeightsWarning(UserWarning):
    """The model weights sit on about one model (effective number of models below 1.5)."""


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


def existence_log_likelihood(bound, log_p_bound, log_p_unbound) -> np.ndarray:
    """Bernoulli log likelihood of observed bound statuses under each model.

    ``log L_k = sum_i [b_i log p_ik + (1 - b_i) log(1 - p_ik)]``, where ``b_i`` is 1 for a
    nucleus observed bound and 0 for one known unbound, and ``p_ik`` is model k's probability
    that nucleus i exists (Neufcourt et al., PRC 101, 044307 (2020); PRL 122, 062502 (2019)).
    The probabilities come as logs, ``log p`` and ``log(1 - p)``, so that a ``p`` within
    1e-17 of 1 keeps its information (``1 - p`` would round to 0).

    Parameters
    ----------
    bound : array of bool (n_nuclei,)
    log_p_bound, log_p_unbound : array (n_nuclei, n_models)
        ``log p_ik`` and ``log(1 - p_ik)``.

    Returns
    -------
    ndarray (n_models,)
    """
    status = np.asarray(bound)
    if status.ndim != 1 or status.dtype != bool:
        raise TypeError(f"bound must be a 1-d array of bool, got {status.dtype} {status.shape}")
    lp1 = check_array(log_p_bound, "log_p_bound", ndim=2, allow_inf=True)
    lp0 = check_array(log_p_unbound, "log_p_unbound", ndim=2, allow_inf=True)
    if lp1.shape != lp0.shape or lp1.shape[0] != status.size or status.size == 0:
        raise ValueError(
            "bound (n,), log_p_bound and log_p_unbound (n, n_models) must match with n >= 1, "
            f"got {status.shape}, {lp1.shape}, {lp0.shape}"
        )
    if (lp1 > 0).any() or (lp0 > 0).any():
        raise ValueError("log_p_bound and log_p_unbound are log probabilities: all must be <= 0")
    # where, not multiplication: 0 * log(0) must be 0 (a certain outcome that was not observed).
    return np.where(status[:, None], lp1, lp0).sum(axis=0)


def existence_weights(bound, p_ex) -> np.ndarray:
    """``w_k proportional to prod_i p_ik^b_i (1 - p_ik)^(1 - b_i)`` (equal prior weights).

    The existence weights of Neufcourt et al. (PRC 101, 044307 (2020)) from probabilities
    ``p_ex`` (n_nuclei, n_models) and observed statuses ``bound`` (n_nuclei,), see
    :func:`existence_log_likelihood`.

    Examples
    --------
    Two nuclei, both observed bound; model A gives them p = 0.9, model B p = 0.5:

    >>> existence_weights([True, True], [[0.9, 0.5], [0.9, 0.5]]).round(4)
    array([0.7642, 0.2358])
    """
    p = check_array(p_ex, "p_ex", ndim=2)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p_ex must hold probabilities in [0, 1]")
    with np.errstate(divide="ignore"):
        log_l = existence_log_likelihood(_bound_statuses(bound), np.log(p), np.log1p(-p))
    if not np.isfinite(log_l).any():
        raise ValueError("every model gives probability 0 to the observed statuses")
    return normalise_log_weights_allow_inf(log_l)


def _bound_statuses(bound) -> np.ndarray:
    """``bound`` as bool: bools, or the numbers 0 and 1; anything else is refused.

    A cast with ``astype(bool)`` would read a probability 0.3, a count 2 or the text "False"
    as True (observed bound).
    """
    status = np.asarray(bound)
    if status.dtype == bool:
        return status
    if status.dtype.kind not in "iuf":
        raise TypeError(
            f"bound must hold bools (True: observed bound, False: known unbound) or 0/1, got "
            f"dtype {status.dtype}"
        )
    if not np.isin(status, (0, 1)).all():
        bad = status[~np.isin(status, (0, 1))].ravel()[0]
        raise ValueError(
            "bound must hold the observed statuses, True/1 (bound) or False/0 (unbound), not "
            f"probabilities or counts; got {bad!r}"
        )
    return status.astype(bool)


def normalise_log_weights_allow_inf(log_scores) -> np.ndarray:
    """:func:`normalise_log_weights` where a score of -inf (an impossible outcome) is weight 0."""
    scores = np.asarray(log_scores, dtype=float)
    finite = np.isfinite(scores)
    out = np.zeros(scores.shape)
    out[finite] = normalise_log_weights(scores[finite])
    return out


def effective_number_of_models(weights) -> float:
    """``1 / sum_k w_k^2``: 1 when one model has all the weight, K for K equal weights."""
    w = check_array(weights, "weights", ndim=1)
    if w.size == 0 or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ValueError("weights must be non-negative and sum to one")
    return float(1.0 / np.sum(w**2))


def warn_if_concentrated(weights, names, stacklevel: int = 2) -> float:
    """The effective number of models; a :class:`ConcentratedWeightsWarning` below 1.5.

    A single model is not an average, so it never warns.
    """
    n_eff = effective_number_of_models(weights)
    if len(weights) > 1 and n_eff < MIN_EFFECTIVE_MODELS:
        top = names[int(np.argmax(weights))]
        warnings.warn(
            f"the model weights sit on about one model: effective number of models "
            f"1/sum(w^2) = {n_eff:.3f} < {MIN_EFFECTIVE_MODELS} ({top} has weight "
            f"{float(np.max(weights)):.3f}); the average carries little of the spread between "
            "models",
            ConcentratedWeightsWarning,
            stacklevel=stacklevel + 1,
        )
    return n_eff
