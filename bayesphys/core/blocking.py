"""Standard error of the mean of a correlated series: automated blocking and Sokal's tau.

The blocking method (Flyvbjerg & Petersen 1989) repeatedly replaces a series by the averages of
neighbouring pairs. Once blocks are longer than the correlation time, the block means are
independent and their sample variance divided by the number of blocks is the variance of the
mean. Jonsson, Phys. Rev. E 98, 043304 (2018) turns the choice of that level into a hypothesis
test: with ``n_k`` blocks at level ``k``, sample variance ``s_k^2`` (``1/n_k`` normalisation) and
lag-1 sample autocovariance ``gamma_k = (1/n_k) sum_i (X_i - mean)(X_{i+1} - mean)``,

    M_j = sum_{k=j}^{L-1} n_k * ((n_k - 1) s_k^2 / n_k^2 + gamma_k)^2 / s_k^4

is approximately chi-square with ``L - j`` degrees of freedom when the blocks from level ``j`` on
are uncorrelated (``-(n_k - 1) s_k^2 / n_k^2`` is the bias of ``gamma_k`` for independent data,
so the bracket is centred). The chosen level is the first ``j`` with ``M_j <= q_{L-j}(1 - alpha)``.

Small-sample bias and its correction. The test sums the evidence of all levels from ``j`` up,
so in short series it accepts levels whose neighbouring block means are still correlated: for
an AR(1) series with ``tau = 10`` and ``n = 2048`` it stops at blocks of 16 in ~90 % of runs,
where adjacent block means correlate by ~0.2, and ``s_k^2 / n_k`` is then ~15 % low in the
standard error (measured over 400 seeded series; ArviZ's MCSE is unbiased there). The blocks
are long enough that only *adjacent* block means still correlate (the covariance of blocks
``l`` apart decays like ``rho_{(l-1) 2^k}``), so the estimate at the chosen level keeps the
lag-1 term that plain blocking drops:

    Var(mean) = (s_k^2 + 2 n_k gamma_k / (n_k - 1)) / (n_k - 3),

which is exactly unbiased for independent blocks (``E s_k^2 = (n_k - 1) sigma^2 / n_k``,
``E gamma_k = -(n_k - 1) sigma^2 / n_k^2``) and removes the leading ``O(tau / 2^k)`` bias for
correlated ones (AR(1), ``tau = 10``, ``n = 2048``: mean ratio to the exact error 1.01). The
classic per-level estimates ``s_k^2 / (n_k - 1)`` remain in ``stderr_by_level`` for plots.

Several chains (e.g. VMC walkers) are pooled: the test statistic and its degrees of freedom are
summed over chains, so one level is chosen with the power of all chains together, and the
variance of the grand mean is ``sum_c Var(mean_c) / chains^2`` at that level.

Frozen chains. A chain whose every value is the same (a sampler that never accepted a move)
has no within-chain variance, so the pooled estimate above would count it as exactly known,
and chains that are *all* frozen at different values would give ``stderr = 0``. When some chain
is constant while the chains differ, the chains are not sampling one distribution ergodically:
:func:`blocking` then warns and reports ``stderr = max(pooled estimate, std(chain means) /
sqrt(chains))``, the scatter of the independent chains' means, which stays honest whatever
the correlation time (one frozen chain alone is a constant series: ``stderr = 0``).

Conventions used throughout this module:

- Non-power-of-two lengths: at a level of odd length the *last* element is dropped before
  pairing, so every level uses as much of the data as possible. The variance of the mean of all
  ``n`` samples is then ``v_k * 2^k / n`` with ``v_k`` the variance estimate of one block mean
  (times ``n_k`` for the lag-corrected form), which reduces to the formulas above when ``n`` is
  a power of two.
- Integrated autocorrelation time ``tau = 1 + 2 sum_{t>=1} rho_t`` (1 for independent samples), so
  ``stderr^2 = tau * variance / n`` and ``ess = n / tau = variance / stderr^2``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["BlockingResult", "autocorrelation_time", "blocking"]

MIN_SAMPLES = 16  # 2^4: fewer than four levels leave the chi-square test no room to reject
_MIN_BLOCKS = 16  # fewer blocks at the chosen level: stderr itself uncertain by > ~20 %


@dataclass(frozen=True, eq=False)
class BlockingResult:
    """Outcome of :func:`blocking`.

    Attributes
    ----------
    mean : float
        Mean of the series (grand mean over chains).
    stderr : float
        Estimated standard error of ``mean`` (lag-corrected estimate at ``level``).
    variance : float
        Variance of the raw samples (``1/n`` normalisation; pooled over chains).
    n : int
        Number of samples (all chains).
    level : int
        Chosen blocking level (block length ``2**level``), common to all chains.
    n_levels : int
        Number of blocking levels computed (``floor(log2(n_chain))``).
    tau : float
        Integrated autocorrelation time ``n * stderr^2 / variance`` (1 for independent samples).
    ess : float
        Effective sample size ``variance / stderr^2 = n / tau``.
    stderr_by_level : numpy.ndarray
        Classic blocking estimate ``s_k^2 / (n_k - 1)`` (pooled over chains) at every level,
        shape ``(n_levels,)``, for plots; its plateau approaches ``stderr`` from below.
    n_chains : int
        Number of independent chains combined.
    level_found : bool
        False when no level passed the test or the chosen level had fewer than 16 blocks in
        all chains together (or fewer than 4 per chain): the series is too short for its
        correlation time.
    frozen_chains : int
        Chains whose every value is the same while the chains differ (module notes); when
        > 0, ``stderr`` includes the scatter of the chain means.
    """

    mean: float
    stderr: float
    variance: float
    n: int
    level: int
    n_levels: int
    tau: float
    ess: float
    stderr_by_level: np.ndarray
    n_chains: int = 1
    level_found: bool = True
    frozen_chains: int = 0


def _as_series(x: object, axis: int, what: str, *, check_finite: bool = True) -> np.ndarray:
    """Validate and return ``x`` as float64 of shape (chains, n), time on the last axis."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{what}: expected shape (n,) or (chains, n), got {arr.shape}")
    arr = np.moveaxis(arr, axis, -1) if arr.ndim == 2 else arr
    arr = np.atleast_2d(arr)
    if arr.shape[0] == 0:
        raise ValueError(f"{what}: got zero chains")
    if arr.shape[1] < MIN_SAMPLES:
        raise ValueError(
            f"{what} needs at least {MIN_SAMPLES} samples per chain, got {arr.shape[1]}: the "
            "automated level choice is a chi-square test summed over log2(n) blocking levels "
            "and needs at least 4 of them to say anything about the correlations"
        )
    if check_finite:
        _check_finite(arr, what)
    return arr


def _check_finite(arr: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: input contains NaN or infinite values")


def _levels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks, variance and lag-1 autocovariance at every level, for chains ``(chains, n)``.

    Returns ``sizes`` ``(L,)`` and ``s2``, ``gamma`` of shape ``(chains, L)``.
    """
    sizes, variances, gammas = [], [], []
    y = x - x[:, :1]  # a large common offset would otherwise cost precision in the differences
    while y.shape[1] >= 2:
        m = y.shape[1]
        dev = y - y.mean(axis=1, keepdims=True)
        sizes.append(m)
        variances.append(np.einsum("ij,ij->i", dev, dev) / m)
        gammas.append(np.einsum("ij,ij->i", dev[:, :-1], dev[:, 1:]) / m)
        if m % 2:
            y = y[:, :-1]
        y = 0.5 * (y[:, 0::2] + y[:, 1::2])
    return np.asarray(sizes), np.stack(variances, 1), np.stack(gammas, 1)


_CHUNK = 4096  # chains per pass: bounds the scratch memory for e.g. 1e5 VMC walkers


def _n_levels(n: int) -> int:
    """Number of blocking levels of a series of ``n`` values (down to 2 blocks)."""
    levels = 0
    while n >= 2:
        n, levels = n // 2, levels + 1
    return levels


def _chain_levels_numpy(x: np.ndarray):
    """Per chain of ``(chains, n)``: the level statistics of :func:`_levels`, the largest
    distance from the first value and the mean relative to it (numpy)."""
    sizes, s2, gamma = _levels(x)
    relative = x - x[:, :1]
    return sizes, s2, gamma, np.max(np.abs(relative), axis=1), relative.mean(axis=1)


def _compiled_chain_levels():
    """The numba version of :func:`_chain_levels_numpy`, one pass per chain (or ``None``
    without numba): 1e5 VMC walkers' series are blocked in about the time numpy takes to copy
    them, reading any strides (the walker-major view of a step-major record)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    # Serial on purpose: a numba parallel region leaves OpenMP threads spinning that slow the
    # torch threads of whatever runs next (measured 2.7x on the torch VMC step).
    @numba.njit(cache=True, nogil=True)
    def chain_levels(x, n_levels):  # pragma: no cover - compiled
        chains, n = x.shape
        sizes = np.empty(n_levels, np.int64)
        m = n
        for level in range(n_levels):
            sizes[level] = m
            m = (m - m % 2) // 2
        s2 = np.empty((chains, n_levels))
        gamma = np.empty((chains, n_levels))
        scale = np.empty(chains)
        centre = np.empty(chains)
        for c in range(chains):
            y = np.empty(n)
            first = x[c, 0]
            largest = 0.0
            for t in range(n):
                y[t] = x[c, t] - first
                largest = max(largest, abs(y[t]))
            scale[c] = largest
            m = n
            for level in range(n_levels):
                total = 0.0
                for t in range(m):
                    total += y[t]
                mean = total / m
                if level == 0:
                    centre[c] = mean
                squares = 0.0
                lagged = 0.0
                previous = y[0] - mean
                squares += previous * previous
                for t in range(1, m):
                    dev = y[t] - mean
                    squares += dev * dev
                    lagged += previous * dev
                    previous = dev
                s2[c, level] = squares / m
                gamma[c, level] = lagged / m
                half = m // 2
                for t in range(half):
                    y[t] = 0.5 * (y[2 * t] + y[2 * t + 1])
                m = half
        return sizes, s2, gamma, scale, centre

    return chain_levels


_COMPILED_LEVELS = None
# Below this many chains numpy's vectorised levels are as fast and need no compiled code.
_COMPILED_MIN_CHAINS = 512


def _chain_levels(x: np.ndarray):
    """Level statistics of every chain: compiled for many chains, numpy otherwise."""
    global _COMPILED_LEVELS
    if x.shape[0] >= _COMPILED_MIN_CHAINS:
        if _COMPILED_LEVELS is None:
            _COMPILED_LEVELS = _compiled_chain_levels() or False
        if _COMPILED_LEVELS:
            return _COMPILED_LEVELS(x, _n_levels(x.shape[1]))
    return _chain_levels_numpy(x)


def _pooled_sums(series: np.ndarray) -> dict[str, np.ndarray]:
    """Per-level sums over chains of the test terms and of both variance estimates."""
    n = series.shape[1]
    out: dict[str, np.ndarray] = {}
    compiled = series.shape[0] >= _COMPILED_MIN_CHAINS
    step = series.shape[0] if compiled else _CHUNK  # the compiled pass needs no scratch copy
    # Per chain: level-0 variance, mean relative to the first value, largest distance from it.
    within, centres, spans = [], [], []
    for start in range(0, series.shape[0], step):
        x = series[start : start + step]
        sizes, s2, gamma, scale, centre = _chain_levels(x)
        within.append(s2[:, 0])
        centres.append(x[:, 0] + centre)
        spans.append(scale)
        # Block means equal up to rounding (e.g. an alternating series) show no correlation;
        # their variance is round-off, and dividing by it would make the statistic noise.
        scale = scale[:, None]
        positive = s2 > (64 * np.finfo(float).eps * scale) ** 2
        safe_s2 = np.where(positive, s2, 1.0)
        centred = (sizes - 1) * s2 / sizes**2 + gamma
        terms = np.where(positive, sizes * centred**2 / safe_s2**2, 0.0)
        s2 = np.where(positive, s2, 0.0)
        gamma = np.where(positive, gamma, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            classic = s2 * sizes / (sizes - 1)
            corrected = sizes * (s2 + 2.0 * sizes * gamma / (sizes - 1)) / (sizes - 3)
        # Below 4 blocks the lag-1 form is undefined; the classic estimate stands in.
        corrected = np.where(sizes >= 4, corrected, classic)
        chunk = {
            "terms": terms.sum(0),
            "dof": positive.sum(0),
            "classic": classic.sum(0),
            "corrected": corrected.sum(0),
        }
        for key, value in chunk.items():
            out[key] = out.get(key, 0) + value
    out["sizes"] = sizes
    out["scale"] = 2.0 ** np.arange(sizes.size) / n  # block-mean variance -> variance of mean
    out["within"], out["chain_means"] = np.concatenate(within), np.concatenate(centres)
    out["spans"] = np.concatenate(spans)
    return out


def _mean_and_variance(series: np.ndarray, sums: dict) -> tuple[float, float, float]:
    """First value, mean relative to it and pooled ``1/n`` variance, from the chains' means and
    level-0 variances (within + between chains; every chain has ``n`` values).

    Relative to the first value a constant series is exact zeros, so its variance is exactly 0.
    """
    offset = float(series[0, 0])
    relative = sums["chain_means"] - offset
    mean = float(relative.mean())
    between = float(np.mean((relative - mean) ** 2))
    return offset, mean, float(sums["within"].mean()) + between


def blocking(x: object, *, axis: int = -1, alpha: float = 0.01) -> BlockingResult:
    """Standard error of the mean of a correlated series by automated blocking (Jonsson 2018).

    Parameters
    ----------
    x : array_like or torch.Tensor
        Series of shape ``(n,)``, or ``(chains, n)`` for independent chains of equal length
        (e.g. VMC walkers). Needs ``n >= 16`` finite values per chain.
    axis : int, default -1
        Time axis of a 2-D input (the other axis indexes chains).
    alpha : float, default 0.01
        Significance level of the chi-square test that picks the blocking level.

    Returns
    -------
    BlockingResult
        Several chains are combined as the mean of the chain means. They share one blocking
        level, chosen by the test statistic summed over chains (chi-square with the summed
        degrees of freedom), and ``stderr^2 = sum_c Var(mean_c) / chains^2`` at that level.
        Pooling the per-chain series keeps the test's power growing with the number of
        chains; blocking the chain-averaged series instead would test with ``n`` samples
        only and stop at too short blocks.

    Raises
    ------
    ValueError
        If a chain has fewer than 16 samples, or ``x`` contains NaN or infinite values.

    Warns
    -----
    RuntimeWarning
        If no level passes the test or the chosen level has fewer than 16 blocks (over all
        chains): the series is too short compared with its autocorrelation time and the
        standard error is unreliable. Also if some chains are frozen (constant while the
        chains differ); ``stderr`` then includes the scatter of the chain means.

    Notes
    -----
    The standard error keeps the lag-1 autocovariance of the block means at the chosen level
    (module notes): without it blocking is ~15 % low for ``n / tau ~ 200``. A constant series
    (e.g. local energies of an exact eigenstate) gives ``stderr = 0``, ``variance = 0``,
    ``tau = 1`` and ``ess = n``, without warnings.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"blocking: alpha must be in (0, 1), got {alpha}")
    # Finiteness is checked on the per-chain sums (a NaN or inf anywhere makes its chain's
    # variance non-finite); the pass over every value runs only when one is.
    series = _as_series(x, axis, "blocking", check_finite=False)
    n_chains = series.shape[0]
    sums = _pooled_sums(series)
    if not (np.isfinite(sums["within"]).all() and np.isfinite(sums["chain_means"]).all()):
        _check_finite(series, "blocking")
    sizes, n_levels = sums["sizes"], sums["sizes"].size
    statistic = np.cumsum(sums["terms"][::-1])[::-1]
    dof = np.cumsum(sums["dof"][::-1])[::-1]
    quantiles = stats.chi2.ppf(1.0 - alpha, df=np.maximum(dof, 1))
    passed = np.flatnonzero((statistic <= quantiles) | (dof == 0))
    level = int(passed[0]) if passed.size else n_levels - 1
    stderr_by_level = np.sqrt(sums["classic"] * sums["scale"]) / n_chains
    # A negative lag-corrected sum (strongly anticorrelated blocks) means an error below
    # resolution: zero, as for an exactly alternating series.
    stderr = float(np.sqrt(max(sums["corrected"][level], 0.0) * sums["scale"][level]) / n_chains)
    blocks = sizes[level]
    level_found = passed.size > 0 and n_chains * blocks >= _MIN_BLOCKS and blocks >= 4
    if not level_found:
        warnings.warn(
            "blocking: the series is too short compared with its autocorrelation time (no "
            "blocking level with at least 16 uncorrelated blocks); the standard error is "
            "unreliable and probably underestimated",
            RuntimeWarning,
            stacklevel=2,
        )
    n = series.size
    offset, mean, variance = _mean_and_variance(series, sums)
    frozen = 0
    if variance > 0.0 and n_chains > 1:
        frozen = int(np.count_nonzero(sums["spans"] == 0.0))
        if frozen:
            means = series.mean(axis=1)
            between = float(np.std(means - means[0], ddof=1) / np.sqrt(n_chains))
            stderr = max(stderr, between)
            warnings.warn(
                f"blocking: {frozen} of {n_chains} chains are constant while the chains "
                "differ (frozen chains, e.g. a sampler that never accepts); the standard "
                "error includes the scatter of the chain means, and the chains have not "
                "sampled one distribution",
                RuntimeWarning,
                stacklevel=2,
            )
    if variance == 0.0:
        tau, ess = 1.0, float(n)
    elif stderr == 0.0:  # perfectly anticorrelated blocks: the mean is exact at this precision
        tau, ess = 0.0, float("inf")
    else:
        tau = n * stderr**2 / variance
        ess = variance / stderr**2
    return BlockingResult(
        mean=offset + mean,
        stderr=stderr,
        variance=variance,
        n=n,
        level=level,
        n_levels=n_levels,
        tau=float(tau),
        ess=float(ess),
        stderr_by_level=stderr_by_level,
        n_chains=n_chains,
        level_found=level_found,
        frozen_chains=frozen,
    )


def autocorrelation_time(x: object, *, axis: int = -1, c: float = 5.0) -> float:
    """Integrated autocorrelation time with Sokal's automatic window.

    The normalised autocorrelation ``rho_t`` is computed by FFT (zero-padded, so not circular)
    and, for several chains, averaged over chains before normalising. The estimate is
    ``tau(M) = 1 + 2 sum_{t=1}^{M} rho_t`` at the smallest window ``M >= c * tau(M)``.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Series of shape ``(n,)`` or ``(chains, n)``, at least 16 finite values per chain.
    axis : int, default -1
        Time axis of a 2-D input.
    c : float, default 5.0
        Window constant; larger is less biased but noisier. Sokal recommends 4 to 10.

    Returns
    -------
    float
        ``tau`` in the convention ``1 + 2 sum rho_t`` (1 for independent samples), so that the
        effective sample size is ``n / tau``. A constant series returns 1.0.

    Warns
    -----
    RuntimeWarning
        If no window satisfies ``M >= c * tau(M)`` (series too short); the estimate at the
        largest window is returned.
    """
    if c <= 0:
        raise ValueError(f"autocorrelation_time: c must be > 0, got {c}")
    series = _as_series(x, axis, "autocorrelation_time")
    n = series.shape[1]
    if np.all(series == series[:, :1]):
        return 1.0
    shifted = series - series[:, :1]  # as in _levels: keep precision under a large offset
    centred = shifted - shifted.mean(axis=1, keepdims=True)
    n_fft = 1 << (2 * n - 1).bit_length()  # zero padding to >= 2n removes the circular wrap
    spectrum = np.fft.rfft(centred, n=n_fft, axis=1)
    autocov = np.fft.irfft(spectrum * spectrum.conj(), n=n_fft, axis=1)[:, :n].mean(axis=0)
    if autocov[0] <= 0.0:
        return 1.0
    tau_by_window = 2.0 * np.cumsum(autocov / autocov[0]) - 1.0
    ok = np.flatnonzero(np.arange(n) >= c * tau_by_window)
    if ok.size == 0:
        warnings.warn(
            "autocorrelation_time: no window M >= c * tau(M) exists; the series is too short "
            "and the estimate is unreliable",
            RuntimeWarning,
            stacklevel=2,
        )
        return float(tau_by_window[-1])
    return float(tau_by_window[ok[0]])
