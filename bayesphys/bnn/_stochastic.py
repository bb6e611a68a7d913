"""Minibatch inference: scale-adapted SGHMC and mean-field variational inference.

Both work on the same flat, unconstrained parameter layout as full-batch HMC (see
``_posterior``) and on all chains at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from bayesphys.bnn._fitting import Adam, Batcher, Fit
from bayesphys.bnn._posterior import Posterior

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
) -> Fit:
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
    progress = tqdm(total=total, disable=not progressbar, desc="sghmc")
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
        "lp": _full_log_prob(post, samples),
        "step_size": np.full((n_chains, kept), lr),
    }
    return Fit(
        samples,
        stats,
        {"burn_in": burn_in, "thin": thin, "friction": friction},
        None if kept == draws else f"{kept} of {draws} draws per chain",
    )


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
) -> Fit:
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
    progress = tqdm(total=steps, disable=not progressbar, desc="vi")
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
    stats = {"lp": _full_log_prob(post, samples)}
    progress = None if done == steps else f"the draws of q after {done} of {steps} steps"
    return Fit(samples, stats, {"optimisation_steps": done, "learning_rate": lr}, progress)


def _full_log_prob(post: Posterior, samples: Tensor) -> np.ndarray:
    """Full-batch log posterior of every kept draw ``(chains, draws)``, in chunks of draws."""
    n_chains, n_draws, dim = samples.shape
    flat = samples.reshape(-1, dim)
    with torch.no_grad():
        out = [post.log_prob(chunk) for chunk in torch.split(flat, 512)]
    return torch.cat(out).reshape(n_chains, n_draws).cpu().numpy()
