"""The L-BFGS-B loop of the GP's optimisation fits (MAP, the MAP that starts NUTS, SGPR)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy import optimize

from bayesphys.gp.hyperparameters import HyperSpace

# Objective value returned where the covariance is numerically invalid: large but finite, so
# that L-BFGS-B's line search backs off instead of aborting.
INVALID_OBJECTIVE = 1e25
# Stopping rule of the MAP searches: every projected gradient component of the negative log
# posterior (per unit of the log-hyperparameters) below GTOL_PER_POINT * n. The rounding noise of
# the exact gradient grows about linearly with n (it stalled near 1e-4 at n = 500 and 5e-4 at
# n = 2000 on the benchmark data), so a fixed tolerance either stops early at small n or makes
# the line search fail at large n. Near the optimum the objective is then within about
# gtol**2 / curvature of it, below scikit-learn's stop (relative reduction under 2.2e-9).
GTOL_PER_POINT = 5e-7
MIN_GTOL = 1e-5
# The relative-reduction stop (L-BFGS-B's ftol) is then only a backstop.
MAP_FTOL = 1e-13
# An abnormal line-search end with a projected gradient within this factor of the tolerance is
# the rounding floor, not a failure: no warning.
NOISE_FLOOR_FACTOR = 20.0


def map_options(n: int) -> dict:
    """L-BFGS-B options for a MAP search on ``n`` points."""
    return {"gtol": max(MIN_GTOL, GTOL_PER_POINT * n), "ftol": MAP_FTOL}


def autograd_objective(
    log_target: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``flat -> (-log_target, gradient)`` by autograd, for ``log_target`` of a ``(1, dim)`` z."""

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        z = torch.tensor(flat[None], dtype=torch.float64, requires_grad=True)
        value = -log_target(z)[0]
        if not torch.isfinite(value):
            return INVALID_OBJECTIVE, np.zeros_like(flat)
        (grad,) = torch.autograd.grad(value, z)
        grad = grad.numpy()[0]
        if not np.all(np.isfinite(grad)):
            return INVALID_OBJECTIVE, np.zeros_like(flat)
        return float(value.detach()), grad

    return objective


def maximise(
    log_target: Callable[[torch.Tensor], torch.Tensor] | None,
    space: HyperSpace,
    *,
    n_restarts: int,
    rng: np.random.Generator,
    maxiter: int = 1000,
    start: np.ndarray | None = None,
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    options: dict | None = None,
) -> tuple[np.ndarray, float]:
    """Maximise ``log_target(z)`` (``z`` of shape ``(1, dim)``) from several starting points.

    The first start is ``start`` (default: the reference values), the others are prior draws.
    ``objective`` (``flat z -> (-log_target, gradient)``) replaces autograd on ``log_target``;
    ``options`` (``gtol``, ``ftol``; default SciPy's) go to L-BFGS-B.

    Returns
    -------
    z : ndarray (dim,)
        The best optimum found.
    value : float
        ``log_target`` there.
    """
    if space.dim == 0:
        if objective is not None:
            return np.zeros(0), -objective(np.zeros(0))[0]
        with torch.no_grad():
            return np.zeros(0), float(log_target(torch.zeros(1, 0, dtype=torch.float64))[0])
    if objective is None:
        objective = autograd_objective(log_target)

    bounds = [
        (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi) for lo, hi in space.bounds()
    ]
    starts = [space.reference() if start is None else start]
    starts += [space.draw(rng) for _ in range(n_restarts)]
    best = None
    for z0 in starts:
        res = lbfgsb(objective, z0, bounds, maxiter=maxiter, options=options, warn=False)
        if res.fun < INVALID_OBJECTIVE and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise np.linalg.LinAlgError(
            "every MAP start gave a numerically invalid covariance; set a noise > 0 or "
            "narrower priors"
        )
    _warn_unconverged(best, bounds, options, stacklevel=4)
    return best.x, -float(best.fun)


def lbfgsb(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    bounds: list,
    *,
    maxiter: int,
    options: dict | None = None,
    warn: bool = True,
) -> optimize.OptimizeResult:
    """One L-BFGS-B run on ``objective`` (value and gradient), warning if it did not converge."""
    res = optimize.minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, **(options or {})},
    )
    if warn:
        _warn_unconverged(res, bounds, options, stacklevel=4)
    return res


def _warn_unconverged(res, bounds, options, *, stacklevel: int) -> None:
    if not res.success and not _at_noise_floor(res, bounds, options):
        warnings.warn(
            f"the MAP optimiser stopped without converging ({res.message}); try n_restarts "
            "or different priors",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def _at_noise_floor(res: optimize.OptimizeResult, bounds: list, options: dict | None) -> bool:
    """Whether an unsuccessful L-BFGS-B end is a line search stalled by rounding at the optimum."""
    if "ABNORMAL" not in str(res.message).upper() or res.jac is None:
        return False
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    # The projected gradient: components pushing against an active bound do not count.
    g = np.where((res.x <= lo) & (res.jac > 0) | (res.x >= hi) & (res.jac < 0), 0.0, res.jac)
    gtol = (options or {}).get("gtol", 1e-5)
    return bool(np.max(np.abs(g)) <= NOISE_FLOOR_FACTOR * gtol)
