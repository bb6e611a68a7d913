"""The :class:`~bayesphys.core.fit_result.FitResult` of a GP point fit (MAP, SGPR, SVGP).

Every GP method returns a ``FitResult`` whose ``extras`` hold ``z_hat`` (the unconstrained
point estimate: the optimum, or NUTS's posterior medians) and ``predictor`` (what predicts:
:class:`~bayesphys.gp.predictors.Predictor` or
:class:`~bayesphys.gp.predictors.InducingPredictor`); NUTS adds ``log_likelihood`` and
``posterior_predictive`` (see :mod:`bayesphys.gp.inference.nuts`).
"""

from __future__ import annotations

import numpy as np

from bayesphys.core.fit_result import FitResult
from bayesphys.gp.hyperparameters import point_draw
from bayesphys.gp.model import GPModel


def point_result(
    model: GPModel, z_hat: np.ndarray, predictor, log_evidence: float, progress: str | None = None
) -> FitResult:
    """The result of a fit that ends at one hyperparameter value ``z_hat``."""
    return FitResult(
        posterior=point_draw(model.space, z_hat),
        log_evidence=log_evidence,
        extras={"z_hat": z_hat, "predictor": predictor},
        progress=progress,
    )
