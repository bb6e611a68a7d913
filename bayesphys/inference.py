"""Inference methods as objects (public alias of :mod:`bayesphys.core.inference`).

>>> from bayesphys.inference import NUTS
>>> NUTS(draws=500, chains=2)
NUTS(chains=2, draws=500)
"""

from bayesphys.core.inference import *  # noqa: F403
from bayesphys.core.inference import __all__  # noqa: F401
