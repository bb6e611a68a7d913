"""Input checks shared by every estimator.

Every check raises a ``ValueError`` or ``TypeError`` that names the offending argument and says
how to fix it, so that nothing downstream silently computes with NaN or a wrong shape.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_X_y",
    "check_array",
    "check_choice",
    "check_positive_int",
    "check_progressbar",
    "check_random_state",
    "check_y_err",
]


def check_array(value, name: str, *, ndim: int | None = None, min_rows: int = 1) -> np.ndarray:
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
    """
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
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them")
    return arr


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
    return err


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
