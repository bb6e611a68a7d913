"""Starting values of a fit: random weights, hyper/noise parameters, then a short Adam run."""

from __future__ import annotations

import torch
from torch import Tensor

from bayesphys.bnn.inference.minibatch import Batcher
from bayesphys.bnn.posterior import Posterior

#: Adam steps of the warm start (fewer for short runs, see ``groups.run``).
WARM_START_STEPS = 300


class Adam:
    """Minimal Adam (Kingma & Ba 2015) on a list of leaf tensors.

    ``torch.optim.Adam`` imports ``torch._dynamo`` on first use, a large one-off import cost;
    this update rule is all the warm start and VI need.
    """

    def __init__(self, params: list[Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, loss: Tensor) -> None:
        """One descent step on ``loss``."""
        grads = torch.autograd.grad(loss, self.params)
        self.t += 1
        b1, b2 = self.betas
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat = m / (1 - b1**self.t)
                v_hat = v / (1 - b2**self.t)
                p.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))


def initial_values(post: Posterior, n_chains: int, generator: torch.Generator) -> Tensor:
    """Random starting weights, then the hyper- and noise parameters: ``(chains, dim)``."""
    weights = post.net.init(n_chains, generator, torch.float64)
    return torch.cat([weights, extra_init(post, n_chains)], 1)


def extra_init(post: Posterior, chains: int) -> Tensor:
    """Starting values of the hyper- and noise parameters (unconstrained)."""
    cols = [torch.zeros(chains, post.n_hyper, dtype=torch.float64)]  # tau = 1
    for name, prior in post.free.items():
        start = {"sigma": 0.5 * post.y_scale, "variance": (0.5 * post.y_scale) ** 2}.get(name, 4.0)
        z = prior.transform.inverse(torch.tensor(start, dtype=torch.float64))
        if prior.support == "interval" or not bool(torch.isfinite(z)):
            z = torch.tensor(0.0, dtype=torch.float64)
        cols.append(z.expand(chains, 1))
    return torch.cat(cols, dim=1)


def warm_start(
    post: Posterior, theta: Tensor, *, steps: int, batcher: Batcher, lr: float = 0.02
) -> Tensor:
    """A few Adam steps on the (minibatch) log posterior of every chain from ``theta``.

    Chains started at random weights spend most of HMC's tuning just finding the data; a short
    optimisation moves each chain (from its own random start, so they still explore different
    modes) near a mode first. It only sets the starting point: sampling remains exact.
    """
    theta = theta.clone().requires_grad_(True)
    opt = Adam([theta], lr=lr)
    for _ in range(steps):
        opt.step(-post.minibatch_log_prob(theta, batcher.next()).sum() / post.n)
    out = theta.detach()
    if not bool(torch.isfinite(post.log_prob(out)).all()):
        raise RuntimeError("warm start diverged; try smaller inputs or another random_state")
    return out
