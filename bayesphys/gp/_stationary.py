"""Closed-form RBF and Matérn covariances with their hyperparameter gradients (MAP fast path).

For a kernel ``outputscale * k(r)`` with ``r^2 = sum_d (x_d - x'_d)^2 / l_d^2`` the derivative
of a weighted sum of the covariance matrix has a closed form: with weights ``G`` (any ``n x n``
matrix) and ``w(r) = -k'(r) / r``,

``d/dl_d sum_ij G_ij K_ij = outputscale / l_d^3 sum_ij G_ij w(r_ij) (x_id - x_jd)^2``,

and ``sum_ij M_ij (x_id - x_jd)^2 = sum_i x_id^2 (M 1)_i + sum_i (M x_d^2)_i - 2 x_d^T M x_d``
needs no ``n x n x p`` array of coordinate differences: one product ``M @ [1, X, X^2]`` serves
every feature. Back-propagating through GPyTorch's
kernel code instead took as long as the Cholesky factorisation itself at n = 2000.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.gp.kernels import RBF, CompiledKernel, Matern


class StationaryTerm:
    """``outputscale * k(r)`` on fixed training inputs: one RBF or Matérn kernel, alone.

    Parameters
    ----------
    label : {"rbf", "matern12", "matern32", "matern52"}
    X : ndarray (n, p)
    """

    def __init__(self, label: str, X: np.ndarray):
        self.label = label
        # Centring (as GPyTorch does) limits the cancellation in |x|^2 + |x'|^2 - 2 x.x'.
        self.X = torch.as_tensor(X - X.mean(axis=0))
        # [1, X, X^2]: one product M @ basis gives every sum the lengthscale gradient needs.
        self._basis = torch.cat([torch.ones(len(X), 1, dtype=self.X.dtype), self.X, self.X**2], 1)
        # Reused between calls: a fresh n x n allocation is returned to the OS when freed, and
        # touching its pages again cost as much as the arithmetic on it.
        self._buffer = torch.empty(len(X), len(X), dtype=self.X.dtype)

    def correlation(self, lengthscale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``k(r)`` and the gradient weights ``w(r)``, both ``(n, n)``.

        ``lengthscale`` has shape ``(size,)`` with size 1 or p. For the RBF ``w = k`` and the
        same tensor is returned twice. The RBF's ``k`` lives in a buffer that the next call
        overwrites.
        """
        Xs = self.X / lengthscale
        sq = (Xs * Xs).sum(1)
        if self.label == "rbf":
            # -r^2 / 2 directly, then exp in place: two passes fewer than forming r^2 first.
            k = torch.addmm(sq[None, :], Xs, Xs.T, beta=-0.5, out=self._buffer)
            k.sub_(0.5 * sq[:, None]).clamp_max_(0.0).exp_()
            return k, k
        r2 = torch.addmm(sq[None, :], Xs, Xs.T, alpha=-2.0, out=self._buffer)
        r2.add_(sq[:, None]).clamp_min_(0.0)
        r2.diagonal().zero_()
        r = r2.sqrt_()
        if self.label == "matern12":
            k = torch.exp(-r)
            # w = exp(-r) / r; on the diagonal (and at duplicates) the squared coordinate
            # differences are zero, so the weight there does not matter: set it to zero.
            w = torch.where(r > 0, k / r.clamp_min(1e-300), torch.zeros((), dtype=r.dtype))
            return k, w
        if self.label == "matern32":
            c = math.sqrt(3.0)
            e = torch.exp(-c * r)
            k = (c * r).add_(1.0).mul_(e)
            return k, e.mul_(3.0)
        c = math.sqrt(5.0)
        e = torch.exp(-c * r)
        poly = (c * r).add_(1.0)
        w = (5.0 / 3.0) * poly * e
        k = r.pow_(2).mul_(5.0 / 3.0).add_(poly).mul_(e)
        return k, w

    def lengthscale_grad(
        self, M: torch.Tensor, lengthscale: torch.Tensor, outputscale: torch.Tensor
    ) -> torch.Tensor:
        """``d/dl sum_ij G_ij K_ij`` from ``M = G * w`` (elementwise), shaped as ``lengthscale``."""
        p = self.X.shape[1]
        MB = M @ self._basis  # (n, 1 + 2p): row sums, M x_d, M x_d^2
        rows, MX, MX2 = MB[:, 0], MB[:, 1 : 1 + p], MB[:, 1 + p :]
        # sum_ij M_ij (x_id - x_jd)^2 = sum_i x_id^2 rows_i + sum_i (M x_d^2)_i - 2 x_d^T M x_d
        per_feature = rows @ self._basis[:, 1 + p :] + MX2.sum(0) - 2.0 * (self.X * MX).sum(0)
        per_feature = per_feature * outputscale / lengthscale**3
        if lengthscale.numel() == 1:
            return per_feature.sum().reshape(1)
        return per_feature


def fast_term(kernel: CompiledKernel, X: np.ndarray) -> StationaryTerm | None:
    """A :class:`StationaryTerm` when the kernel is one RBF or Matérn (with its outputscale)."""
    spec = kernel.spec
    if not isinstance(spec, RBF | Matern) or set(kernel.params) != {"outputscale", "lengthscale"}:
        return None
    label = "rbf" if isinstance(spec, RBF) else spec.label
    return StationaryTerm(label, X)
