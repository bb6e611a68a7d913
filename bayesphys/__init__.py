"""bayesphys: Bayesian methods for the physical sciences.

Every model family stands on the shared core (``bayesphys.priors``, ``bayesphys.likelihoods``,
``bayesphys.samplers``, ``bayesphys.results``) and returns its posterior as ArviZ
``InferenceData``.
"""

from importlib.metadata import PackageNotFoundError, version

from bayesphys import likelihoods, priors, results, samplers, vmc
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.gp import GPRegression
from bayesphys.linear import BayesianLinearRegression

try:
    __version__ = version("bayesphys")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "BayesianLinearRegression",
    "BayesianNeuralNetwork",
    "GPRegression",
    "__version__",
    "likelihoods",
    "priors",
    "results",
    "samplers",
    "vmc",
]
