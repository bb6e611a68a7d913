"""Closed-form RBF and Matérn covariances with their hyperparameter gradients (MAP fast path).

For a kernel ``outputscale * k(r)`` with ``r^2 = sum_d (x_d - x'_d)^2 / l_d^2`` the derivative
of a weighted sum of the covariance matrix has a closed form: with weights ``G`` (any ``n x n``
matrix) and ``w(r) = -k'(r) / r``,

``d/dl_d sum_ij G_ij K_ij = outputscale / l_d^3 sum_ij G_ij w(r_ij) (x_id - x_jd)^2``,

and ``sum_ij M_ij (x_id - x_jd)^2 = sum_i x_id^2 (M 1)_i + sum_i (M x_d^2)_i - 2 x_d^T M x_d``
needs no ``n x n x p`` array of coordinate differences: one product ``[1, X, X^2]^T M`` serves
every feature. Back-propagating through GPyTorch's
kernel code instead took as long as the Cholesky factorisation itself at n = 2000.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.gp.kernels import RBF, CompiledKernel, Matern

# Smallest log correlation formed: exp(-700) = 1e-304 is still a normal float, and in place of
# an exact zero it changes no sum that matters by more than 1e-300.
MIN_LOG_CORRELATION = -700.0


def matern_correlation(r: torch.Tensor, label: str):
    """Matérn ``k(r)`` from scaled distances ``r``, with ``exp(-c r)`` and ``1 + c r``.

    ``1 + c r`` is returned for nu = 5/2 only (None otherwise), which is what the gradient
    weights need; ``r`` is overwritten for nu = 5/2.
    """
    if label == "matern12":
        k = torch.exp(-r)
        return k, k, None
    c = math.sqrt(3.0) if label == "matern32" else math.sqrt(5.0)
    e = torch.exp(-c * r)
    poly = (c * r).add_(1.0)
    if label == "matern32":
        return poly.mul_(e), e, None
    return r.pow_(2).mul_(5.0 / 3.0).add_(poly).mul_(e), e, poly


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
        self._shift = X.mean(axis=0)
        self.X = torch.as_tensor(X - self._shift)
        # [1, X, X^2]: one product with M gives every sum the lengthscale gradient needs.
        self._basis = torch.cat([torch.ones(len(X), 1, dtype=self.X.dtype), self.X, self.X**2], 1)
        self._basis_t = self._basis.T.contiguous()
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
            # Floored at MIN_LOG_CORRELATION: torch's exp took 10-20 times as long per element
            # for arguments below -708 (subnormal or zero results), which made the exp as costly
            # as the Cholesky factorisation on the benchmark data (a third of the pairs there).
            k = torch.addmm(sq[None, :], Xs, Xs.T, beta=-0.5, out=self._buffer)
            k.sub_(0.5 * sq[:, None]).clamp_(MIN_LOG_CORRELATION, 0.0).exp_()
            return k, k
        r2 = torch.addmm(sq[None, :], Xs, Xs.T, alpha=-2.0, out=self._buffer)
        r2.add_(sq[:, None]).clamp_min_(0.0)
        r2.diagonal().zero_()
        r = r2.sqrt_()
        k, e, poly = matern_correlation(r, self.label)
        if self.label == "matern12":
            # w = exp(-r) / r; on the diagonal (and at duplicates) the squared coordinate
            # differences are zero, so the weight there does not matter: set it to zero.
            w = torch.where(r > 0, k / r.clamp_min(1e-300), torch.zeros((), dtype=r.dtype))
            return k, w
        if self.label == "matern32":
            return k, e.mul_(3.0)
        return k, (5.0 / 3.0) * poly * e

    def cross(self, lengthscale: torch.Tensor, X_new: np.ndarray, outputscale: float) -> np.ndarray:
        """``outputscale * k(r)`` between the training inputs and the rows of ``X_new``, (n, m).

        One product of the augmented inputs ``[x, 1, -|x|^2 / 2]`` and ``[x', -|x'|^2 / 2, 1]``
        gives ``-r^2 / 2`` (plus ``log outputscale`` for the RBF) in one pass over the
        ``n x m`` result: the elementwise passes, not the arithmetic, set the cost at this size.
        """
        Xs = (self.X / lengthscale).numpy()
        Ns = (torch.as_tensor(X_new - self._shift, dtype=self.X.dtype) / lengthscale).numpy()
        log_os = math.log(outputscale) if self.label == "rbf" else 0.0
        left = np.column_stack([Xs, np.ones(len(Xs)), -0.5 * (Xs * Xs).sum(1)])
        right = np.column_stack([Ns, log_os - 0.5 * (Ns * Ns).sum(1), np.ones(len(Ns))])
        arg = torch.from_numpy(left @ right.T)  # -r^2 / 2 (+ log outputscale)
        if self.label == "rbf":
            return arg.clamp_(MIN_LOG_CORRELATION + log_os, log_os).exp_().numpy()
        r = arg.mul_(-2.0).clamp_min_(0.0).sqrt_()
        return matern_correlation(r, self.label)[0].mul_(outputscale).numpy()

    def lengthscale_grad(
        self, M: torch.Tensor, lengthscale: torch.Tensor, outputscale: torch.Tensor
    ) -> torch.Tensor:
        """``d/dl sum_ij G_ij K_ij`` from ``M = G * w`` (elementwise), shaped as ``lengthscale``."""
        p = self.X.shape[1]
        # Column sums, x_d^T M and (x_d^2)^T M, (1 + 2p, n): the product from the left, which
        # ran 3 times faster than M @ basis (n = 519, one thread).
        BM = self._basis_t @ M
        cols, XM, X2M = BM[0], BM[1 : 1 + p], BM[1 + p :]
        # sum_ij M_ij (x_id - x_jd)^2 = sum_j x_jd^2 cols_j + sum_j (x_d^2^T M)_j - 2 x_d^T M x_d
        per_feature = cols @ self._basis[:, 1 + p :] + X2M.sum(1) - 2.0 * (XM * self.X.T).sum(1)
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
