"""Trial wave functions (torch modules returning ``ln|psi(R)|``)."""

from bayesphys.vmc.wavefunctions.base import Product, WaveFunction, autograd_grad_lap
from bayesphys.vmc.wavefunctions.gaussian import (
    Gaussian,
    GaussianJastrow,
    HardSphereJastrow,
    PadeJastrow,
    cusp_matrix,
)
from bayesphys.vmc.wavefunctions.neural import NeuralJastrow, NeuralPairFactor
from bayesphys.vmc.wavefunctions.rbm import RBM, RBMFactor
from bayesphys.vmc.wavefunctions.slater import SlaterDeterminant, SlaterJastrow

__all__ = [
    "RBM",
    "Gaussian",
    "GaussianJastrow",
    "HardSphereJastrow",
    "NeuralJastrow",
    "NeuralPairFactor",
    "PadeJastrow",
    "Product",
    "RBMFactor",
    "SlaterDeterminant",
    "SlaterJastrow",
    "WaveFunction",
    "autograd_grad_lap",
    "cusp_matrix",
]
