"""The No-U-Turn sampler (multinomial, generalised U-turn criterion), vectorised over chains."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from bayesphys.core.samplers._hamiltonian import draw_momentum, kinetic_energy
from bayesphys.core.samplers._nuts_tree import (
    Leaf,
    build_subtree,
    checkpoint_buffer,
    is_turning,
    make_leaf,
    select_leaf,
)
from bayesphys.core.samplers.base import ChainState, Kernel, StepInfo, unit_dim_scale
from bayesphys.core.validation import check_positive_int

# 2**30 leapfrog steps per transition is far beyond any practical budget; the bound keeps
# `1 << depth` and the checkpoint stack sane.
_MAX_TREEDEPTH_BOUND = 30
# Rows of the stacked velocities (far end, near end, new end, new first leaf) that form the
# two ends of the three U-turn checks of a merge.
_FAR_FAR_NEAR = torch.tensor([0, 0, 1])
_END_FIRST_END = torch.tensor([2, 3, 2])


class NUTS(Kernel):
    """No-U-Turn sampler (Hoffman & Gelman 2014) in its multinomial form, as in Stan.

    Each transition draws a momentum ``p ~ N(0, M)`` (``M^{-1} = diag(inv_mass)``, shared by all
    chains) and doubles a leapfrog trajectory forwards or backwards in time (a fair coin per
    chain and doubling) until the generalised U-turn criterion of Betancourt (2017, appendix A)
    holds for the whole trajectory, for any of the balanced subtrees built inside a doubling,
    or across the boundary of two merged subtrees (the extra checks of Stan >= 2.26), or until
    ``2**max_treedepth - 1`` steps. The new state is drawn from the trajectory with weights
    ``exp(-H)``: uniformly-progressive within a subtree and biased towards the newest subtree
    when merging (Betancourt 2017).

    All chains advance in lockstep, one batched ``log_prob`` call per leapfrog step: a chain
    whose tree has stopped (U-turn, divergence) is frozen while the others keep doubling, and a
    transition ends when every chain is done. Its cost per transition is therefore set by the
    deepest tree of the batch.

    A leapfrog step whose energy error ``H - H0`` exceeds ``max_energy_error`` or that meets a
    non-finite log density, gradient or position is *divergent*: the chain stops building, the
    subtree in progress is discarded (the state is drawn from the tree built so far), and the
    transition is flagged in ``StepInfo.diverging``. ``log_prob`` only ever sees finite input.

    The step-size adaptation statistic (``StepInfo.accept_prob``) is the mean over all
    leapfrog steps of the transition of ``min(1, exp(H0 - H))`` (Stan's ``accept_stat``);
    ``StepInfo.tree_depth`` is the number of completed doublings, ``n_steps`` the number of
    gradient evaluations and ``energy`` the Hamiltonian ``H0`` at the start of the transition
    (with the freshly drawn momentum), as Stan and PyMC report it for the BFMI diagnostic.

    Parameters
    ----------
    step_size : float or Tensor, optional
        Leapfrog step size (scalar or per chain). Default ``dim**(-1/4)``; adapted in tuning.
    max_treedepth : int
        Maximum number of doublings per transition (default 10, i.e. at most 1023 steps).
    max_energy_error : float
        Energy error above which a leapfrog step counts as divergent (default 1000, as Stan).
    target_accept : float
        Target of the dual-averaging step-size adaptation.
    adapt_step_size, adapt_mass : bool
        Adapt step size / diagonal mass matrix during tuning (both default True).
    inv_mass : Tensor, optional
        Initial ``diag(M^{-1})`` ``(dim,)``, default ones.

    References
    ----------
    M. D. Hoffman and A. Gelman, JMLR 15, 1593 (2014).
    M. Betancourt, "A conceptual introduction to Hamiltonian Monte Carlo", arXiv:1701.02434.

    Examples
    --------
    >>> import torch
    >>> from bayesphys.samplers import NUTS, sample
    >>> scales = torch.tensor([1.0, 10.0], dtype=torch.float64)
    >>> def log_prob(theta):  # theta: (chains, 2) -> (chains,)
    ...     return -0.5 * ((theta / scales) ** 2).sum(-1)
    >>> init = torch.zeros(4, 2, dtype=torch.float64)
    >>> result = sample(log_prob, init, method=NUTS(max_treedepth=8), draws=300, tune=300,
    ...                 random_state=1, progressbar=False)
    >>> result.samples.shape, int(result.tree_depth.max()) <= 8
    (torch.Size([4, 300, 2]), True)
    >>> bool(abs(result.samples[..., 1].std() - 10.0) < 2.0)
    True
    """

    name = "nuts"
    default_target_accept = 0.8
    default_adapt_mass = True
    uses_grad = True

    def __init__(
        self,
        step_size: float | Tensor | None = None,
        *,
        max_treedepth: int = 10,
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
        max_treedepth = check_positive_int(max_treedepth, "max_treedepth")
        if max_treedepth > _MAX_TREEDEPTH_BOUND:
            raise ValueError(
                f"max_treedepth must be <= {_MAX_TREEDEPTH_BOUND}, got {max_treedepth}"
            )
        try:
            max_energy_error = float(max_energy_error)
        except (TypeError, ValueError):
            raise ValueError(
                f"max_energy_error must be a number > 0, got {max_energy_error!r}"
            ) from None
        if not max_energy_error > 0:  # also rejects NaN
            raise ValueError(f"max_energy_error must be > 0, got {max_energy_error}")
        self.max_treedepth = max_treedepth
        self.max_energy_error = max_energy_error

    def default_step_size(self, dim: int) -> float:
        """Return ``dim**(-1/4)``, the scaling of the optimal leapfrog step size."""
        return unit_dim_scale(dim, 0.25)

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all chains by one NUTS transition (see :meth:`Kernel.step`)."""
        theta, grad, inv_mass, gen = state.theta, state.grad, state.inv_mass, state.generator
        if grad is None:
            raise ValueError("NUTS needs a state with gradients; build it with NUTS.init_state")
        opts = {"dtype": theta.dtype, "device": theta.device}
        n_chains = theta.shape[0]
        momentum = draw_momentum(theta, inv_mass, gen)
        h0 = -state.log_prob + kinetic_energy(momentum, inv_mass)
        left = right = proposal = make_leaf(theta, momentum, state.log_prob, grad)
        checkpoints = checkpoint_buffer(self.max_treedepth, theta)
        rho = momentum
        log_w = torch.zeros((n_chains,), **opts)  # the start point has weight exp(H0 - H0)
        active = torch.ones((n_chains,), dtype=torch.bool, device=theta.device)
        depth = torch.zeros((n_chains,), dtype=torch.long, device=theta.device)
        n_steps = torch.zeros_like(depth)
        accept_sum = torch.zeros((n_chains,), **opts)
        diverged = torch.zeros_like(active)
        for j in range(self.max_treedepth):
            forward = torch.rand((n_chains,), generator=gen, **opts) < 0.5
            fwd_rows = forward.unsqueeze(-1)
            eps = torch.where(
                fwd_rows, state.step_size.unsqueeze(-1), -state.step_size.unsqueeze(-1)
            )
            near = Leaf(torch.where(fwd_rows, right.z, left.z), right.dim)
            p_far = torch.where(fwd_rows, left.p, right.p)
            sub = build_subtree(
                state.log_prob_fn,
                near,
                eps,
                inv_mass,
                h0,
                j,
                active,
                self.max_energy_error,
                gen,
                checkpoints,
            )
            n_steps = n_steps + sub.n_steps
            accept_sum = accept_sum + sub.accept_sum
            diverged = diverged | sub.diverged
            valid = sub.valid
            # Biased progressive sampling: move to the new subtree's draw w.p.
            # min(1, w_new / w_old), which favours states far from the start.
            u = torch.rand((n_chains,), generator=gen, **opts)
            take = valid & (torch.log(u) < sub.log_weight - log_w)
            proposal = select_leaf(take, sub.proposal, proposal)
            log_w = torch.where(valid, torch.logaddexp(log_w, sub.log_weight), log_w)
            # U-turn checks of the merged tree, batched: the whole tree; the old tree plus the
            # new first leaf; the old tree's near end plus the new subtree (Stan's checks
            # across the boundary of the two halves).
            ps = inv_mass * torch.stack((p_far, near.p, sub.end.p, sub.p_first))
            turned = is_turning(
                ps[_FAR_FAR_NEAR],
                ps[_END_FIRST_END],
                torch.stack((rho, rho, near.p)) + torch.stack((sub.rho, sub.p_first, sub.rho)),
            ).any(0)
            rho = torch.where(valid.unsqueeze(-1), rho + sub.rho, rho)
            right = select_leaf(valid & forward, sub.end, right)
            left = select_leaf(valid & ~forward, sub.end, left)
            depth = depth + valid
            active = valid & ~turned
            if not bool(active.any()):
                break

        theta_new = proposal.x.contiguous()
        accept_prob = accept_sum / n_steps.clamp(min=1).to(accept_sum.dtype)
        new_state = replace(
            state,
            theta=theta_new,
            log_prob=proposal.lp.to(state.log_prob.dtype),
            grad=proposal.g.contiguous(),
        )
        accepted = (theta_new != theta).any(-1)
        info = StepInfo(accept_prob, accepted, diverged, n_steps, tree_depth=depth, energy=h0)
        return new_state, info

    def __repr__(self) -> str:
        return (
            f"NUTS(step_size={self.step_size}, max_treedepth={self.max_treedepth}, "
            f"target_accept={self.target_accept}, adapt_mass={self.adapt_mass})"
        )
