"""Backend-neutral prior specifications with PyMC parameter names.

Each prior is an immutable (frozen dataclass) spec that renders to numpy (``logpdf``,
``sample``), PyMC (``to_pymc``) and torch (``to_torch``, ``log_prob_unconstrained``).
Parameters may be scalars or arrays (broadcast against each other).

Examples
--------
>>> prior = Normal(mu=0.0, sigma=10.0)
>>> prior
Normal(mu=0.0, sigma=10.0)
>>> float(prior.logpdf(0.0))  # doctest: +ELLIPSIS
-3.2215...
>>> HalfNormal([1.0, 2.0]).batch_shape
(2,)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch import distributions as td
from torch.distributions import constraints

from bayesphys.core._positive_priors import (
    Exponential,
    Gamma,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    LogNormal,
)
from bayesphys.core._prior_base import LOG_2PI, LOG_PI, Prior, SizeLike, prior_spec
from bayesphys.core._special import HorseshoeDistribution, horseshoe_logpdf
from bayesphys.core.transforms import Identity, Interval, Transform

__all__ = [
    "Cauchy",
    "Exponential",
    "Fixed",
    "Gamma",
    "HalfCauchy",
    "HalfNormal",
    "Horseshoe",
    "InverseGamma",
    "Laplace",
    "LogNormal",
    "Normal",
    "Prior",
    "SizeLike",
    "StudentT",
    "Uniform",
    "as_prior",
]


@prior_spec
class Normal(Prior):
    """Normal (Gaussian) prior ``N(mu, sigma^2)``."""

    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)

    def _logpdf(self, x):
        u = (x - self.mu) / self.sigma
        return -0.5 * u * u - np.log(self.sigma) - 0.5 * LOG_2PI

    def _sample(self, shape, rng):
        return rng.normal(self.mu, self.sigma, size=shape)

    def _torch(self, p, validate_args):
        return td.Normal(p["mu"], p["sigma"], validate_args=validate_args)

    def _mean(self):
        return self.mu

    def _variance(self):
        return np.square(self.sigma)


@prior_spec
class Laplace(Prior):
    """Laplace (double-exponential) prior with location ``mu`` and scale ``b``."""

    mu: float | np.ndarray = 0.0
    b: float | np.ndarray = 1.0
    _positive = ("b",)

    def _logpdf(self, x):
        return -np.log(2.0 * np.asarray(self.b)) - np.abs(x - self.mu) / self.b

    def _sample(self, shape, rng):
        return rng.laplace(self.mu, self.b, size=shape)

    def _torch(self, p, validate_args):
        return td.Laplace(p["mu"], p["b"], validate_args=validate_args)

    def _mean(self):
        return self.mu

    def _variance(self):
        return 2.0 * np.square(self.b)


@prior_spec
class StudentT(Prior):
    """Student-t prior with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``."""

    nu: float | np.ndarray
    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("nu", "sigma")

    def _logpdf(self, x):
        nu = np.asarray(self.nu)
        u = (x - self.mu) / self.sigma
        return (
            special.gammaln(0.5 * (nu + 1.0))
            - special.gammaln(0.5 * nu)
            - 0.5 * np.log(nu * math.pi)
            - np.log(self.sigma)
            - 0.5 * (nu + 1.0) * np.log1p(u * u / nu)
        )

    def _sample(self, shape, rng):
        return self.mu + np.asarray(self.sigma) * rng.standard_t(self.nu, size=shape)

    def _torch(self, p, validate_args):
        return td.StudentT(p["nu"], p["mu"], p["sigma"], validate_args=validate_args)

    def _mean(self):
        if np.any(np.asarray(self.nu) <= 1):
            self._undefined("mean", "needs nu > 1")
        return self.mu

    def _variance(self):
        nu = np.asarray(self.nu)
        if np.any(nu <= 2):
            self._undefined("variance", "infinite for nu <= 2")
        return np.square(self.sigma) * nu / (nu - 2.0)


@prior_spec
class Cauchy(Prior):
    """Cauchy prior with location ``alpha`` and scale ``beta`` (no mean or variance)."""

    alpha: float | np.ndarray = 0.0
    beta: float | np.ndarray = 1.0
    _positive = ("beta",)

    def _logpdf(self, x):
        u = (x - self.alpha) / self.beta
        return -LOG_PI - np.log(self.beta) - np.log1p(u * u)

    def _sample(self, shape, rng):
        return self.alpha + np.asarray(self.beta) * rng.standard_cauchy(size=shape)

    def _torch(self, p, validate_args):
        return td.Cauchy(p["alpha"], p["beta"], validate_args=validate_args)

    def _mean(self):
        self._undefined("mean", "the Cauchy distribution has none")

    def _variance(self):
        self._undefined("variance", "the Cauchy distribution has none")


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


@prior_spec
class Horseshoe(Prior):
    """Horseshoe prior with fixed global scale ``tau = scale`` (Carvalho, Polson & Scott 2010).

    Hierarchically ``lambda ~ HalfCauchy(1)``, ``x | lambda ~ N(0, (scale * lambda)^2)``; the
    marginal density is ``p(x) = exp(z) E1(z) / (scale sqrt(2 pi^3))`` with
    ``z = x^2 / (2 scale^2)``. It has a logarithmic pole at ``x = 0`` (``logpdf(0) = +inf``)
    and Cauchy-like tails: the mean is 0 but the variance is infinite (raises). The torch
    ``log_prob`` (``HorseshoeDistribution``) is also ``+inf`` at exactly 0, with a NaN gradient
    there; samplers should start away from 0 (``to_pymc``'s hierarchy has no such pole).

    ``to_pymc`` renders the non-centred hierarchy: ``{name}_lambda ~ HalfCauchy(1)``,
    ``{name}_raw ~ N(0, 1)`` and ``{name} = Deterministic(scale * lambda * raw)``.
    """

    scale: float | np.ndarray = 1.0
    _positive = ("scale",)

    def _logpdf(self, x):
        return horseshoe_logpdf(x, self.scale)

    def _sample(self, shape, rng):
        lam = np.abs(rng.standard_cauchy(size=shape))
        return np.asarray(self.scale) * lam * rng.standard_normal(size=shape)

    def _torch(self, p, validate_args):
        return HorseshoeDistribution(p["scale"], validate_args=validate_args)

    def to_pymc(self, name: str, **shape_kw):
        import pymc as pm

        if not {"shape", "dims", "size"} & shape_kw.keys() and self.batch_shape:
            shape_kw["shape"] = self.batch_shape
        one, zero = np.float64(1.0), np.float64(0.0)  # float64, see Prior._pymc_constants
        lam = pm.HalfCauchy(f"{name}_lambda", beta=one, **shape_kw)
        raw = pm.Normal(f"{name}_raw", mu=zero, sigma=one, **shape_kw)
        scale = self._pymc_constants()["scale"]
        return pm.Deterministic(name, scale * lam * raw, dims=shape_kw.get("dims"))

    def _mean(self):
        return 0.0

    def _variance(self):
        self._undefined("variance", "infinite for the horseshoe")


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
