"""Variational Monte Carlo: trial wave functions sampled with the core MCMC kernels.

``|psi_T(R; theta)|^2`` is the density sampled by walkers; the mean local energy
``E_L = H psi / psi`` estimates ``<H>``, an upper bound to the ground-state energy, and
:func:`optimize` lowers it over ``theta``. Units: ``hbar = m = 1``, energies in ``hbar omega``.
"""

from bayesphys.vmc.estimation import EnergyEstimate, MixingWarning, estimate
from bayesphys.vmc.local_energy import LocalEnergy, local_energy
from bayesphys.vmc.optimization import OptimizationResult, ParameterDomainWarning, optimize
from bayesphys.vmc.samplers import Langevin, Metropolis, Walkers
from bayesphys.vmc.systems import HarmonicTrap, QuantumDot
from bayesphys.vmc.wavefunctions import (
    RBM,
    Gaussian,
    GaussianJastrow,
    HardSphereJastrow,
    NeuralJastrow,
    PadeJastrow,
    Product,
    SlaterJastrow,
    WaveFunction,
)

__all__ = [
    "RBM",
    "EnergyEstimate",
    "Gaussian",
    "GaussianJastrow",
    "HardSphereJastrow",
    "HarmonicTrap",
    "Langevin",
    "LocalEnergy",
    "Metropolis",
    "MixingWarning",
    "NeuralJastrow",
    "OptimizationResult",
    "PadeJastrow",
    "ParameterDomainWarning",
    "Product",
    "QuantumDot",
    "SlaterJastrow",
    "Walkers",
    "WaveFunction",
    "estimate",
    "local_energy",
    "optimize",
]
