"""Model comparison for linear models: Bayesian evidence and leave-one-out cross-validation."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.exceptions import NotFittedError

from bayesphys.core import results
from bayesphys.core.validation import check_array, check_positive_int


def polynomial_features(x, degree: int, *, center: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Monomial basis ``u, u^2, ..., u^degree`` with ``u = (x - center) / scale``.

    The constant term is left to the model's intercept. Map x to about [-1, 1] with
    ``center``/``scale`` to keep high degrees well conditioned.

    Examples
    --------
    >>> polynomial_features([1.0, 2.0], 3)
    array([[1., 1., 1.],
           [2., 4., 8.]])
    """
    x = check_array(x, "x", ndim=1)
    degree = check_positive_int(degree, "degree")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    u = (x - center) / scale
    return np.column_stack([u**k for k in range(1, degree + 1)])


def compare_models(models: Mapping[str, object], ic: str = "loo") -> pd.DataFrame:
    """Compare fitted models by log evidence and by leave-one-out predictive accuracy.

    Parameters
    ----------
    models : mapping of name -> fitted estimator
        Fitted on the same observations ``y``. Evidences (``log_evidence_``) are compared where
        every model has one (closed-form and empirical-Bayes fits).
    ic : str
        Information criterion passed to ArviZ ``compare`` (``"loo"``).

    Returns
    -------
    DataFrame indexed by model name with ``log_evidence``, ``evidence_probability`` (posterior
    model probability under a uniform prior over the listed models), ``elpd_loo``, ``elpd_se``,
    ``loo_rank`` and ``loo_weight`` (stacking weights); sorted by ``elpd_loo``.
    """
    if len(models) < 2:
        raise ValueError("compare_models needs at least two fitted models")
    unfitted = [name for name, m in models.items() if not hasattr(m, "n_features_in_")]
    if unfitted:
        # NotFittedError is a ValueError: the AttributeError of idata_ named no model
        raise NotFittedError(f"models {unfitted} are not fitted: fit them before compare_models")
    observed = [np.asarray(m.idata_.observed_data["y"]) for m in models.values()]
    if any(o.shape != observed[0].shape or not np.allclose(o, observed[0]) for o in observed):
        raise ValueError("all models must be fitted to the same observations y")
    lacking = [name for name, m in models.items() if "log_likelihood" not in m.idata_.groups()]
    if lacking:
        raise ValueError(
            f"models {lacking} have no pointwise log-likelihood (MAP fits, or fit with "
            "log_likelihood=False): refit with method='conjugate' or 'nuts'"
        )
    table = results.compare({name: m.idata_ for name, m in models.items()}, ic=ic)
    out = pd.DataFrame(index=list(models))
    log_z = [getattr(m, "log_evidence_", None) for m in models.values()]
    if all(v is not None for v in log_z):
        log_z = np.asarray(log_z, dtype=float)
        out["log_evidence"] = log_z
        out["evidence_probability"] = np.exp(log_z - logsumexp(log_z))
    out["elpd_loo"] = table["elpd_loo"]
    out["elpd_se"] = table["se"]
    out["loo_rank"] = table["rank"]
    out["loo_weight"] = table["weight"]
    return out.sort_values("elpd_loo", ascending=False)
