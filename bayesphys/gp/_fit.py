"""Hyperparameter inference: type-II MAP by L-BFGS-B, and HMC over the marginal posterior."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from scipy import optimize

from bayesphys.core.samplers import sample
from bayesphys.core.samplers.result import SamplerResult
from bayesphys.gp._params import HyperSpace

# Objective value returned where the covariance is numerically invalid: large but finite, so
# that L-BFGS-B's line search backs off instead of aborting.
INVALID_OBJECTIVE = 1e25
# Default torch intra-op threads for GP work. On the 2-core development machine, shared with
# other processes, one thread was faster at every size measured: a gradient of the exact
# evidence for 4 chains x 30 points took 3 ms with one thread and 45 ms with two, an exact MAP
# fit at n = 1000 took 3.6 s against 27 s (n = 2000: 17 s against 457 s), and one SGPR bound
# evaluation at n = 50 000 (m = 128) 2.3 s against 3.7 s. With idle cores, pass num_threads=None.
DEFAULT_THREADS = 1


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` torch threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if num_threads is not None and num_threads != before:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def maximise(
    log_target: Callable[[torch.Tensor], torch.Tensor],
    space: HyperSpace,
    *,
    n_restarts: int,
    rng: np.random.Generator,
    maxiter: int = 1000,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Maximise ``log_target(z)`` (``z`` of shape ``(1, dim)``) from several starting points.

    The first start is ``start`` (default: the reference values), the others are prior draws.

    Returns
    -------
    z : ndarray (dim,)
        The best optimum found.
    value : float
        ``log_target`` there.
    """
    if space.dim == 0:
        z = np.zeros(0)
        with torch.no_grad():
            return z, float(log_target(torch.zeros(1, 0, dtype=torch.float64))[0])

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

    bounds = [
        (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi) for lo, hi in space.bounds()
    ]
    starts = [space.reference() if start is None else start]
    starts += [space.draw(rng) for _ in range(n_restarts)]
    best = None
    for z0 in starts:
        res = optimize.minimize(
            objective,
            z0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter},
        )
        if res.fun < INVALID_OBJECTIVE and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise np.linalg.LinAlgError(
            "every MAP start gave a numerically invalid covariance; set a noise > 0 or "
            "narrower priors"
        )
    if not best.success:
        warnings.warn(
            f"the MAP optimiser stopped without converging ({best.message}); try n_restarts "
            "or different priors",
            RuntimeWarning,
            stacklevel=3,
        )
    return best.x, -float(best.fun)


def run_hmc(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    z_center: np.ndarray,
    *,
    chains: int,
    draws: int,
    tune: int,
    seed: int,
    target_accept: float,
    progressbar: bool,
    init_spread: float = 0.1,
) -> SamplerResult:
    """Core HMC on the unconstrained hyperparameters, chains started around ``z_center``."""
    gen = np.random.default_rng(seed)
    init = z_center[None, :] + init_spread * gen.standard_normal((chains, len(z_center)))
    return sample(
        log_prob,
        torch.as_tensor(init),
        method="hmc",
        draws=draws,
        tune=tune,
        seed=seed,
        progressbar=progressbar,
        target_accept=target_accept,
    )
