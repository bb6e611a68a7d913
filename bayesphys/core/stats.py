"""``Stats``: the mean of a Monte Carlo series with its honest error bar and mixing diagnostics.

One number type for every Monte Carlo mean (VMC energies first): the mean, its standard error
from the automated blocking analysis (:func:`bayesphys.core.blocking.blocking`), the variance
of the samples, the integrated autocorrelation time, and the split rank-normalised R-hat and
bulk effective sample size as ArviZ defines them (Vehtari, Gelman, Simpson, Carpenter and
Buerkner, Bayesian Analysis 16, 667 (2021)).

A :class:`Stats` *is* its mean (a ``float`` subclass), so code that treated the mean as a
number keeps working (``est.energy - exact``, ``f"{est.energy:.4f}"``), while ``str`` and an
empty format spec print the whole line::

    3.00040 +- 0.00002 [var = 0.0018, R-hat = 1.001]

R-hat and ESS need the ranks of all samples together (a sort of the whole series), which for
1e5 VMC walkers costs more than the sampling; they are computed on first use and cached.

Conventions: a series has shape ``(chains, steps)`` (walkers or walker groups count as chains);
``tau_corr = 1 + 2 sum_t rho_t`` is in steps, so ``error_of_mean^2 = tau_corr variance / n``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from bayesphys.core.blocking import blocking

__all__ = [
    "Stats",
    "ess_bulk",
    "r_hat_rank",
    "r_hat_split",
    "r_hat_split_from_moments",
    "statistics",
]

# Fewest steps per chain and chains for R-hat as ArviZ computes it (NaN below).
_MIN_DRAWS = 4
_MIN_CHAINS_RHAT = 2


class Stats(float):
    """Mean of a Monte Carlo series with its standard error and diagnostics.

    Build one with :func:`statistics` from a series, or directly from known values.

    Parameters
    ----------
    mean : float
        Mean of the series (the value of this float).
    error_of_mean : float
        Standard error of ``mean``.
    variance : float
        Variance of the samples (``1/n`` normalisation, pooled over chains).
    tau_corr : float
        Integrated autocorrelation time in steps (1 for independent samples).
    r_hat, ess : float, optional
        Rank-normalised split R-hat and bulk effective sample size; when not given they are
        computed from ``series`` on first access (NaN without a series).
    series : array_like, optional
        ``(chains, steps)`` samples behind the diagnostics (kept by reference, not copied).

    Attributes
    ----------
    mean, error_of_mean, variance, tau_corr, r_hat, ess : float
        As above. ``r_hat`` is NaN for fewer than 2 chains or 4 steps, as in ArviZ.
    """

    # Instances carry a __dict__ (the lazily computed diagnostics are cached there).

    def __new__(
        cls,
        mean: float,
        error_of_mean: float,
        variance: float,
        tau_corr: float,
        *,
        r_hat: float | None = None,
        ess: float | None = None,
        series: np.ndarray | None = None,
    ) -> Stats:
        self = super().__new__(cls, float(mean))
        self.__dict__.update(
            error_of_mean=float(error_of_mean),
            variance=float(variance),
            tau_corr=float(tau_corr),
            _r_hat=None if r_hat is None else float(r_hat),
            _ess=None if ess is None else float(ess),
            _series=series,
        )
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Stats is immutable: cannot set {name!r}")

    def __reduce__(self):
        # Pickle (Dask, multiprocessing) the computed numbers, not the series.
        return (_rebuild, (float(self), self.error_of_mean, self.variance, self.tau_corr,
                           self.r_hat, self.ess))  # fmt: skip

    @property
    def mean(self) -> float:
        """The mean as a plain float."""
        return float(self)

    @property
    def r_hat(self) -> float:
        """Rank-normalised split R-hat (:func:`r_hat_rank`), computed on first access."""
        if self.__dict__["_r_hat"] is None:
            series = self.__dict__["_series"]
            self.__dict__["_r_hat"] = math.nan if series is None else r_hat_rank(series)
        return self.__dict__["_r_hat"]

    @property
    def ess(self) -> float:
        """Bulk effective sample size (:func:`ess_bulk`), computed on first access."""
        if self.__dict__["_ess"] is None:
            series = self.__dict__["_series"]
            self.__dict__["_ess"] = math.nan if series is None else ess_bulk(series)
        return self.__dict__["_ess"]

    def summary(
        self, extra: str = "", *, rank: bool = True, split_r_hat: float | None = None
    ) -> str:
        """``mean +- error [var = ..., <extra>, R-hat = ...]`` (``extra`` e.g. ``"acc = 0.52"``).

        The mean is printed to the first significant digit of the error (at least 5 decimals).
        ``rank=False`` prints the plain split R-hat (:func:`r_hat_split`) unless the rank one is
        known already: it needs no sort, which for 1e7 samples costs more than a progress bar
        may (the rank R-hat stays available as :attr:`r_hat`). ``split_r_hat``, with
        ``rank=False``, is that split R-hat computed elsewhere (e.g. by
        :func:`r_hat_split_from_moments` from moments summed during the run), so the series is
        not read again.
        """
        digits = _decimals(self.error_of_mean)
        inside = [f"var = {self.variance:.2g}"]
        if extra:
            inside.append(extra)
        r_hat = self.__dict__["_r_hat"]
        if r_hat is None:
            series = self.__dict__["_series"]
            if rank or (series is None and split_r_hat is None):
                r_hat = self.r_hat
            elif split_r_hat is not None:
                r_hat = float(split_r_hat)
            else:
                r_hat = r_hat_split(series)
        if not math.isnan(r_hat):
            inside.append(f"R-hat = {r_hat:.3f}")
        return f"{float(self):.{digits}f} +- {self.error_of_mean:.{digits}f} [{', '.join(inside)}]"

    def __format__(self, spec: str) -> str:
        # An empty spec (f"{stats}") prints the summary; a float spec formats the mean.
        return self.summary() if not spec else float.__format__(float(self), spec)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"Stats({self.summary()})"


def _rebuild(mean, error_of_mean, variance, tau_corr, r_hat, ess) -> Stats:
    return Stats(mean, error_of_mean, variance, tau_corr, r_hat=r_hat, ess=ess)


def _decimals(error: float) -> int:
    """Decimals that show the first significant digit of ``error`` (at least 5)."""
    if not math.isfinite(error) or error <= 0:
        return 5
    return max(5, -math.floor(math.log10(error)))


def _as_chains(x: object) -> np.ndarray:
    """``x`` as float64 ``(chains, steps)``; a 1-d series is one chain."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"series must have shape (steps,) or (chains, steps), got {arr.shape}")
    return arr


def statistics(series: object) -> Stats:
    """:class:`Stats` of a ``(chains, steps)`` (or ``(steps,)``) series.

    Parameters
    ----------
    series : array_like or torch.Tensor
        Samples, one row per chain (walker, walker group), at least 16 finite steps per row.

    Returns
    -------
    Stats
        Mean, blocking standard error, variance and ``tau_corr`` (see
        :func:`~bayesphys.core.blocking.blocking`); R-hat and ESS on first access.

    Raises
    ------
    ValueError
        If a chain has fewer than 16 steps or the series holds NaN or infinite values.
    """
    arr = _as_chains(series)
    block = blocking(arr)
    return Stats(block.mean, block.stderr, block.variance, block.tau, series=arr)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks ``1..n`` of the flattened ``x``, ties given their average rank.

    One ``argsort`` and linear passes (``scipy.stats.rankdata`` is several times slower on
    1e7 values); Metropolis series are full of exact ties (a rejected move repeats the value).
    """
    flat = x.ravel()
    order = np.argsort(flat)
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], flat.size]  # one past the last position of each tie group
    average = 0.5 * (starts + ends + 1)  # mean of the ranks starts+1 .. ends
    ranks = np.empty(flat.size)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks.reshape(x.shape)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise: normal quantiles of the Blom-offset ranks ``(r - 3/8) / (n + 1/4)``."""
    return ndtri((_ranks(x) - 0.375) / (x.size + 0.25))


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain cut into its first and last half (the middle step dropped when odd)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def _gelman_rubin(x: np.ndarray) -> float:
    """``sqrt((n - 1)/n + B/(n W))``: between-chain variance ``B`` over within-chain ``W``."""
    return _gelman_rubin_of(x.shape[1], np.mean(x, axis=1), np.var(x, axis=1, ddof=1))


def _gelman_rubin_of(n: int, means: np.ndarray, variances: np.ndarray) -> float:
    """:func:`_gelman_rubin` from the chains' length, means and (ddof=1) variances."""
    within = float(np.mean(variances))
    between = n * float(np.var(means, ddof=1))
    if within == 0.0:  # constant chains (an exact eigenstate): 0/0, NaN as in ArviZ
        return math.inf if between > 0.0 else math.nan
    return math.sqrt((between / within + n - 1) / n)


def _valid(x: np.ndarray, min_chains: int) -> bool:
    return x.shape[0] >= min_chains and x.shape[1] >= _MIN_DRAWS and bool(np.isfinite(x).all())


def r_hat_split(series: object) -> float:
    """Split R-hat without rank normalisation (ArviZ ``rhat(method="split")``)."""
    x = _as_chains(series)
    if not _valid(x, _MIN_CHAINS_RHAT):
        return math.nan
    # The halves' moments from views: no copy of the series (a VMC run's 1e7 local energies
    # arrive as a transposed view, which _split would copy).
    half = x.shape[1] // 2
    halves = (x[:, :half], x[:, x.shape[1] - half :])
    means = np.concatenate([h.mean(axis=1) for h in halves])
    variances = np.concatenate([h.var(axis=1, ddof=1) for h in halves])
    return _gelman_rubin_of(half, means, variances)


def r_hat_split_from_moments(n_half: int, means: object, variances: object) -> float:
    """Split R-hat (:func:`r_hat_split`) from the half-chains' moments instead of the series.

    Parameters
    ----------
    n_half : int
        Steps in each half-chain (``steps // 2``; the middle step of an odd series is not in
        either half).
    means, variances : array_like
        Mean and variance (``ddof=1``) of every half-chain, both halves of every chain in any
        order (``2 * chains`` values each), e.g. from running sums kept while sampling.

    Returns
    -------
    float
        Equal to :func:`r_hat_split` of the series up to round-off; NaN under the same
        conditions (fewer than 2 chains, fewer than 4 steps, non-finite moments).
    """
    means = np.asarray(means, dtype=np.float64).ravel()
    variances = np.asarray(variances, dtype=np.float64).ravel()
    if means.shape != variances.shape:
        raise ValueError(f"means ({means.size}) and variances ({variances.size}) differ in length")
    valid = means.size >= 2 * _MIN_CHAINS_RHAT and 2 * n_half >= _MIN_DRAWS
    if not valid or not (np.isfinite(means).all() and np.isfinite(variances).all()):
        return math.nan
    return _gelman_rubin_of(n_half, means, variances)


def r_hat_rank(series: object) -> float:
    """Rank-normalised split R-hat, the larger of bulk and folded (ArviZ's default ``rhat``).

    NaN for fewer than 2 chains or 4 steps or non-finite values.
    """
    x = _as_chains(series)
    if not _valid(x, _MIN_CHAINS_RHAT):
        return math.nan
    halves = _split(x)
    bulk = _gelman_rubin(_z_scale(halves))
    tail = _gelman_rubin(_z_scale(np.abs(halves - np.median(halves))))
    return max(bulk, tail)


def ess_bulk(series: object) -> float:
    """Bulk effective sample size: ESS of the rank-normalised split chains (ArviZ's ``ess``).

    Autocorrelations are averaged over chains and summed with Geyer's initial monotone
    sequence (Vehtari et al. 2021). NaN for fewer than 4 steps or non-finite values.
    """
    x = _as_chains(series)
    if not _valid(x, 1):
        return math.nan
    return _ess(_z_scale(_split(x)))


def _ess(x: np.ndarray) -> float:
    """Effective sample size of the chains ``x`` (Geyer's initial monotone sequence)."""
    if np.ptp(x) < np.finfo(float).resolution:
        return float(x.size)
    chains, n = x.shape
    centred = x - x.mean(axis=1, keepdims=True)
    n_fft = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=n_fft, axis=1)
    # Autocovariance averaged over chains, biased (1/n) as in the paper.
    autocov = np.fft.irfft((spectrum * spectrum.conj()).real.mean(axis=0), n=n_fft)[:n] / n
    within = autocov[0] * n / (n - 1)
    var_plus = autocov[0]
    if chains > 1:
        var_plus += float(np.var(x.mean(axis=1), ddof=1))
    rho = 1.0 - (within - autocov) / var_plus
    rho[0] = 1.0
    kept = np.zeros(n)
    kept[0], kept[1] = 1.0, rho[1]
    # Initial positive sequence: sum pairs (rho_{2k}, rho_{2k+1}) while their sum is positive.
    t, even, odd = 1, 1.0, rho[1]
    while t < n - 3 and even + odd > 0.0:
        even, odd = rho[t + 1], rho[t + 2]
        if even + odd >= 0.0:
            kept[t + 1], kept[t + 2] = even, odd
        t += 2
    last = t - 2
    if even > 0.0:  # the paper's refinement: keep the last positive even lag
        kept[last + 1] = even
    # Initial monotone sequence: pair sums may not increase.
    for t in range(1, last - 1, 2):
        if kept[t + 1] + kept[t + 2] > kept[t - 1] + kept[t]:
            kept[t + 1] = kept[t + 2] = 0.5 * (kept[t - 1] + kept[t])
    total = chains * n
    tau = -1.0 + 2.0 * kept[: last + 1].sum() + kept[last + 1 : last + 2].sum()
    tau = max(tau, 1.0 / math.log10(total))
    return float(total / tau)
