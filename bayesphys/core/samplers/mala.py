"""Metropolis-adjusted Langevin algorithm (MALA) with a diagonal preconditioner."""

from __future__ import annotations

from dataclasses import replace

import torch

from bayesphys.core.samplers.base import (
    ChainState,
    Kernel,
    StepInfo,
    evaluate,
    metropolis_accept,
    select_rows,
    unit_dim_scale,
)


class MALA(Kernel):
    """Metropolis-adjusted Langevin algorithm.

    With ``M^{-1} = diag(inv_mass)`` and step size ``h`` the proposal is
    ``theta' = theta + h^2 / 2 * M^{-1} grad log p(theta) + h * M^{-1/2} xi``, ``xi ~ N(0, I)``.
    The proposal is not symmetric, so the acceptance ratio includes
    ``q(theta | theta') / q(theta' | theta)``.

    Parameters
    ----------
    step_size : float or Tensor, optional
        ``h`` (scalar or per chain). Default ``1.65 * dim**(-1/3)``.
    target_accept : float, optional
        Target of step-size adaptation, default 0.574 (Roberts & Rosenthal 1998).
    adapt_step_size : bool
        Adapt ``step_size`` during tuning.
    adapt_mass : bool
        Adapt the diagonal preconditioner ``inv_mass`` during tuning (default True).
    inv_mass : Tensor, optional
        Initial ``diag(M^{-1})`` ``(dim,)``, default ones.
    """

    name = "mala"
    default_target_accept = 0.574
    default_adapt_mass = True
    uses_grad = True

    def default_step_size(self, dim: int) -> float:
        """Return ``1.65 * dim**(-1/3)``, near optimal for a unit-scale Gaussian."""
        return 1.65 * unit_dim_scale(dim, 1.0 / 3.0)

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all chains by one MALA step (see :meth:`Kernel.step`)."""
        theta, grad, inv_mass = state.theta, state.grad, state.inv_mass
        if grad is None:
            raise ValueError("MALA needs a state with gradients; build it with MALA.init_state")
        h = state.step_size.unsqueeze(-1)
        half_h2 = 0.5 * h * h
        noise = torch.randn(
            theta.shape, generator=state.generator, dtype=theta.dtype, device=theta.device
        )
        proposal = theta + half_h2 * inv_mass * grad + h * inv_mass.sqrt() * noise
        lp_new, grad_new = evaluate(state.log_prob_fn, proposal, with_grad=True)
        # Forward residual is h M^{-1/2} xi by construction, so log q(theta'|theta) = -|xi|^2/2;
        # the normalising constants cancel because the covariance h^2 M^{-1} is the same.
        back = theta - proposal - half_h2 * inv_mass * grad_new
        log_q_back = -0.5 * (back * back / inv_mass).sum(-1) / (h * h).squeeze(-1)
        log_q_fwd = -0.5 * (noise * noise).sum(-1)
        log_alpha = lp_new - state.log_prob + log_q_back - log_q_fwd
        # Any non-finite lp_new (+inf included), gradient or proposal makes log_alpha
        # non-finite, so one check covers them all.
        valid = torch.isfinite(log_alpha)
        log_alpha = torch.where(valid, log_alpha, -torch.inf)
        accepted, accept_prob = metropolis_accept(log_alpha, state.generator)
        new_state = replace(
            state,
            theta=select_rows(accepted, proposal, theta),
            log_prob=torch.where(accepted, lp_new, state.log_prob),
            grad=select_rows(accepted, grad_new, grad),
        )
        info = StepInfo(
            accept_prob=accept_prob,
            accepted=accepted,
            diverging=torch.zeros_like(accepted),
            n_steps=torch.ones(accepted.shape, dtype=torch.long, device=theta.device),
        )
        return new_state, info
