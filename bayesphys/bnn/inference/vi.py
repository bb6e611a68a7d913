"""Mean-field Gaussian variational inference (Bayes by backprop) on minibatches.

It works on the same flat, unconstrained parameter layout as full-batch HMC (see
:class:`~bayesphys.bnn.posterior.Posterior`), one fit per chain, all chains at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bayesphys.bnn.inference.minibatch import Batcher, full_log_prob
from bayesphys.bnn.inference.warm_start import Adam
from bayesphys.bnn.posterior import Posterior
from bayesphys.core.fit_result import FitResult
from bayesphys.core.progress import progress_bar


def fit_vi(
    post: Posterior,
    init: Tensor,
    *,
    draws: int,
    steps: int,
    batcher: Batcher,
    lr: float,
    generator: torch.Generator,
    progressbar: bool,
    init_sd: float = 0.01,
) -> FitResult:
    """Mean-field Gaussian VI by Bayes by backprop (Blundell et al. 2015), one fit per chain.

    ``q(theta) = N(mu, diag(softplus(rho)^2))`` in the unconstrained layout; each step uses one
    reparameterised draw per chain and minimises the per-datum negative ELBO

        [(n/b) * NLL(batch) - log p(theta) - H(q)] / n,

    i.e. ``(n/b) NLL_batch + KL(q || p)`` divided by ``n``, with the entropy ``H(q)`` exact and
    ``-E_q log p`` (the rest of the KL) estimated by the same draw. The Adam rate ``lr`` is
    held for the first half of the steps and then decays linearly to ``lr / 20``. Independent
    fits from different starts play the role of chains: their draws disagreeing (large R-hat)
    reveals distinct optima.
    """
    mu = init.clone().requires_grad_(True)
    rho0 = float(np.log(np.expm1(init_sd)))
    rho = torch.full_like(init, rho0).requires_grad_(True)
    opt = Adam([mu, rho], lr=lr)
    progress = progress_bar(steps, "vi", disable=not progressbar)
    done = 0
    try:
        for i in range(steps):
            # Adam's steps keep a size ~lr however small the gradient, so with a constant rate
            # mu jitters by ~lr at the end; decaying the rate over the second half removes it.
            opt.lr = lr * min(1.0, max(0.05, 2.0 * (1.0 - i / steps)))
            sd = torch.nn.functional.softplus(rho)
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            theta = mu + sd * eps
            elbo = post.minibatch_log_prob(theta, batcher.next()) + torch.log(sd).sum(-1)
            opt.step(-elbo.sum() / post.n)
            # Checked every step (a few chains x weights, cheap): past the first non-finite
            # value every later step is NaN, and the draws would fail far from the cause.
            if not (bool(torch.isfinite(mu).all()) and bool(torch.isfinite(rho).all())):
                raise RuntimeError(
                    f"vi diverged (non-finite variational parameters at step {i + 1} of "
                    f"{steps}): lower learning_rate (now {lr:g})"
                )
            done += 1
            progress.update(1)
    except KeyboardInterrupt:
        if done == 0:
            raise  # q is still its starting point: nothing to keep
    finally:
        progress.close()
    with torch.no_grad():
        sd = torch.nn.functional.softplus(rho)
        eps = torch.randn((mu.shape[0], draws, mu.shape[1]), generator=generator, dtype=mu.dtype)
        samples = mu.detach().unsqueeze(1) + sd.unsqueeze(1) * eps
    stats = {"lp": full_log_prob(post, samples)}
    progress = None if done == steps else f"the draws of q after {done} of {steps} steps"
    return FitResult(
        sample_stats=stats,
        unconstrained=samples,
        attrs={"optimisation_steps": done, "learning_rate": lr},
        progress=progress,
    )
