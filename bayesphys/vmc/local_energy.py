"""Local energy ``E_L = H psi / psi``: analytic (closed-form factors) or autograd Laplacian."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction, autograd_grad_lap

__all__ = ["LocalEnergy", "local_energy"]

METHODS = ("auto", "analytic", "autograd")


@dataclass(frozen=True)
class LocalEnergy:
    """Local energy and its parts per walker, all ``(walkers,)`` detached tensors."""

    total: Tensor
    kinetic: Tensor
    potential: Tensor


def local_energy(
    wf: WaveFunction, system: HarmonicTrap, R: Tensor, method: str = "auto"
) -> LocalEnergy:
    """Local energy ``-1/2 lap psi / psi + V`` at positions ``R``.

    Parameters
    ----------
    wf : WaveFunction
        Trial wave function.
    system : HarmonicTrap
        Supplies the potential.
    R : Tensor
        Positions ``(walkers, n_particles, dim)``; computed in float64 whatever the dtype.
    method : {"auto", "analytic", "autograd"}
        ``"analytic"`` combines the closed-form gradients and Laplacians of the factors (those
        without one use autograd); ``"autograd"`` differentiates ``ln|psi|`` as a whole (one
        backward pass per coordinate); ``"auto"`` is ``"analytic"``.

    Returns
    -------
    LocalEnergy
        ``kinetic = -1/2 (lap ln psi + |grad ln psi|^2)`` uses ``lap psi / psi`` written in
        terms of ``ln psi``, which stays finite where ``psi`` underflows.

    Examples
    --------
    >>> import torch
    >>> from bayesphys.vmc import GaussianJastrow, HarmonicTrap
    >>> R = torch.randn(5, 3, 2, dtype=torch.float64)
    >>> e = local_energy(GaussianJastrow(alpha=0.5), HarmonicTrap(3, 2), R)
    >>> torch.allclose(e.total, torch.full((5,), 3.0, dtype=torch.float64))
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not isinstance(wf, WaveFunction):
        raise TypeError(f"wf must be a bayesphys.vmc WaveFunction, got {type(wf).__name__}")
    # Parameters are float64; float32 or integer positions gave 2e-7 errors (Gaussian) or a
    # dtype RuntimeError deep in a factor (RBM, neural Jastrow, any integer input).
    R = system.check_positions(R).detach().to(torch.float64)
    if method == "autograd":
        grad, lap = autograd_grad_lap(wf.log_psi, R)
    else:
        grad, lap = wf.grad_lap(R)
    with torch.no_grad():
        kinetic = -0.5 * (lap + (grad * grad).sum((-1, -2)))
        potential = system.potential(R)
    return LocalEnergy(total=kinetic + potential, kinetic=kinetic, potential=potential)
