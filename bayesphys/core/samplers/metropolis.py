"""Random-walk Metropolis with a Gaussian proposal, vectorised over chains."""

from __future__ import annotations

from dataclasses import replace

import torch

from bayesphys.core.samplers.base import (
    ChainState,
    Kernel,
    StepInfo,
    all_finite,
    evaluate,
    metropolis_accept,
    select_rows,
    unit_dim_scale,
)


class RandomWalkMetropolis(Kernel):
    """Random-walk Metropolis: propose ``theta + step_size * sqrt(inv_mass) * N(0, I)``.

    Needs no gradient, so ``log_prob`` is evaluated under ``torch.no_grad()``.

    Parameters
    ----------
    step_size : float or Tensor, optional
        Proposal scale (scalar or per chain). Default ``2.38 / sqrt(dim)``.
    target_accept : float, optional
        Target of step-size adaptation, default 0.3 (between the high-dimensional optimum
        0.234 and the ~0.44 optimum of one dimension).
    adapt_step_size : bool
        Adapt ``step_size`` during tuning.
    adapt_mass : bool
        Also adapt per-dimension proposal scales (``inv_mass``) during tuning; off by default.
    inv_mass : Tensor, optional
        Per-dimension proposal variances ``(dim,)``, default ones.
    """

    name = "rwm"
    default_target_accept = 0.3
    default_adapt_mass = False
    uses_grad = False

    def default_step_size(self, dim: int) -> float:
        """Return ``2.38 / sqrt(dim)``, optimal for a unit-scale Gaussian."""
        return 2.38 * unit_dim_scale(dim, 0.5)

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all chains by one Metropolis step (see :meth:`Kernel.step`)."""
        theta = state.theta
        noise = torch.randn(
            theta.shape, generator=state.generator, dtype=theta.dtype, device=theta.device
        )
        scale = state.step_size.unsqueeze(-1) * state.inv_mass.sqrt()
        proposal = theta + scale * noise
        lp_new, _ = evaluate(state.log_prob_fn, proposal, with_grad=False)
        valid = all_finite(lp_new, proposal)
        log_alpha = torch.where(valid, lp_new - state.log_prob, -torch.inf)
        accepted, accept_prob = metropolis_accept(log_alpha, state.generator)
        new_state = replace(
            state,
            theta=select_rows(accepted, proposal, theta),
            log_prob=torch.where(accepted, lp_new, state.log_prob),
        )
        info = StepInfo(
            accept_prob=accept_prob,
            accepted=accepted,
            diverging=torch.zeros_like(accepted),
            n_steps=torch.ones(accepted.shape, dtype=torch.long, device=theta.device),
        )
        return new_state, info
