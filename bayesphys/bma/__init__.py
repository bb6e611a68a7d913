"""Bayesian model averaging of nuclear mass models (``MassModelAveraging``) and model weights."""

from bayesphys.bma._residuals import (
    PARITY_CLASSES,
    parity_class,
    residual_gp,
    residual_lengthscale_prior,
)
from bayesphys.bma.averaging import MassModelAveraging
from bayesphys.bma.weights import (
    ConcentratedWeightsWarning,
    effective_number_of_models,
    existence_log_likelihood,
    existence_weights,
    normalise_log_weights,
    stacking_weights,
    uniform_weights,
)

__all__ = [
    "PARITY_CLASSES",
    "ConcentratedWeightsWarning",
    "MassModelAveraging",
    "effective_number_of_models",
    "existence_log_likelihood",
    "existence_weights",
    "normalise_log_weights",
    "parity_class",
    "residual_gp",
    "residual_lengthscale_prior",
    "stacking_weights",
    "uniform_weights",
]
