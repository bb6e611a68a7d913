"""Public API for inference results: InferenceData building, netCDF I/O, diagnostics, blocking.

Re-exports :mod:`bayesphys.core.results` (the only module that imports ArviZ) and
:mod:`bayesphys.core.blocking`.
"""

from bayesphys.core import blocking as _blocking
from bayesphys.core import results as _results
from bayesphys.core.blocking import *  # noqa: F403
from bayesphys.core.results import *  # noqa: F403

__all__ = [*_results.__all__, *_blocking.__all__]
