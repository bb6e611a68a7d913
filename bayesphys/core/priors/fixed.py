"""Parameters held fixed: the Fixed point-mass prior and ``as_prior``."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import distributions as td
from torch.distributions import constraints

from bayesphys.core.priors.base import Prior, prior_spec
from bayesphys.core.transforms import Identity, Transform

__all__ = ["Fixed", "as_prior"]


@prior_spec
class Fixed(Prior):
    """Point mass at ``value``: a parameter held fixed where a prior is expected.

    ``logpdf`` is 0 at ``value`` and ``-inf`` elsewhere; ``to_pymc`` returns a constant tensor
    (no random variable is created); ``sample`` repeats ``value``. Not a density on the real
    line, so ``log_prob_unconstrained`` is only meaningful at ``z == value``.
    """

    value: float | np.ndarray = 0.0

    @property
    def transform(self) -> Transform:
        return Identity()

    def _logpdf(self, x):
        return np.where(x == self.value, 0.0, -np.inf)

    def _sample(self, shape, rng):
        return np.broadcast_to(self.value, shape).copy()

    def _torch(self, p, validate_args):
        return _PointMass(p["value"], validate_args=validate_args)

    def to_pymc(self, name: str, **shape_kw):
        import pytensor.tensor as pt

        const = pt.as_tensor_variable(np.asarray(self.value))
        if "shape" in shape_kw:
            const = pt.broadcast_to(const, shape_kw["shape"])
        return const

    def _mean(self):
        return self.value

    def _variance(self):
        return np.zeros_like(np.asarray(self.value))


class _PointMass(td.Distribution):
    """Torch point mass: ``log_prob`` 0 at ``value``, ``-inf`` elsewhere."""

    arg_constraints = {}  # noqa: RUF012 (torch API)
    support = constraints.real

    def __init__(self, value, validate_args=None):
        self.value = torch.as_tensor(value)
        super().__init__(batch_shape=self.value.shape, validate_args=False)

    @property
    def mean(self):
        return self.value

    @property
    def variance(self):
        return torch.zeros_like(self.value)

    def sample(self, sample_shape=torch.Size()):  # noqa: B008 (torch API)
        return self.value.expand(self._extended_shape(sample_shape)).clone()

    def log_prob(self, value):
        return torch.where(value == self.value, 0.0, -math.inf).to(self.value.dtype)


def as_prior(value, name: str = "parameter") -> Prior:
    """Return ``value`` if it is a :class:`Prior`, else a :class:`Fixed` point mass at it.

    Parameters
    ----------
    value : Prior, float or array_like
        A prior, or a number/array to hold fixed.
    name : str
        Used in the error message when ``value`` is neither.

    Examples
    --------
    >>> as_prior(2.0, "sigma")
    Fixed(value=2.0)
    """
    if isinstance(value, Prior):
        return value
    try:
        return Fixed(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be a Prior or a number, got {value!r}") from exc
