"""Predictions of an exact GP at one hyperparameter value or mixed over posterior draws."""

from __future__ import annotations

import numpy as np
import torch

from bayesphys.gp._exact import cholesky
from bayesphys.gp._model import GPModel

# Hyperparameter draws per batch of predictions: bounds the (draws, n, n) temporaries.
MAX_BATCH_ELEMENTS = 20_000_000


class Predictor:
    """Mixture of GP predictives over the rows of ``z`` (one row: a plain GP)."""

    def __init__(self, model: GPModel, z: np.ndarray):
        self.model = model
        self.z = np.ascontiguousarray(z, dtype=np.float64)

    def _batches(self):
        n = self.model.n
        size = max(1, MAX_BATCH_ELEMENTS // max(n * n, 1))
        for start in range(0, len(self.z), size):
            yield self.z[start : start + size]

    def moments(self, X: np.ndarray, *, full_cov: bool, include_noise: bool):
        """Mixture mean ``(m,)`` and variance ``(m,)`` or covariance ``(m, m)``, original units."""
        means, second, noise_sum = [], 0.0, 0.0
        for z in self._batches():
            mean, var, noise = self.model.predict_std(z, X, full_cov=full_cov)
            means.append(mean)
            outer = np.einsum("bi,bj->ij", mean, mean) if full_cov else (mean**2).sum(0)
            second = second + var.sum(0) + outer
            noise_sum += noise.sum()
        means = np.concatenate(means)
        S = len(means)
        mix_mean = means.mean(0)
        # Law of total variance: E[var] + E[mean^2] - E[mean]^2.
        if full_cov:
            cov = second / S - np.outer(mix_mean, mix_mean)
            cov = 0.5 * (cov + cov.T)
            if include_noise:
                cov = cov + np.eye(len(X)) * noise_sum / S
        else:
            cov = np.maximum(second / S - mix_mean**2, 0.0)
            if include_noise:
                cov = cov + noise_sum / S
        return self.model.to_original(X, mix_mean, cov)

    def sample(self, X: np.ndarray, n: int, rng: np.random.Generator, *, include_noise: bool):
        """``n`` joint draws at ``X``, shape ``(m, n)``; each uses a random hyperparameter row."""
        rows = rng.integers(len(self.z), size=n)
        out = np.empty((len(X), n))
        for row in np.unique(rows):
            cols = np.flatnonzero(rows == row)
            mean, cov, noise = self.model.predict_std(self.z[row : row + 1], X, full_cov=True)
            cov = cov[0] + (noise[0] if include_noise else 0.0) * np.eye(len(X))
            L = cholesky(torch.as_tensor(cov[None]), context=" (predictive covariance)")
            eps = rng.standard_normal((len(X), len(cols)))
            draws = mean[0][:, None] + L[0].numpy() @ eps
            s = self.model.space.y_scale
            base, _ = self.model.to_original(X, np.zeros(len(X)), np.zeros(len(X)))
            out[:, cols] = base[:, None] + s * draws
        return out
