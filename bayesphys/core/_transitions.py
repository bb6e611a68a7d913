"""Warnings about MCMC transitions: divergences and NUTS trees cut at the maximum depth.

NumPy only, so that :mod:`bayesphys.core.results` can report them without importing torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

__all__ = ["transition_warnings", "warn_transitions"]


def transition_warnings(stats: Mapping[str, np.ndarray]) -> list[str]:
    """Messages on divergent transitions and trees cut at the maximum depth, if any.

    ``stats`` holds per-draw statistics ``(chains, draws)`` after tuning, as
    :meth:`SamplerResult.sample_stats` returns them (``diverging``, optionally
    ``reached_max_treedepth`` and ``tree_depth``).
    """
    messages = []
    diverging = np.asarray(stats.get("diverging", False), dtype=bool)
    if diverging.any():
        chains = int(diverging.any(axis=-1).sum()) if diverging.ndim == 2 else 1
        messages.append(
            f"{int(diverging.sum())} of {diverging.size} transitions after tuning diverged "
            f"(in {chains} of {len(diverging)} chains): the draws may miss part of the "
            "posterior; raise target_accept (e.g. 0.95) or reparametrise"
        )
    reached = np.asarray(stats.get("reached_max_treedepth", False), dtype=bool)
    if reached.any():
        depth = int(np.max(stats["tree_depth"])) if "tree_depth" in stats else None
        cap = "" if depth is None else f" ({depth})"
        messages.append(
            f"{int(reached.sum())} of {reached.size} transitions stopped at the maximum tree "
            f"depth{cap} instead of a U-turn: sampling is inefficient and mixing may be "
            "poor; raise max_treedepth or reparametrise (strong correlations, scales far "
            "from 1)"
        )
    return messages


def warn_transitions(stats: Mapping[str, np.ndarray], what: str, stacklevel: int = 2) -> None:
    """Issue :func:`transition_warnings` as ``RuntimeWarning``s prefixed with ``what``."""
    for message in transition_warnings(stats):
        warnings.warn(f"{what}: {message}", RuntimeWarning, stacklevel=stacklevel + 1)
