"""Gaussian-process regression on GPyTorch kernels: MAP, HMC and sparse (SGPR, SVGP) fits."""

from bayesphys.gp import kernels
from bayesphys.gp._exact import NotPositiveDefiniteError
from bayesphys.gp.kernels import RBF, Linear, Matern, Periodic, RationalQuadratic
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
