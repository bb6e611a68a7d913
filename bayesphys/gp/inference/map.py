"""Type-II MAP of the exact GP: the LAPACK objective with its analytic gradient, by L-BFGS-B.

The objective is :class:`~bayesphys.gp.inference.map_objective.DenseObjective`; the optimiser
loop (restarts, stopping rule) is :func:`bayesphys.gp.inference.optimizer.maximise`.
"""

from __future__ import annotations

import numpy as np

from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import MAP
from bayesphys.gp.inference import optimizer
from bayesphys.gp.inference.map_objective import DenseObjective, subset_start
from bayesphys.gp.inference.result import point_result
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import Predictor

# L-BFGS-B iterations of each MAP search when ``MAP.max_iter`` is None.
DEFAULT_MAX_ITER = 1000


def fit(model: GPModel, rng: np.random.Generator, method: MAP) -> FitResult:
    """Type-II MAP of the exact GP; ``extras`` hold ``z_hat`` and the exact ``predictor``."""
    max_iter = method.max_iter or DEFAULT_MAX_ITER
    start, n_restarts = subset_start(model, rng, n_restarts=method.n_restarts, max_iter=max_iter)
    z_hat, _ = optimizer.maximise(
        None,
        model.space,
        objective=DenseObjective(model),
        n_restarts=n_restarts,
        rng=rng,
        maxiter=max_iter,
        start=start,
        options=optimizer.map_options(model.n),
    )
    # Through the model's cache: the factorisation is reused by the first prediction.
    log_evidence = model.point_log_marginal(z_hat)
    return point_result(model, z_hat, Predictor(model, z_hat[None, :]), log_evidence)
