"""The GP's linear algebra in float64: jittered Cholesky (torch, and in place by LAPACK), log
marginal likelihood, predictive moments, leave-one-out densities.

Everything is batched over a leading axis of hyperparameter values (chains or draws) and works
on standardised targets; callers convert to original units.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from scipy.linalg import lapack

MAX_JITTER_TRIES = 6
# First jitter, relative to the mean diagonal; each further try multiplies it by 10, so the
# largest is 1e-4 of the signal-plus-noise variance, beyond which the fit would be distorted.
BASE_JITTER = 1e-10


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Run the block with subnormal floats flushed to zero on this thread (torch and LAPACK).

    Far-apart inputs give correlations far below 1e-300 (the RBF's are floored at
    ``exp(-700)``); the Cholesky factorisation multiplies such entries into subnormal numbers,
    on which x86 arithmetic falls back to microcode: at the posterior mode of a 500-point
    parity class of the nuclear-mass residuals flushing made one LAPACK evidence evaluation
    several times faster (benchmarks/README.md). Flushing changes entries by less than
    ``2.3e-308`` in absolute value. The mode is per thread and restored afterwards; LAPACK
    threads other than the calling one keep theirs (the GP's default is one BLAS thread).
    """
    before = _flushing()
    if before or not torch.set_flush_denormal(True):  # already on, or not supported
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _flushing() -> bool:
    # torch has no getter: a subnormal input reads as zero when the mode is on.
    return float(torch.tensor(5e-324, dtype=torch.float64) * 1.0) == 0.0


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """The covariance matrix stays non-positive-definite after the largest jitter."""


def _jittered(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Cholesky with escalating jitter on the failed batch elements.

    Returns ``(L, ok, jitter)``: elements still failing after the last try are replaced by the
    identity (so that ``L`` and its gradients stay finite) and flagged in ``ok``; ``jitter`` is
    the largest relative jitter used (0 if none).
    """
    L, info = torch.linalg.cholesky_ex(K)
    failed = info > 0
    if not bool(failed.any()):
        return L, ~failed, 0.0
    scale = torch.diagonal(K, dim1=-2, dim2=-1).mean(-1).abs().detach().clamp_min(1e-300)
    eye = torch.eye(K.shape[-1], dtype=K.dtype)
    added = torch.zeros_like(scale)
    jitter = BASE_JITTER
    for _ in range(MAX_JITTER_TRIES):
        added = torch.where(failed, jitter * scale, added)
        L, info = torch.linalg.cholesky_ex(K + added[:, None, None] * eye)
        failed = info > 0
        if not bool(failed.any()):
            return L, ~failed, jitter
        jitter *= 10.0
    safe = torch.where(failed[:, None, None], eye.expand_as(K), K + added[:, None, None] * eye)
    return torch.linalg.cholesky(safe), ~failed, jitter / 10.0


def cholesky(K: torch.Tensor, *, warn: bool = True, context: str = "") -> torch.Tensor:
    """Lower Cholesky factor of a batch of matrices, adding diagonal jitter where needed.

    Parameters
    ----------
    K : Tensor (batch, n, n)
    warn : bool
        Issue a ``RuntimeWarning`` when jitter is added.
    context : str
        Appended to the messages (which matrix it is).

    Returns
    -------
    Tensor (batch, n, n)

    Raises
    ------
    NotPositiveDefiniteError
        If a matrix is not positive definite even with ``1e-4`` times its mean diagonal added.
    """
    L, ok, jitter = _jittered(K)
    if not bool(ok.all()):
        raise NotPositiveDefiniteError(
            f"covariance matrix not positive definite even after adding jitter "
            f"{jitter:.0e} x its mean diagonal{context}; the kernel or its hyperparameters "
            "give an invalid covariance: check the kernel, set a noise > 0 (or y_err), or "
            "remove duplicate inputs"
        )
    if jitter and warn:
        warnings.warn(
            f"covariance matrix not positive definite: added jitter {jitter:.0e} x its mean "
            f"diagonal{context}; consider a larger noise or removing duplicate inputs",
            RuntimeWarning,
            stacklevel=3,
        )
    return L


def psd_factor(cov: np.ndarray) -> np.ndarray:
    """``A`` with ``A A^T = cov`` for a symmetric positive semi-definite ``cov``.

    The Cholesky factor when it exists; else (a singular matrix, e.g. repeated inputs, a dense
    grid of new inputs, or a prior draw with a very long lengthscale) the eigen-decomposition
    with negative rounding eigenvalues clipped to zero. No jitter and no warning: the draws are
    exact either way.
    """
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(0.5 * (cov + cov.T))
        return V * np.sqrt(np.clip(w, 0.0, None))


def cholesky_or_none(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Jittered Cholesky without warnings or errors: ``(L, ok)`` with ``ok`` per element.

    For samplers and optimisers, which treat a failure as zero density instead of an error.
    """
    L, ok, _ = _jittered(K)
    return L, ok


class _GaussianEvidence(torch.autograd.Function):
    """``log N(r | 0, K)`` given the Cholesky factor ``L`` of ``K``, with an analytic backward.

    The gradient ``d/dK = (alpha alpha^T - K^{-1}) / 2`` costs one ``cholesky_inverse``; torch's
    generic Cholesky backward was five times the forward pass (measured at n = 1000).
    """

    @staticmethod
    def forward(ctx, K, r, L):
        alpha = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)
        log_det = torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        n = r.shape[-1]
        ctx.save_for_backward(L, alpha)
        return -0.5 * (r * alpha).sum(-1) - log_det - 0.5 * n * math.log(2 * math.pi)

    @staticmethod
    def backward(ctx, grad):
        L, alpha = ctx.saved_tensors
        grad_K = grad_r = None
        if ctx.needs_input_grad[0]:
            outer = alpha.unsqueeze(-1) * alpha.unsqueeze(-2)
            grad_K = 0.5 * (outer - torch.cholesky_inverse(L)) * grad[:, None, None]
        if ctx.needs_input_grad[1]:
            grad_r = -alpha * grad[:, None]
        return grad_K, grad_r, None


def log_marginal(K: torch.Tensor, r: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``log N(r | 0, K)`` per batch element, differentiable in ``K`` and ``r``.

    ``L`` is the (possibly jittered) Cholesky factor of ``K``, computed without gradients; the
    jitter is treated as a constant.
    """
    return _GaussianEvidence.apply(K, r, L.detach())


def solve(L: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``alpha = (L L^T)^{-1} r`` for a batch."""
    return torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)


def predict_moments(
    L: torch.Tensor,
    alpha: torch.Tensor,
    K_cross: torch.Tensor,
    k_diag: torch.Tensor,
    *,
    K_test: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent predictive mean ``(batch, m)`` and variance ``(batch, m)`` or covariance.

    ``K_cross`` is ``(batch, n, m)``; with ``K_test`` ``(batch, m, m)`` the full covariance is
    returned instead of the variance.
    """
    mean = torch.einsum("bnm,bn->bm", K_cross, alpha)
    v = torch.linalg.solve_triangular(L, K_cross, upper=False)
    if K_test is not None:
        return mean, K_test - v.transpose(-1, -2) @ v
    return mean, (k_diag - (v**2).sum(-2)).clamp_min(0.0)


def loo_log_predictive(L: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``log p(r_i | r_{-i})`` for every point (Rasmussen & Williams eq. 5.10-5.12).

    These conditional densities are the pointwise log-likelihood to store for PSIS-LOO of a
    non-factorising Gaussian model (Bürkner, Gabry & Vehtari 2021).
    """
    eye = torch.eye(L.shape[-1], dtype=L.dtype).expand_as(L)
    K_inv_diag = torch.diagonal(torch.cholesky_solve(eye, L), dim1=-2, dim2=-1)
    return loo_from_inverse_diagonal(alpha, K_inv_diag)


def loo_from_inverse_diagonal(alpha: torch.Tensor, K_inv_diag: torch.Tensor) -> torch.Tensor:
    """:func:`loo_log_predictive` from ``alpha = K^{-1} r`` and the diagonal of ``K^{-1}``."""
    var = 1.0 / K_inv_diag
    resid = alpha / K_inv_diag  # r_i - E[r_i | r_{-i}]
    return -0.5 * (torch.log(2 * math.pi * var) + resid**2 / var)


def lapack_cholesky(build) -> tuple[np.ndarray | None, float]:
    """In-place Cholesky of the matrix ``build(jitter)`` returns, adding jitter when needed.

    Returns the factor (an F-ordered array whose lower triangle is ``L``) or None if even the
    largest jitter fails, and the relative jitter used.
    """
    jitter = 0.0
    for attempt in range(MAX_JITTER_TRIES + 1):
        A = build(jitter)
        # A is symmetric and C-ordered, so its transpose is the same matrix in Fortran order:
        # LAPACK then works in place, without a copy.
        c, info = lapack.dpotrf(A.T, lower=1, clean=0, overwrite_a=1)
        if info == 0:
            return c, jitter
        jitter = BASE_JITTER * 10.0**attempt
    return None, jitter
