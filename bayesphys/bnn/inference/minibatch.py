"""Minibatches of the training data, per chain, for SGHMC, VI and the warm start."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bayesphys.bnn.posterior import Posterior


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


def full_log_prob(post: Posterior, samples: Tensor) -> np.ndarray:
    """Full-batch log posterior of every kept draw ``(chains, draws)``, in chunks of draws.

    The minibatch methods record it as ``sample_stats["lp"]``, as the full-batch samplers do.
    """
    n_chains, n_draws, dim = samples.shape
    flat = samples.reshape(-1, dim)
    with torch.no_grad():
        out = [post.log_prob(chunk) for chunk in torch.split(flat, 512)]
    return torch.cat(out).reshape(n_chains, n_draws).cpu().numpy()
