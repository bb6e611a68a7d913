"""Vectorised, iterative subtree building for :class:`~bayesphys.core.samplers.nuts.NUTS`.

A subtree of ``2**depth`` leapfrog steps is built leaf by leaf for all chains in lockstep. The
U-turn checks of the implicit balanced binary tree over the leaves need, at every odd leaf
``n``, the data of the subtrees that complete there; those start at leaves ``n - 2**s + 1``
(``s = 1 .. trailing ones of n``). Their start data live on a small stack indexed by the
number of set bits of the start leaf, so memory is ``O(depth)`` instead of ``O(2**depth)``
and, because every chain is at the same leaf, all indices are Python integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bayesphys.core.samplers._hamiltonian import leapfrog
from bayesphys.core.samplers.base import LogProbFn


@dataclass(frozen=True)
class Leaf:
    """A phase-space point with its cached log density and gradient, packed in one tensor.

    ``z`` is ``(chains, 3 * dim + 1)``: position, momentum, gradient and log density side by
    side, so that choosing between two leaves per chain is a single ``where``. The tree loop is
    dominated by the fixed cost of many small tensor operations, so their number matters more
    than their size.
    """

    z: Tensor
    dim: int

    @property
    def x(self) -> Tensor:
        """Positions ``(chains, dim)``."""
        return self.z[:, : self.dim]

    @property
    def p(self) -> Tensor:
        """Momenta ``(chains, dim)``."""
        return self.z[:, self.dim : 2 * self.dim]

    @property
    def g(self) -> Tensor:
        """Gradients of ``log_prob`` ``(chains, dim)``."""
        return self.z[:, 2 * self.dim : 3 * self.dim]

    @property
    def lp(self) -> Tensor:
        """Log densities ``(chains,)``."""
        return self.z[:, -1]


def make_leaf(x: Tensor, p: Tensor, lp: Tensor, g: Tensor) -> Leaf:
    """Pack a phase-space point into a :class:`Leaf` (``lp`` is cast to the dtype of ``x``)."""
    return Leaf(torch.cat((x, p, g, lp.to(x.dtype).unsqueeze(-1)), 1), x.shape[1])


def select_leaf(mask: Tensor, new: Leaf, old: Leaf) -> Leaf:
    """Per-chain choice between two leaves."""
    return Leaf(torch.where(mask.unsqueeze(-1), new.z, old.z), new.dim)


def is_turning(ps_minus: Tensor, ps_plus: Tensor, rho: Tensor) -> Tensor:
    """Generalised U-turn criterion (Betancourt 2017): either end's velocity opposes ``rho``.

    ``ps_*`` are the velocities ``M^{-1} p`` at the two ends of a trajectory segment and ``rho``
    its momentum sum; any leading batch shape is allowed. The test is symmetric in the two ends,
    so it does not matter in which time direction the segment was built.
    """
    return ((ps_minus * rho).sum(-1) <= 0) | ((ps_plus * rho).sum(-1) <= 0)


@dataclass(frozen=True)
class Subtree:
    """Result of :func:`build_subtree` (only meaningful for chains with ``valid``)."""

    end: Leaf  # last leaf built: the new end of the whole tree in the build direction
    proposal: Leaf  # multinomial draw among the subtree's leaves
    log_weight: Tensor  # log sum over leaves of exp(H0 - H)
    rho: Tensor  # momentum sum over the leaves
    p_first: Tensor  # momentum of the first leaf (for the checks across the boundary)
    valid: Tensor  # neither diverged nor U-turned inside
    accept_sum: Tensor  # sum over leapfrog steps of min(1, exp(H0 - H))
    n_steps: Tensor  # leapfrog steps taken
    diverged: Tensor


def leaf_leapfrog(
    fn: LogProbFn, leaf: Leaf, half_eps: Tensor, eps_m: Tensor
) -> tuple[Leaf, Tensor | None]:
    """:func:`~bayesphys.core.samplers._hamiltonian.leapfrog` from a leaf to a new leaf.

    Returns the new leaf and ``None`` or the mask of chains whose new position is finite (the
    others stayed put and must be rejected by the caller).
    """
    x_new, p_new, lp, g_new, ok_x = leapfrog(fn, leaf.x, leaf.p, leaf.g, half_eps, eps_m)
    return make_leaf(x_new, p_new, lp, g_new), ok_x


def _trailing_ones(n: int) -> int:
    return (~n & (n + 1)).bit_length() - 1


def checkpoint_buffer(max_depth: int, like: Tensor) -> Tensor:
    """Storage for :func:`build_subtree`'s checkpoints, reusable for every subtree of a step."""
    return torch.empty(
        (max(max_depth - 1, 1), 5, *like.shape), dtype=like.dtype, device=like.device
    )


def build_subtree(
    fn: LogProbFn,
    start: Leaf,
    eps: Tensor,
    inv_mass: Tensor,
    h0: Tensor,
    depth: int,
    building: Tensor,
    max_energy_error: float,
    generator: torch.Generator,
    checkpoints: Tensor,
) -> Subtree:
    """Build ``2**depth`` leaves from ``start`` (excluded) for the chains in ``building``.

    ``eps`` is the signed per-chain step size ``(chains, 1)``. A chain stops moving as soon as
    it diverges (energy error above ``max_energy_error`` or a non-finite value) or one of its
    completed sub-subtrees turns; the loop ends early once no chain is moving. Chains that do
    not move still take part in the batched evaluations (from their frozen leaf), but their
    results are never used: only chains with ``valid`` are merged by the caller.
    ``checkpoints`` comes from :func:`checkpoint_buffer` (at least ``depth`` slots).
    """
    n_chains, dim = start.x.shape
    opts = {"dtype": start.z.dtype, "device": start.z.device}
    n_leaves = 1 << depth
    half_eps, eps_m = 0.5 * eps, eps * inv_mass
    # Slot k of `checkpoints` holds the start data of an open sub-subtree whose first leaf m has
    # k set bits: velocity at m, momentum sums up to m-1 and up to m, and the velocity and the
    # sum up to m-2 of the leaf before m (the left neighbour's last leaf, for the boundary
    # checks). Slots are always written (at even leaves) before they are read (at odd leaves).
    ck = checkpoints
    # All uniforms of the subtree at once: one generator call instead of one per leaf.
    log_u = torch.rand((n_leaves, n_chains), generator=generator, **opts).log()
    leaf, proposal = start, start
    moving = building
    log_w = torch.full((n_chains,), -torch.inf, **opts)
    neg_inf = log_w.clone()  # a tensor operand: `where` with a Python scalar wraps it per call
    rho = torch.zeros((n_chains, dim), **opts)
    prev_ps = prev_before = rho
    p_first = start.p
    accept_sum = torch.zeros((n_chains,), **opts)
    # Which chains took each leapfrog step; counted once at the end (one op per leaf less).
    moved = []
    diverged = torch.zeros_like(building)
    for n in range(n_leaves):
        new, ok_x = leaf_leapfrog(fn, leaf, half_eps, eps_m)
        p_new = new.p
        ps = inv_mass * p_new
        # log of the leaf's multinomial weight exp(H0 - H); -inf or NaN for non-finite values.
        log_w_leaf = torch.add(h0 + new.lp, (ps * p_new).sum(-1), alpha=-0.5)
        # `>=` is False for NaN. A divergent leaf counts as a step with acceptance 0.
        ok = (log_w_leaf >= -max_energy_error) & (log_w_leaf < torch.inf)
        if ok_x is not None:
            ok = ok & ok_x
        moved.append(moving)
        diverged = diverged | (moving & ~ok)
        moving = moving & ok
        log_w_leaf = torch.where(moving, log_w_leaf, neg_inf)
        accept_sum = accept_sum + torch.exp(log_w_leaf.clamp(max=0.0))
        leaf = select_leaf(moving, new, leaf)
        # Progressive multinomial sampling: leaf i ends up the proposal w.p. w_i / sum(w).
        log_w = torch.logaddexp(log_w, log_w_leaf)
        take = log_u[n] < log_w_leaf - log_w  # False where log_w_leaf = -inf (not moving)
        proposal = select_leaf(take, new, proposal)

        before = rho
        rho = rho + p_new
        if n == 0:
            p_first = p_new
        if n % 2 == 0:
            torch.stack((ps, before, rho, prev_ps, prev_before), out=ck[n.bit_count()])
        else:
            # Sub-subtrees of 2, 4, ..., 2**t leaves end here; their starts sit in slots
            # k_min..k_max (the larger the subtree, the lower its slot).
            k_max = n.bit_count() - 1
            k_min = k_max - _trailing_ones(n) + 1
            start_ps, start_before = ck[k_min : k_max + 1, 0], ck[k_min : k_max + 1, 1]
            turned = is_turning(start_ps, ps, rho - start_before).any(0)
            if k_max > k_min:
                # Merges of two halves of >= 2 leaves each: also demand no U-turn across the
                # boundary, i.e. for the left half plus the right half's first leaf and for
                # the left half's last leaf plus the right half (Stan's extra checks).
                left, right = ck[k_min:k_max], ck[k_min + 1 : k_max + 1]
                turned = turned | is_turning(left[:, 0], right[:, 0], right[:, 2] - left[:, 1]).any(
                    0
                )
                turned = turned | is_turning(right[:, 3], ps, rho - right[:, 4]).any(0)
            moving = moving & ~turned
        prev_ps, prev_before = ps, before
        if n + 1 < n_leaves and not bool(moving.any()):
            break
    n_steps = torch.stack(moved).sum(0)
    return Subtree(leaf, proposal, log_w, rho, p_first, moving, accept_sum, n_steps, diverged)
