"""Hamiltonian Monte Carlo with a leapfrog integrator and a diagonal mass matrix."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from bayesphys.core.samplers._hamiltonian import draw_momentum, kinetic_energy, leapfrog
from bayesphys.core.samplers.base import (
    ChainState,
    Kernel,
    StepInfo,
    all_finite,
    metropolis_accept,
    select_rows,
    unit_dim_scale,
)
from bayesphys.core.validation import check_positive_int


class HMC(Kernel):
    """Hamiltonian Monte Carlo (static trajectory length), vectorised over chains.

    Momenta are drawn from ``N(0, M)`` with ``M^{-1} = diag(inv_mass)``. Give either the
    number of leapfrog steps (``n_leapfrog``) or the integration time (``trajectory_length``;
    then each chain takes ``ceil(trajectory_length / step_size)`` steps, capped at
    ``max_leapfrog``). Each transition scales the trajectory length (number of steps) by a
    uniform factor in ``[1 - jitter, 1 + jitter]``, shared by all chains, so that trajectories
    cannot lock onto a (half-)period of the dynamics, which would make e.g. ``|theta|`` mix
    slowly even when the mean mixes fast.

    A trajectory that meets a non-finite log density, gradient or position is stopped and
    rejected, and flagged as diverging, as is one whose energy error exceeds
    ``max_energy_error``; ``log_prob`` only ever sees finite input.

    ``StepInfo.energy`` is the Hamiltonian ``H0`` at the start of the transition (with the freshly
    drawn momentum), as Stan and PyMC report it for the BFMI diagnostic.

    Parameters
    ----------
    step_size : float or Tensor, optional
        Leapfrog step size (scalar or per chain). Default ``dim**(-1/4)``.
    n_leapfrog : int, optional
        Mean number of leapfrog steps per transition (default 10 when ``trajectory_length`` is
        not given).
    trajectory_length : float, optional
        Integration time per transition; exclusive with ``n_leapfrog``.
    jitter : float
        Relative trajectory-length jitter in ``[0, 1)``.
    max_leapfrog : int
        Cap on the number of leapfrog steps per transition.
    max_energy_error : float
        Energy error above which a transition is flagged as diverging.
    target_accept : float
        Target of step-size adaptation.
    adapt_step_size, adapt_mass : bool
        Adapt step size / diagonal mass matrix during tuning (both default True).
    inv_mass : Tensor, optional
        Initial ``diag(M^{-1})`` ``(dim,)``, default ones.
    """

    name = "hmc"
    default_target_accept = 0.8
    default_adapt_mass = True
    uses_grad = True

    def __init__(
        self,
        step_size: float | Tensor | None = None,
        n_leapfrog: int | None = None,
        trajectory_length: float | None = None,
        *,
        jitter: float = 0.5,
        max_leapfrog: int = 1024,
        max_energy_error: float = 1000.0,
        target_accept: float = 0.8,
        adapt_step_size: bool = True,
        adapt_mass: bool | None = None,
        inv_mass: Tensor | None = None,
    ) -> None:
        super().__init__(
            step_size,
            target_accept=target_accept,
            adapt_step_size=adapt_step_size,
            adapt_mass=adapt_mass,
            inv_mass=inv_mass,
        )
        if n_leapfrog is not None and trajectory_length is not None:
            raise ValueError("give either n_leapfrog or trajectory_length, not both")
        if trajectory_length is None:
            n_leapfrog = check_positive_int(10 if n_leapfrog is None else n_leapfrog, "n_leapfrog")
        else:
            trajectory_length = float(trajectory_length)
            if not (math.isfinite(trajectory_length) and trajectory_length > 0):
                raise ValueError(f"trajectory_length must be > 0, got {trajectory_length}")
        if not 0.0 <= float(jitter) < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        max_leapfrog = check_positive_int(max_leapfrog, "max_leapfrog")
        if not float(max_energy_error) > 0:
            raise ValueError(f"max_energy_error must be > 0, got {max_energy_error}")
        self.n_leapfrog = n_leapfrog
        self.trajectory_length = trajectory_length
        self.jitter = float(jitter)
        self.max_leapfrog = max_leapfrog
        self.max_energy_error = float(max_energy_error)

    def default_step_size(self, dim: int) -> float:
        """Return ``dim**(-1/4)``, the scaling of the optimal leapfrog step size."""
        return unit_dim_scale(dim, 0.25)

    def _draw_n_steps(self, step_size: Tensor, generator: torch.Generator) -> Tensor:
        """Leapfrog steps per chain for one transition, with the length jitter applied."""
        n_chains = step_size.shape[0]
        # One length factor for all chains: randomising over time is what breaks periodicity,
        # and a shared count wastes no masked leapfrog steps.
        u = torch.rand((), generator=generator, dtype=step_size.dtype, device=step_size.device)
        factor = 1.0 + self.jitter * (2.0 * u - 1.0)
        if self.trajectory_length is None:
            n = torch.round(self.n_leapfrog * factor).expand(n_chains)
        else:
            n = torch.ceil(self.trajectory_length * factor / step_size)
        return n.nan_to_num(1.0).clamp(1, self.max_leapfrog).long()

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all chains by one HMC transition (see :meth:`Kernel.step`)."""
        theta, grad, inv_mass, gen = state.theta, state.grad, state.inv_mass, state.generator
        if grad is None:
            raise ValueError("HMC needs a state with gradients; build it with HMC.init_state")
        n_chains = theta.shape[0]
        eps = state.step_size
        n_steps = self._draw_n_steps(eps, gen)
        # A host sync per transition: the leapfrog loop needs a Python bound (the position
        # guard of each leapfrog step syncs too, as in NUTS).
        n_max = int(n_steps.max())

        momentum = draw_momentum(theta, inv_mass, gen)
        h0 = -state.log_prob + kinetic_energy(momentum, inv_mass)
        x, p, lp, g = theta, momentum, state.log_prob, grad
        half_eps = 0.5 * eps.unsqueeze(-1)
        eps_m = eps.unsqueeze(-1) * inv_mass
        alive = torch.ones(n_chains, dtype=torch.bool, device=theta.device)
        fixed_length = self.trajectory_length is None
        for i in range(n_max):
            x_new, p_new, lp_new, g_new, ok_x = leapfrog(
                state.log_prob_fn, x, p, g, half_eps, eps_m, fused=False
            )
            # A non-finite gradient makes p_new non-finite, so g_new needs no separate check.
            finite = all_finite(lp_new, x_new + p_new)
            if ok_x is not None:
                finite = finite & ok_x
            # A chain that hits a non-finite value stops where it was (so log_prob only ever
            # sees finite input) and is rejected at the end.
            if fixed_length:
                alive = alive & finite
                move = alive
            else:
                active = alive & (n_steps > i)
                move = active & finite
                alive = alive & (finite | ~active)
            move_rows = move.unsqueeze(-1)
            x = torch.where(move_rows, x_new, x)
            p = torch.where(move_rows, p_new, p)
            g = torch.where(move_rows, g_new, g)
            lp = torch.where(move, lp_new, lp)

        h1 = -lp + kinetic_energy(p, inv_mass)
        energy_error = h1 - h0
        diverging = ~alive | ~torch.isfinite(energy_error)
        diverging = diverging | (energy_error > self.max_energy_error)
        log_alpha = torch.where(alive, -energy_error, -torch.inf)
        accepted, accept_prob = metropolis_accept(log_alpha, gen)
        new_state = replace(
            state,
            theta=select_rows(accepted, x, theta),
            log_prob=torch.where(accepted, lp, state.log_prob),
            grad=select_rows(accepted, g, grad),
        )
        info = StepInfo(accept_prob, accepted, diverging, n_steps, energy=h0)
        return new_state, info

    def __repr__(self) -> str:
        length = (
            f"n_leapfrog={self.n_leapfrog}"
            if self.trajectory_length is None
            else f"trajectory_length={self.trajectory_length}"
        )
        return (
            f"HMC(step_size={self.step_size}, {length}, jitter={self.jitter}, "
            f"target_accept={self.target_accept}, adapt_mass={self.adapt_mass})"
        )
