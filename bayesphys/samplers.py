"""Public interface of the vectorised torch MCMC samplers (see :mod:`bayesphys.core.samplers`)."""

from bayesphys.core.samplers import *  # noqa: F403
from bayesphys.core.samplers import __all__  # noqa: F401
