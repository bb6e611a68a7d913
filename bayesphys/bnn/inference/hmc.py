"""Full-batch static HMC over all weights, with the core vectorised sampler."""

from __future__ import annotations

import warnings

from torch import Tensor

from bayesphys.bnn.posterior import FullBatchTarget, Posterior
from bayesphys.core import inference
from bayesphys.core.fit_result import FitResult
from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.core.samplers import HMC, Kernel, sample


def fit_hmc(
    post: Posterior, init: Tensor, *, method: inference.HMC, seed: int, progressbar: bool
) -> FitResult:
    """Static HMC with a mean of ``n_leapfrog`` leapfrog steps per transition, jittered by
    +-50 %, adapting the step size (dual averaging towards ``target_accept``) and a diagonal
    mass matrix during ``tune``; all chains in one ``log_prob``."""
    kernel = HMC(n_leapfrog=method.n_leapfrog, target_accept=method.target_accept)
    return sample_full_batch(post, init, kernel, method=method, seed=seed, progressbar=progressbar)


def sample_full_batch(
    post: Posterior,
    init: Tensor,
    kernel: Kernel,
    *,
    method: inference.HMC | inference.NUTS,
    seed: int,
    progressbar: bool,
) -> FitResult:
    """Run a core sampler ``kernel`` on the full-batch log posterior from ``init``.

    The target is a :class:`~bayesphys.bnn.posterior.FullBatchTarget`: the kernel takes the
    hand-written gradient (closed form for Normal weight priors with Gaussian noise) directly,
    without autograd around it.
    """
    with warnings.catch_warnings():
        # The estimator warns once over all chain groups (bayesphys.bnn.inference.groups.combine).
        warnings.simplefilter("ignore", InterruptedRunWarning)
        # Ctrl-C before the first draw re-raises KeyboardInterrupt: nothing to keep.
        result = sample(
            FullBatchTarget(post),
            init,
            method=kernel,
            draws=method.draws,
            tune=method.tune,
            thin=1,
            random_state=seed,
            progressbar=progressbar,
            compute_convergence_checks=False,  # once over all chain groups, by the estimator
        )
    return FitResult(
        sample_stats=result.sample_stats(),
        unconstrained=result.samples,
        attrs={"tuning_steps": result.tune},
        progress=result.progress,
    )
