"""Inducing inputs for the sparse GPs: initial placement and differentiable cross-covariances."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.cluster.vq import kmeans2

from bayesphys.gp.kernels import RBF, Matern
from bayesphys.gp.linalg import cholesky_or_none
from bayesphys.gp.model import GPModel

# Points k-means sees: more only slows it down without moving the centres much.
KMEANS_SUBSET = 20_000
# Relative jitter on K_mm: inducing inputs that drift close together make it near-singular.
KMM_JITTER = 1e-8
INDUCING_INITS = ("kmeans", "random")


def select_inducing(X: np.ndarray, m: int, how: str, rng: np.random.Generator) -> np.ndarray:
    """``m`` inducing inputs: k-means centres (on features scaled to unit spread) or a subset."""
    n = len(X)
    if m >= n:
        return X.copy()
    if how == "random":
        return X[np.sort(rng.choice(n, m, replace=False))].copy()
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    pts = X[rng.choice(n, min(n, KMEANS_SUBSET), replace=False)] / scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty clusters are refilled below
        centres, labels = kmeans2(pts, m, minit="++", seed=rng, iter=20)
    empty = np.setdiff1d(np.arange(m), labels)
    if len(empty):
        centres[empty] = pts[rng.choice(len(pts), len(empty), replace=False)]
    return centres * scale


class CrossKernel:
    """Covariances between inducing inputs and data, differentiable in both and in ``std``.

    A lone RBF or Matérn kernel is evaluated by plain torch code, whose backward pass over the
    ``(m, n)`` matrix is a few elementwise passes (GPyTorch's took several times longer at
    n = 50 000); other kernels go through the model's GPyTorch kernels.
    """

    def __init__(self, model: GPModel):
        self.model = model
        spec = model.kernel.spec
        self.label = None
        if isinstance(spec, RBF | Matern) and set(model.kernel.params) == {
            "outputscale",
            "lengthscale",
        }:
            self.label = "rbf" if isinstance(spec, RBF) else spec.label
        # Centring limits the cancellation in |a|^2 + |b|^2 - 2 a.b (as GPyTorch does).
        self.centre = torch.as_tensor(model.X_np.mean(axis=0))

    def __call__(self, std: dict, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """``k(A, B)`` of shape ``(len(A), len(B))`` for hyperparameters ``std`` (batch 1)."""
        if self.label is None:
            return self.model.kernel(std, A, B)[0]
        ls, os = std["lengthscale"][0], std["outputscale"][0, 0]
        As, Bs = (A - self.centre) / ls, (B - self.centre) / ls
        r2 = (As * As).sum(1)[:, None] + (Bs * Bs).sum(1)[None, :] - 2.0 * As @ Bs.T
        if self.label == "rbf":
            return os * torch.exp(-0.5 * r2.clamp_min(0.0))
        # The clamp keeps the gradient of the square root finite where points coincide.
        r = r2.clamp_min(1e-30).sqrt()
        if self.label == "matern12":
            return os * torch.exp(-r)
        if self.label == "matern32":
            c = math.sqrt(3.0)
            return os * (1.0 + c * r) * torch.exp(-c * r)
        c = math.sqrt(5.0)
        return os * (1.0 + c * r + (5.0 / 3.0) * r * r) * torch.exp(-c * r)

    def diag(self, std: dict, A: torch.Tensor) -> torch.Tensor:
        """``k(a, a)`` for every row of ``A``."""
        if self.label is None:
            return self.model.kernel(std, A, diag=True)[0]
        return std["outputscale"][0, 0].expand(A.shape[0])


def inducing_cholesky(Kmm: torch.Tensor) -> torch.Tensor | None:
    """Cholesky factor of ``K_mm`` with the relative jitter (escalated if needed), or None."""
    eye = torch.eye(Kmm.shape[0], dtype=Kmm.dtype)
    Kmm = Kmm + KMM_JITTER * Kmm.diagonal().mean() * eye
    L, ok = cholesky_or_none(Kmm[None])
    return L[0] if bool(ok[0]) else None
