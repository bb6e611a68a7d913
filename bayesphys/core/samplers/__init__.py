"""Vectorised torch MCMC over many chains: random-walk Metropolis, MALA, HMC and NUTS.

``sample(log_prob, init, method=...)`` runs tuning (dual-averaged step sizes, windowed diagonal
mass matrix) and drawing for any ``log_prob(theta: Tensor[chains, dim]) -> Tensor[chains]``.
The kernels can also be driven step by step (``init_state`` / ``step``), e.g. by VMC walkers.
``CompiledNUTS`` is NUTS with each chain's tree built by numba-compiled code, for targets that
offer a compiled log density (``compiled_target``); it takes the torch kernel for any other.
"""

from bayesphys.core._transitions import transition_warnings, warn_transitions
from bayesphys.core.samplers.adaptation import (
    DualAveraging,
    WelfordVariance,
    WindowAdaptation,
    mass_windows,
)
from bayesphys.core.samplers.base import ChainState, Kernel, StepInfo
from bayesphys.core.samplers.compiled_nuts import CompiledNUTS
from bayesphys.core.samplers.hmc import HMC
from bayesphys.core.samplers.mala import MALA
from bayesphys.core.samplers.metropolis import RandomWalkMetropolis
from bayesphys.core.samplers.nuts import NUTS
from bayesphys.core.samplers.result import SamplerResult
from bayesphys.core.samplers.sampling import make_kernel, sample

__all__ = [
    "HMC",
    "MALA",
    "NUTS",
    "ChainState",
    "CompiledNUTS",
    "DualAveraging",
    "Kernel",
    "RandomWalkMetropolis",
    "SamplerResult",
    "StepInfo",
    "WelfordVariance",
    "WindowAdaptation",
    "make_kernel",
    "mass_windows",
    "sample",
    "transition_warnings",
    "warn_transitions",
]
