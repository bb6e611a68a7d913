"""Gaussian-process regression on GPyTorch kernels: MAP, NUTS and sparse (SGPR, SVGP) fits.

Layout: ``regression`` (the estimator), ``kernels`` and ``stationary`` (covariances),
``hyperparameters``, ``model`` (a GP bound to its data), ``linalg``, ``inducing``,
``predictors`` and ``predictive`` (predictions and draws), and ``inference/`` (one module per
method: ``map``, ``nuts``, ``sgpr``, ``svgp``).
"""

from bayesphys.gp import kernels
from bayesphys.gp.kernels import RBF, Linear, Matern, Periodic, RationalQuadratic
from bayesphys.gp.linalg import NotPositiveDefiniteError
from bayesphys.gp.regression import GPRegression

__all__ = [
    "RBF",
    "GPRegression",
    "Linear",
    "Matern",
    "NotPositiveDefiniteError",
    "Periodic",
    "RationalQuadratic",
    "kernels",
]
