"""Scale-adapted stochastic-gradient HMC on minibatches, all chains at once.

It works on the same flat, unconstrained parameter layout as full-batch HMC (see
:class:`~bayesphys.bnn.posterior.Posterior`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bayesphys.bnn.inference.minibatch import Batcher, full_log_prob
from bayesphys.bnn.posterior import Posterior
from bayesphys.core.fit_result import FitResult
from bayesphys.core.progress import progress_bar

# Friction of SGHMC (alpha in Chen et al.'s notation): the fraction of velocity lost per step.
SGHMC_FRICTION = 0.05

_TINY = 1e-16


def _grad_potential(post: Posterior, theta: Tensor, idx: np.ndarray | None) -> Tensor:
    """Gradient of ``U = -(log prior + (n/b) log lik(batch))`` for every chain."""
    with torch.enable_grad():
        x = theta.detach().requires_grad_(True)
        lp = post.minibatch_log_prob(x, idx)
        (grad,) = torch.autograd.grad(lp.sum(), x)
    return -grad


def fit_sghmc(
    post: Posterior,
    init: Tensor,
    *,
    draws: int,
    burn_in: int,
    thin: int,
    batcher: Batcher,
    lr: float,
    friction: float,
    generator: torch.Generator,
    progressbar: bool,
) -> FitResult:
    """Stochastic-gradient HMC (Chen, Fox & Guestrin 2014), scale-adapted as in Springenberg,
    Klein, Falkner & Hutter (NeurIPS 2016), vectorised over chains.

    With velocity ``v = lr * M^{-1} p``, diagonal mass ``M = diag(sqrt(V))`` (``V`` a running
    estimate of the squared gradient, adapted during burn-in only and then frozen), friction
    ``C = friction * M / lr`` and no estimate of the gradient noise, one step is

        v <- v - lr^2 M^{-1} grad U - friction * v + N(0, 2 friction lr^2 M^{-1} - lr^4)
        theta <- theta + v

    i.e. Chen et al.'s update with ``eta = lr^2 M^{-1}``, ``alpha = friction`` and injected
    noise variance ``2 alpha eta`` (the ``- lr^4`` term is the second-order correction of
    Springenberg et al.); as ``lr -> 0`` it samples the exact posterior.
    """
    theta = init.clone()
    v = torch.zeros_like(theta)
    g_avg = torch.zeros_like(theta)
    v_hat = torch.ones_like(theta)
    tau = torch.ones_like(theta)
    n_chains, dim = theta.shape
    samples = torch.empty((n_chains, draws, dim), dtype=theta.dtype)
    total = burn_in + draws * thin
    kept = 0
    progress = progress_bar(total, "sghmc", disable=not progressbar)
    try:
        for i in range(total):
            grad = _grad_potential(post, theta, batcher.next())
            if i < burn_in:
                # Adaptive window length tau: short when the gradient's mean dominates its
                # second moment (far from equilibrium), long near equilibrium.
                r = 1.0 / (tau + 1.0)
                g_avg = (1.0 - r) * g_avg + r * grad
                v_hat = (1.0 - r) * v_hat + r * grad * grad
                tau = 1.0 + tau - tau * g_avg * g_avg / (v_hat + _TINY)
            minv = 1.0 / torch.sqrt(v_hat + _TINY)
            noise_var = (2.0 * lr**2 * friction * minv - lr**4).clamp_min(_TINY)
            noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype)
            v = v - lr**2 * minv * grad - friction * v + noise_var.sqrt() * noise
            theta = theta + v
            if not bool(torch.isfinite(theta).all()):
                raise RuntimeError(
                    "sghmc diverged (non-finite weights): lower learning_rate or raise burn-in"
                )
            j = i - burn_in
            if j >= 0 and (j + 1) % thin == 0:
                samples[:, kept] = theta
                kept += 1
            progress.update(1)
    except KeyboardInterrupt:
        if kept == 0:
            raise  # burn-in only: nothing to keep
    finally:
        progress.close()
    samples = samples[:, :kept].clone()
    stats = {
        "lp": full_log_prob(post, samples),
        "step_size": np.full((n_chains, kept), lr),
    }
    return FitResult(
        sample_stats=stats,
        unconstrained=samples,
        attrs={"burn_in": burn_in, "thin": thin, "friction": friction},
        progress=None if kept == draws else f"{kept} of {draws} draws per chain",
    )
