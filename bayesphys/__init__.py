"""bayesphys: Bayesian methods for the physical sciences.

Every model family stands on the shared core (``bayesphys.priors``, ``bayesphys.likelihoods``,
``bayesphys.samplers``, ``bayesphys.results``) and returns its posterior as ArviZ
``InferenceData``.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bayesphys import inference, likelihoods, priors, results, samplers, vmc
    from bayesphys.bnn import BayesianNeuralNetwork
    from bayesphys.gp import GPRegression
    from bayesphys.linear import BayesianLinearRegression

# Loaded on first access: torch, PyMC and ArviZ take seconds to import, which every Dask worker
# process and every `bayesphys list` would otherwise pay for names it never uses.
_LAZY = {
    "BayesianLinearRegression": "bayesphys.linear",
    "BayesianNeuralNetwork": "bayesphys.bnn",
    "GPRegression": "bayesphys.gp",
    "inference": None,
    "likelihoods": None,
    "priors": None,
    "results": None,
    "samplers": None,
    "vmc": None,
}

try:
    __version__ = version("bayesphys")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "BayesianLinearRegression",
    "BayesianNeuralNetwork",
    "GPRegression",
    "__version__",
    "inference",
    "likelihoods",
    "priors",
    "results",
    "samplers",
    "vmc",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'bayesphys' has no attribute {name!r}")
    module = _LAZY[name]
    value = (
        importlib.import_module(f"bayesphys.{name}")
        if module is None
        else getattr(importlib.import_module(module), name)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
