"""Shared pieces of the BNN fits: minibatching, warm start and full-batch HMC/NUTS via the core."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from bayesphys.bnn._posterior import Posterior
from bayesphys.core import inference
from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.core.samplers import HMC, NUTS, sample

# NUTS tree depth for BNNs: the library default is 10 (Stan/PyMC), i.e. up to 1023 leapfrog
# steps (full passes over the data) per transition. BNN posteriors are badly conditioned even in
# the adapted diagonal metric, so NUTS trees usually reach any cap; on the 1-10-1 network of
# benchmarks/bnn.py (n = 50) the median ESS per CPU second of f(x) was 1.8 / 3.3 / 2.2 with caps
# 6 / 7 / 8 (4 chains, 200 + 200 iterations), and a cap bounds the cost of the lockstep of all
# chains, which waits for the deepest tree. The tests and the benchmark pass
# NUTS(max_treedepth=7) for that reason, and docs/bnn.md recommends it; fit_hmc honours the cap
# of the method object, whatever it is.


@dataclass
class Fit:
    """Draws ``(chains, draws, dim)`` (unconstrained layout) and per-draw statistics.

    ``progress`` is ``None`` for a complete run, else how far a run stopped by Ctrl-C got
    (e.g. "25 of 40 draws per chain"): its draws are what it completed.
    """

    samples: Tensor
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, object] = field(default_factory=dict)
    progress: str | None = None


class Batcher:
    """Per-chain minibatch indices, drawn without replacement epoch by epoch.

    Each chain walks through its own random permutation of the data, so that the chains'
    gradient noise is independent and every point is used once per epoch.
    """

    def __init__(self, n: int, batch_size: int, n_chains: int, generator: torch.Generator):
        self.n, self.b, self.n_chains, self.generator = n, min(batch_size, n), n_chains, generator
        self._perm = np.empty((n_chains, 0), dtype=np.int64)
        self._pos = 0

    def next(self) -> np.ndarray | None:
        """Indices ``(chains, batch_size)``; ``None`` when the batch is the whole data set."""
        if self.b >= self.n:
            return None
        if self._pos + self.b > self._perm.shape[1]:
            keys = torch.rand((self.n_chains, self.n), generator=self.generator)
            self._perm = torch.argsort(keys, dim=1).numpy()
            self._pos = 0
        idx = self._perm[:, self._pos : self._pos + self.b]
        self._pos += self.b
        return idx


class Adam:
    """Minimal Adam (Kingma & Ba 2015) on a list of leaf tensors.

    ``torch.optim.Adam`` imports ``torch._dynamo`` on first use, which takes seconds; this
    update rule is all the warm start and VI need.
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


def fit_hmc(
    post: Posterior,
    init: Tensor,
    *,
    method: inference.HMC | inference.NUTS,
    seed: int,
    progressbar: bool,
) -> Fit:
    """Full-batch HMC or NUTS with the core vectorised samplers (all chains in one ``log_prob``).

    :class:`~bayesphys.inference.HMC`: static HMC with a mean of ``n_leapfrog`` leapfrog steps
    per transition, jittered by +-50 %. :class:`~bayesphys.inference.NUTS`: the No-U-Turn
    sampler (:class:`~bayesphys.core.samplers.NUTS`) with trees capped at ``max_treedepth``.
    Both adapt the step size (dual averaging towards ``target_accept``) and a diagonal mass
    matrix during ``tune``.
    """
    if isinstance(method, inference.HMC):
        kernel = HMC(n_leapfrog=method.n_leapfrog, target_accept=method.target_accept)
    elif isinstance(method, inference.NUTS):
        kernel = NUTS(max_treedepth=method.max_treedepth, target_accept=method.target_accept)
    else:
        raise ValueError(f"method must be HMC or NUTS, got {method!r}")
    with warnings.catch_warnings():
        # The estimator warns once over all chain groups (bayesphys.bnn._run.concatenate).
        warnings.simplefilter("ignore", InterruptedRunWarning)
        # Ctrl-C before the first draw re-raises KeyboardInterrupt: nothing to keep.
        result = sample(
            post.log_prob,
            init,
            method=kernel,
            draws=method.draws,
            tune=method.tune,
            thin=1,
            random_state=seed,
            progressbar=progressbar,
            compute_convergence_checks=False,  # once over all chain groups, by the estimator
        )
    stats = result.sample_stats()
    return Fit(result.samples, stats, {"tuning_steps": result.tune}, result.progress)
