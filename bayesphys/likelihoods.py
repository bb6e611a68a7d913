"""Likelihood specifications (public alias of :mod:`bayesphys.core.likelihoods`)."""

from bayesphys.core.likelihoods import *  # noqa: F403
from bayesphys.core.likelihoods import __all__  # noqa: F401
