"""The one interrupt policy of every sampler, optimiser and estimator.

A run stopped by Ctrl-C (``KeyboardInterrupt``) returns what it has completed, *marked*: its
result carries ``interrupted=True`` (estimators: ``interrupted_``; InferenceData: the
``interrupted`` attribute on every group, with ``interrupted_progress`` saying how far it got),
and an :class:`InterruptedRunWarning` names how far it got. A run with nothing complete to
return re-raises ``KeyboardInterrupt``. Nothing downstream may treat a marked result as
complete: :func:`is_interrupted` is the one test.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = [
    "INTERRUPTED_ATTR",
    "InterruptedRunWarning",
    "interrupted_attrs",
    "is_interrupted",
    "warn_interrupted",
]

INTERRUPTED_ATTR = "interrupted"
PROGRESS_ATTR = "interrupted_progress"


class InterruptedRunWarning(RuntimeWarning):
    """A run was interrupted and returned partial (marked) results."""


def warn_interrupted(what: str, progress: str, stacklevel: int = 3) -> None:
    """Warn that ``what`` was interrupted after ``progress`` (e.g. "40 of 100 draws per chain").

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_interrupted("NUTS", "40 of 100 draws per chain")
    >>> str(caught[0].message)
    'NUTS interrupted: keeping 40 of 100 draws per chain; the result is marked interrupted'
    """
    warnings.warn(
        f"{what} interrupted: keeping {progress}; the result is marked interrupted",
        InterruptedRunWarning,
        stacklevel=stacklevel,
    )


def interrupted_attrs(progress: str | None) -> dict[str, Any]:
    """InferenceData attributes of a run: empty if complete, else the interrupt marks.

    ``progress`` is ``None`` for a complete run, else how far it got.
    """
    if progress is None:
        return {}
    return {INTERRUPTED_ATTR: 1, PROGRESS_ATTR: str(progress)}


def is_interrupted(result: Any) -> bool:
    """Whether a result (InferenceData, estimator, sampler/VMC result or attrs) is marked.

    Examples
    --------
    >>> is_interrupted({"interrupted": 1})
    True
    >>> is_interrupted({})
    False
    """
    groups = getattr(result, "groups", None)
    if callable(groups):  # InferenceData (itself a Mapping of groups): marked on any group
        return any(bool(result[g].attrs.get(INTERRUPTED_ATTR, 0)) for g in groups())
    if isinstance(result, Mapping):
        return bool(result.get(INTERRUPTED_ATTR, 0))
    for name in ("interrupted_", "interrupted"):
        value = getattr(result, name, None)
        if isinstance(value, bool):
            return value
    attrs = getattr(result, "attrs", None)
    return isinstance(attrs, Mapping) and bool(attrs.get(INTERRUPTED_ATTR, 0))
