"""``FitResult``: what an inference method hands back to its estimator, in every family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FitResult:
    """The outcome of one inference method, before the estimator turns it into attributes.

    Every family's ``inference/`` modules return this type; the estimator reads the common
    fields and its own ``extras``.

    Attributes
    ----------
    posterior : dict of str to ndarray
        Named parameter values in the model's own units, shaped ``(chain, draw, ...)`` for
        draws (a point estimate is one chain of one draw).
    sample_stats : dict of str to ndarray
        Per-draw sampler statistics under the shared schema's names (``lp``, ``diverging``,
        ``energy``, ...); empty for point estimates and closed forms.
    unconstrained : array or tensor, optional
        The draws ``(chain, draw, dim)`` in the sampler's unconstrained space, where the
        family needs them again (predictions, restarts).
    log_evidence : float, optional
        Log marginal likelihood of the data, where the method gives one.
    extras : dict
        Family-specific results (a predictor, a point estimate, ...).
    attrs : dict
        Run settings recorded on the InferenceData (step size, tuning steps, ...).
    progress : str, optional
        ``None`` for a complete run, else how far a run stopped by Ctrl-C got (for example
        "25 of 40 draws per chain"); the draws are then what it completed.

    Examples
    --------
    >>> import numpy as np
    >>> result = FitResult(posterior={"slope": np.zeros((2, 10))})
    >>> result.n_chains, result.n_draws, result.interrupted
    (2, 10, False)
    """

    posterior: dict[str, np.ndarray] = field(default_factory=dict)
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    unconstrained: Any = None
    log_evidence: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    progress: str | None = None

    @property
    def interrupted(self) -> bool:
        """The run was stopped by Ctrl-C and keeps what it completed (marked)."""
        return self.progress is not None

    def _shape(self) -> tuple[int, ...]:
        if self.unconstrained is not None:
            return tuple(self.unconstrained.shape[:2])
        for value in self.posterior.values():
            return tuple(np.shape(value)[:2])
        return (0, 0)

    @property
    def n_chains(self) -> int:
        """Number of chains (1 for a point estimate)."""
        return int(self._shape()[0])

    @property
    def n_draws(self) -> int:
        """Draws per chain (1 for a point estimate)."""
        return int(self._shape()[1])
