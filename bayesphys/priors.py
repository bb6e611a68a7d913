"""Prior specifications (public alias of :mod:`bayesphys.core.priors`)."""

from bayesphys.core.priors import *  # noqa: F403
from bayesphys.core.priors import __all__  # noqa: F401
