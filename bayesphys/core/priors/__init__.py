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

from bayesphys.core.priors.base import Prior, SizeLike
from bayesphys.core.priors.bounded import Uniform
from bayesphys.core.priors.fixed import Fixed, as_prior
from bayesphys.core.priors.positive import (
    Exponential,
    Gamma,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    LogNormal,
)
from bayesphys.core.priors.real_line import Cauchy, Laplace, Normal, StudentT
from bayesphys.core.priors.shrinkage import Horseshoe

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
