"""Priors on a bounded interval: Uniform."""

from __future__ import annotations

import numpy as np
import torch
from torch import distributions as td

from bayesphys.core.priors.base import Prior, prior_spec
from bayesphys.core.transforms import Interval, Transform

__all__ = ["Uniform"]


@prior_spec
class Uniform(Prior):
    """Uniform prior on ``[lower, upper]``."""

    lower: float | np.ndarray = 0.0
    upper: float | np.ndarray = 1.0
    support = "interval"

    def _check(self):
        lower, upper = np.broadcast_arrays(self.lower, self.upper)
        if np.any(lower >= upper):
            i = np.flatnonzero(lower >= upper)[0]
            raise ValueError(
                f"Uniform: lower must be < upper, got lower={float(lower.flat[i])!r}, "
                f"upper={float(upper.flat[i])!r}"
            )

    @property
    def transform(self) -> Transform:
        return Interval(self.lower, self.upper)

    def _logpdf(self, x):
        inside = (x >= self.lower) & (x <= self.upper)
        return np.where(inside, -np.log(np.asarray(self.upper) - self.lower), -np.inf)

    def _sample(self, shape, rng):
        return rng.uniform(self.lower, self.upper, size=shape)

    def _torch(self, p, validate_args):
        return td.Uniform(p["lower"], p["upper"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        # -log(width) of the density cancels +log(width) of the Jacobian; finite for all z.
        zero = torch.zeros_like(p["lower"] + p["upper"])
        logsig = torch.nn.functional.logsigmoid
        return logsig(z) + logsig(-z) + zero

    def _mean(self):
        return 0.5 * (np.asarray(self.lower) + self.upper)

    def _variance(self):
        return np.square(np.asarray(self.upper) - self.lower) / 12.0
