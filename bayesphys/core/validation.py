"""Input checks shared by every estimator.

Every check raises a ``ValueError`` or ``TypeError`` that names the offending argument and says
how to fix it, so that nothing downstream silently computes with NaN or a wrong shape.
"""

from __future__ import annotations

import numbers
import re
from contextlib import contextmanager

import numpy as np

__all__ = [
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "check_X_y",
    "check_array",
    "check_bool",
    "check_choice",
    "check_magnitude",
    "check_positive_int",
    "check_progressbar",
    "check_random_state",
    "check_y_err",
    "is_complex",
    "magnitude_certified",
    "naming_argument",
]

#: Largest magnitude accepted in data (X, y, y_err). The fits form squares, sums of squares and
#: products of these values (X^T X, kernel distances, variances); past about 1e154 a square
#: overflows float64 and the answer becomes inf or NaN. 1e100 leaves room for sums over many
#: rows and for products of two such terms, and is far beyond any physical unit system's need.
MAX_MAGNITUDE = 1e100
#: Smallest largest-magnitude accepted: data whose every value is below this (but not all zero)
#: have squares that underflow to 0, so noise and scale estimates collapse.
MIN_MAGNITUDE = 1e-100


def check_array(
    value, name: str, *, ndim: int | None = None, min_rows: int = 1, allow_inf: bool = False
) -> np.ndarray:
    """Convert ``value`` to a finite float64 array, or raise naming ``name``.

    Parameters
    ----------
    value : array_like
        The input.
    name : str
        Argument name used in error messages.
    ndim : int, optional
        Required number of dimensions.
    min_rows : int
        Minimum length of the first axis.
    allow_inf : bool
        Accept infinite values (NaN is always refused), e.g. points where a density is zero.
    """
    if is_complex(value):
        # float64 conversion would drop the imaginary part with only a ComplexWarning.
        raise TypeError(f"{name} must be real-valued, got complex values")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric array-like, got {type(value).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        hint = (
            f"; use {name}.reshape(-1, 1) for a single feature"
            if ndim == 2 and arr.ndim == 1
            else ""
        )
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}{hint}")
    if arr.ndim >= 1 and arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} row(s), got shape {arr.shape}")
    if allow_inf:
        if np.any(np.isnan(arr)):
            raise ValueError(f"{name} contains {int(np.sum(np.isnan(arr)))} NaN value(s)")
    elif not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them")
    return arr


def is_complex(value) -> bool:
    """Whether ``value`` converts to a complex array (ragged or odd input: False, so that the
    conversion that follows reports it)."""
    try:
        return bool(np.iscomplexobj(value))
    except (TypeError, ValueError):
        return False


def check_y_err(y_err, n: int) -> np.ndarray | None:
    """Validate known per-point measurement errors (standard deviations), or pass ``None``."""
    if y_err is None:
        return None
    err = check_array(y_err, "y_err")
    if err.ndim == 0:
        err = np.full(n, float(err))
    if err.shape != (n,):
        raise ValueError(f"y_err must have shape ({n},) like y, got {err.shape}")
    if np.any(err <= 0):
        raise ValueError(
            "y_err must be > 0 (standard deviations of the measurement errors); "
            f"got {int(np.sum(err <= 0))} value(s) <= 0"
        )
    # Each error enters squared (y_err**2 + sigma**2): every one must keep a normal square.
    if np.any(err > MAX_MAGNITUDE) or np.any(err < MIN_MAGNITUDE):
        raise ValueError(
            f"y_err holds values from {err.min():.3g} to {err.max():.3g}; each must lie in "
            f"[{MIN_MAGNITUDE:.0e}, {MAX_MAGNITUDE:.0e}], where its square is a normal float64: "
            "rescale y and y_err together (change units)"
        )
    return err


def check_magnitude(arr: np.ndarray, name: str, *, tiny: bool = True) -> None:
    """Raise if a finite data array is too large (or, with ``tiny``, too small) for float64.

    Parameters
    ----------
    arr : ndarray
        Finite values (1-D, or 2-D with one column per feature).
    name : str
        Argument name used in error messages.
    tiny : bool
        Also reject data (a 2-D array: a column) whose largest magnitude is nonzero but below
        ``MIN_MAGNITUDE``. Training data need this; prediction inputs near 0 are harmless.

    Raises
    ------
    ValueError
        Naming ``name`` (and the column) with a rescaling hint.
    """
    if arr.size == 0:
        return
    # Per column of a 2-D array; max/min instead of abs() avoid a temporary copy of the data.
    largest = np.maximum(np.max(arr, axis=0), -np.min(arr, axis=0))
    huge = largest > MAX_MAGNITUDE
    if np.any(huge):
        raise ValueError(
            f"{name}{_column(huge)} has values up to {float(np.max(largest)):.3g} in "
            f"magnitude; beyond {MAX_MAGNITUDE:.0e} the squares and sums the fit forms overflow "
            f"float64 (inf or NaN results): rescale {name} (change units, or divide by a "
            "typical value such as its standard deviation) and scale the results back"
        )
    small = (largest > 0) & (largest < MIN_MAGNITUDE)
    if tiny and np.any(small):
        raise ValueError(
            f"{name}{_column(small)} has no value larger than "
            f"{float(np.max(np.where(small, largest, 0.0))):.3g} in magnitude; below "
            f"{MIN_MAGNITUDE:.0e} the squares the fit forms underflow to 0 (noise and scale "
            f"estimates collapse): rescale {name} (change units, or divide by its largest "
            "magnitude) and scale the results back"
        )


def magnitude_certified(
    centre: np.ndarray, spread: np.ndarray, weight_min: float, weight_sum: float
) -> bool:
    """Whether weighted column moments prove that a data matrix passes ``check_magnitude``.

    The moments of one pass over the data (a Gram matrix, formed by a fit anyway) bound every
    column's largest magnitude ``c_j`` without another pass:
    ``max(|a_j|, sqrt(S_j / W)) <= c_j <= |a_j| + sqrt(S_j / w_min)``, where
    ``S_j = sum_i w_i (x_ij - a_j)^2`` is taken about the weighted mean ``a_j`` (or about
    ``a_j = 0``), ``W`` is the sum of the weights and ``w_min`` the smallest one. A NaN or an
    infinity anywhere in column ``j`` makes ``S_j`` non-finite, and so does a value whose square
    overflows, so finite moments within the bounds also prove the data finite.

    ``False`` (a NaN, an infinity, or a bound too close to the limits to decide) says nothing
    is proved: the caller then runs the exact checks, whose errors name the argument and say
    what is wrong. Columns of zeros are never certified (their bounds cannot tell them from
    underflowing ones), which only costs that exact check.

    Parameters
    ----------
    centre : ndarray (p,)
        The weighted column means ``a_j``, or zeros for moments about 0.
    spread : ndarray (p,)
        ``S_j``, the diagonal of the weighted Gram matrix about ``centre``.
    weight_min, weight_sum : float
        Smallest weight and the sum of the weights (``1`` and ``n`` unweighted).

    Returns
    -------
    bool
        True when every column is finite with a largest magnitude in
        ``[MIN_MAGNITUDE, MAX_MAGNITUDE]`` (with a factor 2 to spare for round-off).
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        centre = np.abs(np.asarray(centre, dtype=np.float64))
        spread = np.asarray(spread, dtype=np.float64)
        upper = centre + np.sqrt(spread / weight_min)
        lower = np.maximum(centre, np.sqrt(spread / weight_sum))
        # Written so that NaN compares False: nothing non-finite is certified.
        inside = (upper <= 0.5 * MAX_MAGNITUDE) & (lower >= 2.0 * MIN_MAGNITUDE)
    return bool(np.all(inside)) and bool(np.isfinite(weight_min) and weight_min > 0)


def _column(flags) -> str:
    """`` (column j)`` for the first flagged column of a multi-column array, else ``""``."""
    if np.ndim(flags) == 0 or np.size(flags) == 1:
        return ""
    return f" (column {int(np.argmax(flags))})"


def check_bool(value, name: str) -> bool:
    """Return ``value`` as a bool if it is True or False (numpy bools too), else raise.

    Strings such as ``"no"`` are truthy, and ``0``/``None`` may be typos for another
    parameter: a flag must be a real bool.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


@contextmanager
def naming_argument(name: str):
    """Re-raise a ValueError/TypeError from inside the block with ``name`` in its message.

    scikit-learn's and numpy's conversion errors ("could not convert string to float",
    "Complex data not supported", "Expected 2D array") do not say which argument failed; the
    prefix ``"{name}: "`` does, unless the message names it already. The exception type and
    the original message are kept (scikit-learn's estimator checks match on them).
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message):
            raise
        raise type(exc)(f"{name}: {message}") from exc


def check_X_y(X, y, y_err=None, *, min_samples: int = 1):
    """Validate a design matrix, targets and optional measurement errors.

    Returns
    -------
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
    y_err : ndarray of shape (n,) or None
    """
    X = check_array(X, "X", ndim=2, min_rows=min_samples)
    y = check_array(y, "y", min_rows=min_samples)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D with one target per row of X, got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of rows: {X.shape[0]} and {y.shape[0]}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns (features)")
    return X, y, check_y_err(y_err, X.shape[0])


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``."""
    # numbers.Integral admits numpy integers; bool is an int subclass but never a valid count.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_random_state(seed, name: str = "random_state") -> np.random.Generator:
    """Turn None, an int, a SeedSequence or a Generator into a ``numpy.random.Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool | np.bool_):  # an int subclass, but never meant as a seed
        raise TypeError(f"{name} must be None, an int seed or a numpy Generator, got {seed!r}")
    if isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"{name} must be a non-negative int seed, got {seed}")
    if seed is None or isinstance(seed, numbers.Integral | np.random.SeedSequence):
        return np.random.default_rng(seed)
    raise TypeError(
        f"{name} must be None, an int, a SeedSequence or a numpy Generator, "
        f"got {type(seed).__name__}"
    )


def check_progressbar(progressbar, default: bool = True) -> bool:
    """The one progress-bar rule: ``None`` gives ``default`` (on for Monte Carlo runs, off for
    closed forms and deterministic optimisers); otherwise it must be True or False."""
    if progressbar is None:
        return default
    if not isinstance(progressbar, bool):
        raise TypeError(f"progressbar must be True, False or None, got {progressbar!r}")
    return progressbar
