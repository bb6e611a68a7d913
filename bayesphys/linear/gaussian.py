"""Closed-form Gaussian linear-model posteriors and evidences.

Two conjugate models share one linear-algebra core:

* fixed noise: ``y_i ~ N(x_i b, v_i)`` with known ``v_i = sigma^2 + y_err_i^2`` and independent
  ``b_j ~ N(m0_j, 1/prec0_j)``;
* Normal-Inverse-Gamma (NIG): ``y_i ~ N(x_i b, s2)``, ``b | s2 ~ N(m0, s2/prec0)``,
  ``s2 ~ InvGamma(a0, b0)``.

A flat (improper, density 1) intercept is integrated out exactly by weighted centring, which is
also what makes the fits agree with scikit-learn's unpenalised intercept. The evidence then carries
the factor of that integral, so it is comparable between models that share the intercept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.special import gammaln

from bayesphys.core.validation import magnitude_certified

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class GaussianPosterior:
    """Posterior of the slopes ``b`` (and of a flat intercept, when present).

    ``mean`` and the Cholesky factor ``chol`` (lower, of the posterior precision ``prec``) describe
    ``b``; for NIG they are conditional on ``s2`` with precision ``prec / s2``.
    """

    mean: np.ndarray
    chol: np.ndarray
    x_center: np.ndarray | None  # weighted feature means when a flat intercept was centred out
    y_center: float
    weight_sum: float  # sum of weights (1/v_i, or n for NIG)
    quad: float  # y'Wy + m0'P0 m0 - mN'PN mN  (residual quadratic form, centred)
    logdet_prec: float  # log|PN|
    logdet_prec0: float  # log|P0|
    n: int

    @property
    def has_flat_intercept(self) -> bool:
        return self.x_center is not None

    def cov(self) -> np.ndarray:
        """Posterior covariance of ``b`` (NIG: conditional on ``s2 = 1``)."""
        # LAPACK's triangular inverse: scipy's solve_triangular against the identity costs
        # ~1000 times more for p ~ 50 (its per-call overhead, not the arithmetic).
        inv_chol, info = linalg.lapack.dtrtri(self.chol, lower=1)
        if info != 0:
            raise ValueError(f"the posterior precision's Cholesky factor is singular (info={info})")
        return inv_chol.T @ inv_chol

    def intercept_mean(self) -> float:
        return float(self.y_center - self.x_center @ self.mean) if self.has_flat_intercept else 0.0


def gaussian_posterior(
    X,
    y,
    weights,
    prior_mean,
    prior_prec,
    *,
    flat_intercept: bool,
    check_X: Callable[[np.ndarray], None] | None = None,
):
    """Posterior of ``b`` for weighted least squares with independent Normal priors.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    weights : ndarray (n,)
        Inverse noise variances (fixed-noise model) or ones (NIG).
    prior_mean, prior_prec : ndarray (p,)
        Prior means and precisions of the slopes; precisions must be > 0.
    flat_intercept : bool
        Integrate out an intercept with a flat prior.
    check_X : callable, optional
        For an X whose values (finiteness, magnitude) are not validated yet: the Gram matrix
        proves them where it can (:func:`~bayesphys.core.validation.magnitude_certified`),
        which saves two passes over X; where it cannot, ``check_X(X)`` is called and must raise
        the error that names X.
    """
    w = np.asarray(weights, dtype=float)
    if check_X is None:
        prec, xwy, ywy, x_center, y_center = _weighted_moments(X, y, w, flat_intercept)
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # X may hold NaN or inf here
            prec, xwy, ywy, x_center, y_center = _weighted_moments(X, y, w, flat_intercept)
        centre = np.zeros(X.shape[1]) if x_center is None else x_center
        if not magnitude_certified(centre, np.diag(prec), float(w.min()), float(w.sum())):
            check_X(X)
    prec[np.diag_indices_from(prec)] += prior_prec
    rhs = xwy + prior_prec * prior_mean
    chol = _cholesky(prec)
    mean = linalg.cho_solve((chol, True), rhs)
    quad = float(ywy + prior_mean @ (prior_prec * prior_mean) - mean @ rhs)
    return GaussianPosterior(
        mean=mean,
        chol=chol,
        x_center=x_center,
        y_center=y_center,
        weight_sum=float(w.sum()),
        quad=max(quad, 0.0),
        logdet_prec=2.0 * float(np.sum(np.log(np.diag(chol)))),
        logdet_prec0=float(np.sum(np.log(prior_prec))),
        n=len(y),
    )


# Rows per block of the moment accumulation: a block of 50 features is ~0.4 MB, so it stays in
# cache (1024 rows measured fastest) and a fit never copies the whole of X.
_GRAM_BLOCK_ROWS = 1024
# Largest ``n mean^2 / sum (x - mean)^2`` of a column for which equal-weight moments are formed
# from the raw data and centred afterwards (``X'X - n m m'``): the subtraction loses about
# log10 of this many of float64's 16 digits. Past it, the blocked pass centres as it goes.
_MAX_CANCELLATION = 1e3


def _weighted_moments(X, y, w, centre: bool):
    """``(Xc' W Xc, Xc' W yc, yc' W yc, x_mean, y_mean)``, with ``Xc = X - x_mean``,
    ``yc = y - y_mean`` the weighted centring when ``centre`` (else the raw data and
    ``None, 0.0``), in the fewest passes over X that keep the precision of centred sums.
    """
    if np.all(w == w[0]):
        moments = _equal_weight_moments(X, y, float(w[0]), centre)
        if moments is not None:
            return moments
    return _blocked_moments(X, y, w, centre)


def _equal_weight_moments(X, y, weight: float, centre: bool):
    """The moments for equal weights from ``X'X`` (one symmetric BLAS product, the fastest pass
    over X), ``X'y`` and the column sums, centred afterwards; ``None`` where a column's mean is
    so large next to its spread that centring afterwards would lose precision."""
    n = len(y)
    if not centre:
        return weight * (X.T @ X), weight * (X.T @ y), weight * float(y @ y), None, 0.0
    first = X[:_GRAM_BLOCK_ROWS]
    # A look at the first rows skips the raw pass for data far from 0 (years, offsets).
    if np.any(first.mean(axis=0) ** 2 > _MAX_CANCELLATION * first.var(axis=0)):
        return None
    gram = X.T @ X
    x_mean = (np.ones(n) @ X) / n
    gram -= n * np.outer(x_mean, x_mean)
    if np.any(n * x_mean**2 > _MAX_CANCELLATION * np.diag(gram)):  # NaN: no (checked later)
        return None
    y_mean = float(np.mean(y))
    y_c = y - y_mean
    xwy = X.T @ y_c - x_mean * float(np.sum(y_c))  # the sum is round-off, kept for exactness
    return weight * gram, weight * xwy, weight * float(y_c @ y_c), x_mean, y_mean


def _blocked_moments(X, y, w, centre: bool):
    """The moments of :func:`_weighted_moments` in one pass over blocks of rows.

    The sums are taken about the first block's weighted mean and corrected to the exact mean
    at the end (``sum w (x-s)(x-s)' - W d d'``, ``d = mean - s``): ``d`` is small next to the
    spread of the data, so the correction loses no precision, and no (n, p) temporary is made.
    """
    n, p = X.shape
    uniform = bool(np.all(w == w[0]))
    gram, xwy = np.zeros((p, p)), np.zeros(p)
    ywy = sum_y = 0.0
    sum_x = np.zeros(p)
    shift_x, shift_y = np.zeros(p), 0.0
    if centre:
        first = slice(0, _GRAM_BLOCK_ROWS)
        w_first = w[first] / w[first].sum()
        shift_x, shift_y = w_first @ X[first], float(w_first @ y[first])
    for start in range(0, n, _GRAM_BLOCK_ROWS):
        rows = slice(start, start + _GRAM_BLOCK_ROWS)
        Xb, yb = X[rows], y[rows]
        if centre:
            Xb, yb = Xb - shift_x, yb - shift_y
        # Equal weights (no y_err): no weighted copy, one scaling at the end.
        Xwb, ywb = (Xb, yb) if uniform else (Xb * w[rows, None], yb * w[rows])
        gram += Xwb.T @ Xb
        xwy += Xwb.T @ yb
        ywy += float(ywb @ yb)
        if centre:
            sum_x += Xwb.sum(axis=0)
            sum_y += float(ywb.sum())
    if uniform:
        gram *= w[0]
        xwy *= w[0]
        ywy *= float(w[0])
        sum_x *= w[0]
        sum_y *= float(w[0])
    if not centre:
        return gram, xwy, ywy, None, 0.0
    w_sum = float(w.sum())
    dx, dy = sum_x / w_sum, sum_y / w_sum
    gram -= w_sum * np.outer(dx, dx)
    xwy -= w_sum * dx * dy
    ywy -= w_sum * dy * dy
    return gram, xwy, ywy, shift_x + dx, shift_y + dy


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    try:
        return linalg.cholesky(matrix, lower=True)
    except linalg.LinAlgError as exc:
        raise ValueError(
            "the posterior precision matrix is not positive definite: the design matrix is "
            "(numerically) rank deficient and the prior too weak; rescale X or tighten coef_prior"
        ) from exc


def log_evidence_fixed_noise(post: GaussianPosterior, weights: np.ndarray) -> float:
    """log p(y) for the fixed-noise model (weights = 1 / total variance per point)."""
    value = (
        -0.5 * post.n * LOG_2PI
        + 0.5 * float(np.sum(np.log(weights)))
        + 0.5 * post.logdet_prec0
        - 0.5 * post.logdet_prec
        - 0.5 * post.quad
    )
    if post.has_flat_intercept:
        value += 0.5 * LOG_2PI - 0.5 * np.log(post.weight_sum)
    return float(value)


def nig_update(post: GaussianPosterior, a0: float, b0: float) -> tuple[float, float]:
    """Posterior Inverse-Gamma parameters of the noise variance."""
    n_eff = post.n - (1 if post.has_flat_intercept else 0)
    return a0 + 0.5 * n_eff, b0 + 0.5 * post.quad


def log_evidence_nig(post: GaussianPosterior, a0: float, b0: float) -> float:
    """log p(y) for the Normal-Inverse-Gamma model."""
    a_n, b_n = nig_update(post, a0, b0)
    n_eff = post.n - (1 if post.has_flat_intercept else 0)
    value = (
        -0.5 * n_eff * LOG_2PI
        + 0.5 * post.logdet_prec0
        - 0.5 * post.logdet_prec
        + a0 * np.log(b0)
        - a_n * np.log(b_n)
        + gammaln(a_n)
        - gammaln(a0)
    )
    if post.has_flat_intercept:
        value -= 0.5 * np.log(post.weight_sum)
    return float(value)


def draw_coefficients(post: GaussianPosterior, size: int, rng, noise_var=None):
    """Exact posterior draws of (intercept, slopes).

    ``noise_var`` (shape (size,)) scales the covariance for NIG draws; ``None`` for fixed noise.
    Returns ``intercept (size,)`` (zeros when there is none) and ``coef (size, p)``.
    """
    p = len(post.mean)
    z = rng.standard_normal((size, p))
    # b = mean + L^{-T} z has covariance (L L^T)^{-1} = prec^{-1}
    coef = post.mean + linalg.solve_triangular(post.chol, z.T, lower=True, trans="T").T
    scale = np.ones(size) if noise_var is None else np.sqrt(noise_var)
    coef = post.mean + (coef - post.mean) * scale[:, None]
    if not post.has_flat_intercept:
        return np.zeros(size), coef
    intercept_noise = rng.standard_normal(size) * scale / np.sqrt(post.weight_sum)
    intercept = post.y_center - coef @ post.x_center + intercept_noise
    return intercept, coef


def latent_variance(post: GaussianPosterior, X: np.ndarray) -> np.ndarray:
    """Posterior variance of ``f(x) = intercept + x b`` per row (NIG: per unit noise variance)."""
    Xc = X - post.x_center if post.has_flat_intercept else X
    half = linalg.solve_triangular(post.chol, Xc.T, lower=True)
    var = np.sum(half**2, axis=0)
    if post.has_flat_intercept:
        var = var + 1.0 / post.weight_sum
    return var
