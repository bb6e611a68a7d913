"""Hamiltonians of particles in a harmonic trap: free, Coulomb-interacting or hard spheres.

Units: hbar = m = 1, lengths in units of the oscillator length, energies in hbar*omega (for
electrons with omega = 1 these are Hartree atomic units). Positions ``R`` have shape
``(walkers, n_particles, dim)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bayesphys.core.validation import check_positive_int

__all__ = ["HarmonicTrap", "QuantumDot", "pair_distances"]

INTERACTIONS = (None, "coulomb", "hard_sphere")


def pair_distances(R: Tensor) -> tuple[Tensor, Tensor]:
    """Distances ``r_ij`` for ``i < j`` and their index pairs.

    Parameters
    ----------
    R : Tensor
        Positions ``(walkers, n_particles, dim)``.

    Returns
    -------
    r : Tensor
        ``(walkers, n_pairs)`` distances.
    index : Tensor
        ``(2, n_pairs)`` particle indices ``i < j`` of each pair.
    """
    n = R.shape[1]
    index = torch.triu_indices(n, n, offset=1, device=R.device)
    diff = R[:, index[0]] - R[:, index[1]]
    return torch.linalg.vector_norm(diff, dim=-1), index


class HarmonicTrap:
    """``N`` particles in the trap ``V = sum_i omega^2 (x^2 + y^2 + gamma^2 z^2) / 2``.

    Parameters
    ----------
    n_particles : int
        Number of particles ``N >= 1``.
    dim : int
        Spatial dimension, 1, 2 or 3.
    omega : float
        Trap frequency (> 0).
    interaction : {None, "coulomb", "hard_sphere"}
        ``"coulomb"``: ``+ sum_{i<j} 1 / r_ij``; ``"hard_sphere"``: infinite potential for
        ``r_ij <= a`` (bosons; the wave function must vanish there).
    a : float
        Hard-sphere diameter (only for ``interaction="hard_sphere"``).
    gamma : float
        Anisotropy ``omega_z / omega`` of the last axis (only for ``dim = 3``; 1 = spherical).

    Examples
    --------
    >>> import torch
    >>> trap = HarmonicTrap(2, 2, omega=1.0, interaction="coulomb")
    >>> R = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]], dtype=torch.float64)
    >>> trap.potential(R)
    tensor([1.5000], dtype=torch.float64)
    """

    def __init__(
        self,
        n_particles: int,
        dim: int,
        omega: float = 1.0,
        interaction: str | None = None,
        *,
        a: float = 0.0,
        gamma: float = 1.0,
    ) -> None:
        self.n_particles = check_positive_int(n_particles, "n_particles")
        self.dim = check_positive_int(dim, "dim")
        if self.dim > 3:
            raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
        self.omega = _positive(omega, "omega")
        if interaction not in INTERACTIONS:
            raise ValueError(
                f"interaction must be None, 'coulomb' or 'hard_sphere', got {interaction!r}"
            )
        self.interaction = interaction
        self.gamma = _positive(gamma, "gamma")
        if self.gamma != 1.0 and self.dim != 3:
            raise ValueError(f"gamma (anisotropy of the z axis) needs dim=3, got dim={dim}")
        try:
            self.a = float(a)
        except (TypeError, ValueError) as err:
            raise TypeError(f"a (hard-sphere diameter) must be a number, got {a!r}") from err
        if not math.isfinite(self.a) or self.a < 0:
            raise ValueError(f"a (hard-sphere diameter) must be finite and >= 0, got {a}")
        if self.interaction == "hard_sphere" and not self.a > 0:
            raise ValueError(
                f"interaction='hard_sphere' needs a hard-sphere diameter a > 0, got {a}"
            )
        if self.interaction != "hard_sphere" and self.a != 0.0:
            raise ValueError("a (hard-sphere diameter) is only used with interaction='hard_sphere'")

    @property
    def trap_weights(self) -> Tensor:
        """``omega_k^2 / omega^2`` per axis: ones, and ``gamma^2`` on z for ``dim = 3``."""
        w = torch.ones(self.dim, dtype=torch.float64)
        if self.dim == 3:
            w[2] = self.gamma**2
        return w

    @property
    def non_interacting_energy(self) -> float:
        """Exact ground-state energy without interaction, ``sum_axes omega_k / 2`` per particle.

        For bosons (or ``N = 1, 2`` in a spin-degenerate level) this is the exact ground state of
        the non-interacting system.
        """
        return self.n_particles * self.omega * float(self.trap_weights.sqrt().sum()) / 2.0

    def check_positions(self, R: Tensor) -> Tensor:
        """Raise unless ``R`` has shape ``(walkers, n_particles, dim)``."""
        if not isinstance(R, Tensor):
            raise TypeError(f"R must be a torch.Tensor, got {type(R).__name__}")
        if R.ndim != 3 or R.shape[1:] != (self.n_particles, self.dim):
            raise ValueError(
                f"R must have shape (walkers, {self.n_particles}, {self.dim}), got {tuple(R.shape)}"
            )
        return R

    def trap_potential(self, R: Tensor) -> Tensor:
        """One-body trap energy per walker, shape ``(walkers,)``."""
        w = self.trap_weights.to(R)
        return 0.5 * self.omega**2 * (R * R * w).sum((-1, -2))

    def interaction_potential(self, R: Tensor) -> Tensor:
        """Two-body energy per walker (zero without interaction)."""
        if self.interaction is None or self.n_particles < 2:
            return torch.zeros(R.shape[0], dtype=R.dtype, device=R.device)
        r, _ = pair_distances(R)
        if self.interaction == "coulomb":
            return (1.0 / r).sum(-1)
        overlap = (r <= self.a).any(-1)
        return torch.where(overlap, torch.inf, 0.0).to(R.dtype)

    def potential(self, R: Tensor) -> Tensor:
        """Total potential energy per walker, shape ``(walkers,)``."""
        return self.trap_potential(R) + self.interaction_potential(R)

    def __repr__(self) -> str:
        extra = f", a={self.a}" if self.interaction == "hard_sphere" else ""
        extra += f", gamma={self.gamma}" if self.gamma != 1.0 else ""
        return (
            f"HarmonicTrap(n_particles={self.n_particles}, dim={self.dim}, omega={self.omega}, "
            f"interaction={self.interaction!r}{extra})"
        )


def QuantumDot(n_electrons: int, omega: float = 1.0) -> HarmonicTrap:
    """Closed-shell 2-D quantum dot: ``n_electrons`` in {2, 6, 12, 20} with Coulomb repulsion.

    Parameters
    ----------
    n_electrons : int
        Number of electrons; closed shells of the 2-D oscillator hold 2, 6, 12, 20, ... electrons.
    omega : float
        Trap frequency.

    Returns
    -------
    HarmonicTrap
    """
    n = check_positive_int(n_electrons, "n_electrons")
    shells = [k * (k + 1) for k in range(1, 8)]
    if n not in shells:
        raise ValueError(f"n_electrons must close a 2-D shell, one of {shells}, got {n}")
    return HarmonicTrap(n, 2, omega, interaction="coulomb")


def _positive(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from err
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value
