"""Bayesian neural networks: full-batch HMC, SGHMC and mean-field VI (see ``docs/bnn.md``)."""

from bayesphys.bnn.calibration import expected_calibration_error
from bayesphys.bnn.model import BayesianNeuralNetwork

__all__ = ["BayesianNeuralNetwork", "expected_calibration_error"]
