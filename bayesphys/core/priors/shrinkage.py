"""The horseshoe shrinkage prior and the special functions of its marginal density (numpy, torch).

The horseshoe prior with fixed global scale ``tau`` has the marginal density
(Carvalho, Polson & Scott 2010)

    p(x) = exp(z) E1(z) / (tau * sqrt(2 pi^3)),    z = x^2 / (2 tau^2),

with ``E1`` the exponential integral. ``E1`` underflows for large ``z`` while ``exp(z)``
overflows, so everything here works with ``g(z) = exp(z) E1(z)`` (which decays like ``1/z``)
and its logarithm directly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch.distributions import Distribution, constraints

from bayesphys.core.priors.base import Prior, prior_spec

__all__ = [
    "Horseshoe",
    "HorseshoeDistribution",
    "horseshoe_logpdf",
    "log_exp_e1",
    "log_exp_e1_torch",
]

_EULER_GAMMA = 0.57721566490153286061
# log(sqrt(2 pi^3)), the normalising constant of the marginal density.
_LOG_NORM = 0.5 * math.log(2.0 * math.pi**3)

# numpy: above this z, scipy's E1 is near underflow and the asymptotic series
# g(z) ~ (1/z) sum_k (-1)^k k! / z^k, truncated after _ASYMPTOTIC_TERMS terms, is accurate to
# about 20! / 100^20 ~ 1e-22.
_ASYMPTOTIC_Z = 100.0
_ASYMPTOTIC_TERMS = 20

# torch: power series below z = 1 (20 terms: error < 1 / (20 * 20!) ~ 2e-20), continued
# fraction above. The continued fraction converges slowest at z = 1, where 64 levels still give
# a relative error of ~3e-13; at z = 5 it is exact to machine precision.
_SERIES_TERMS = 20
_CF_DEPTH = 64


def log_exp_e1(log_z: np.ndarray) -> np.ndarray:
    """``log(exp(z) E1(z))`` for ``z = exp(log_z) >= 0``, without overflow.

    Taking ``log z`` lets callers pass values whose ``z`` would overflow (huge ``|x|``).
    ``z = 0`` (``log_z = -inf``) gives ``+inf``, the logarithmic pole of ``E1``.
    """
    log_z = np.asarray(log_z, dtype=np.float64)
    out = np.empty_like(log_z)
    big = log_z > math.log(_ASYMPTOTIC_Z)
    # Below z ~ 1e-30, E1(z) = -gamma - log z + O(z) to double precision; using log_z keeps
    # x^2 / (2 tau^2) from underflowing to 0 (a spurious pole) for tiny nonzero |x|.
    tiny = log_z < -70.0
    mid = ~big & ~tiny
    with np.errstate(over="ignore", divide="ignore"):
        z = np.exp(log_z[mid])
        out[mid] = np.log(special.exp1(z)) + z
        out[tiny] = np.log(-_EULER_GAMMA - log_z[tiny])
        inv_z = np.exp(-log_z[big])
    # Horner evaluation of sum_k (-1)^k k! inv_z^k, k = 0..K-1.
    series = np.ones_like(inv_z)
    for k in range(_ASYMPTOTIC_TERMS - 1, 0, -1):
        series = 1.0 - k * inv_z * series
    out[big] = -log_z[big] + np.log(series)
    return out


def horseshoe_logpdf(x, scale) -> np.ndarray:
    """Log marginal density of the horseshoe prior (numpy, broadcasting; ``+inf`` at 0)."""
    x = np.asarray(x, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_z = 2.0 * (np.log(np.abs(x)) - np.log(scale)) - math.log(2.0)
    return log_exp_e1(log_z) - np.log(scale) - _LOG_NORM


def log_exp_e1_torch(z: torch.Tensor) -> torch.Tensor:
    """Differentiable ``log(exp(z) E1(z))`` for a tensor ``z >= 0``."""
    small = z <= 1.0
    # Each branch only sees harmless inputs, so the unused branch cannot put NaN into the
    # gradient through torch.where.
    zs = torch.where(small, z, torch.full_like(z, 0.5))
    zl = torch.where(small, torch.full_like(z, 2.0), z)

    # E1(z) = -gamma - log z + sum_{k>=1} (-1)^(k+1) z^k / (k k!)
    term = zs
    series = zs.clone()
    for k in range(2, _SERIES_TERMS + 1):
        term = term * (-zs) / k
        series = series + term / k
    log_small = zs + torch.log(-_EULER_GAMMA - torch.log(zs) + series)

    # exp(z) E1(z) = 1 / (z + 1 - 1^2 / (z + 3 - 2^2 / (z + 5 - ...))), evaluated bottom-up.
    t = zl + (2 * _CF_DEPTH + 1)
    for n in range(_CF_DEPTH, 0, -1):
        t = zl + (2 * n - 1) - (n * n) / t
    log_large = -torch.log(t)
    return torch.where(small, log_small, log_large)


class HorseshoeDistribution(Distribution):
    """Torch horseshoe marginal with fixed global scale ``tau`` (a location-zero density).

    ``log_prob`` is the closed-form marginal (``+inf`` at ``x = 0``); ``rsample`` draws from the
    hierarchy ``lambda ~ HalfCauchy(1)``, ``x ~ Normal(0, (scale * lambda)^2)``.

    Parameters
    ----------
    scale : float or Tensor
        Global scale ``tau > 0``.
    """

    arg_constraints = {"scale": constraints.positive}  # noqa: RUF012 (torch API)
    support = constraints.real
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        self.scale = torch.as_tensor(scale)
        if not self.scale.is_floating_point():
            self.scale = self.scale.to(torch.get_default_dtype())
        super().__init__(batch_shape=self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HorseshoeDistribution, _instance)
        new.scale = self.scale.expand(torch.Size(batch_shape))
        super(HorseshoeDistribution, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros_like(self.scale)

    @property
    def mode(self) -> torch.Tensor:
        return torch.zeros_like(self.scale)

    @property
    def variance(self) -> torch.Tensor:
        return torch.full_like(self.scale, math.inf)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:  # noqa: B008 (torch API)
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.scale.dtype, device=self.scale.device)
        lam = torch.tan(0.5 * math.pi * u)  # |Cauchy(0, 1)| by inversion
        eps = torch.randn(shape, dtype=self.scale.dtype, device=self.scale.device)
        return self.scale * lam * eps

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z = 0.5 * (value / self.scale) ** 2
        return log_exp_e1_torch(z) - torch.log(self.scale) - _LOG_NORM


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
