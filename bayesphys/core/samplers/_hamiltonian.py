"""The Hamiltonian dynamics shared by :class:`~bayesphys.core.samplers.hmc.HMC` and
:class:`~bayesphys.core.samplers.nuts.NUTS`: momentum draws, kinetic energy, leapfrog step.

The mass matrix is diagonal, ``M^{-1} = diag(inv_mass)``, and the Hamiltonian is
``H(theta, p) = -log_prob(theta) + p^T M^{-1} p / 2``; ``log_prob`` need not be normalised, so
``H`` is defined up to the same additive constant.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bayesphys.core.samplers.base import LogProbFn, all_finite, evaluate, select_rows


def draw_momentum(theta: Tensor, inv_mass: Tensor, generator: torch.Generator) -> Tensor:
    """Momenta ``p ~ N(0, M)`` for every chain, shape and dtype of ``theta`` ``(chains, dim)``."""
    noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype, device=theta.device)
    return noise / inv_mass.sqrt()


def kinetic_energy(p: Tensor, inv_mass: Tensor) -> Tensor:
    """``p^T M^{-1} p / 2`` per chain, ``(chains,)``."""
    return 0.5 * (p * p * inv_mass).sum(-1)


def leapfrog(
    fn: LogProbFn,
    x: Tensor,
    p: Tensor,
    g: Tensor,
    half_eps: Tensor,
    eps_m: Tensor,
    *,
    fused: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """One leapfrog step of all chains from position ``x``, momentum ``p``, gradient ``g``.

    Parameters
    ----------
    fn : callable
        The target ``log_prob``.
    x, p, g : Tensor
        Current position, momentum and gradient of ``fn``, each ``(chains, dim)``.
    half_eps : Tensor
        Half the (signed) step size per chain, ``(chains, 1)``.
    eps_m : Tensor
        Signed step size times ``M^{-1}``, ``(chains, dim)``.
    fused : bool
        Form the half-step updates ``a + b * c`` with ``torch.addcmul`` (one rounding where the
        backend fuses them) rather than a multiply and an add. The two round differently in the
        last bit, which chaotic trajectories amplify into different draws: NUTS uses the fused
        form and HMC the unfused one, so that seeded runs of either sampler keep their draws.

    Returns
    -------
    x_new, p_new, lp_new, g_new : Tensor
        The new phase-space point with its ``log_prob`` ``(chains,)`` and gradient.
    ok_x : Tensor or None
        ``None`` if every new position is finite, else the per-chain mask of finite ones. A
        chain whose position overflowed is evaluated at its current position instead, so that
        ``fn`` only ever sees finite input; the caller must reject it.
    """
    if fused:
        p_half = torch.addcmul(p, half_eps, g)
        x_new = torch.addcmul(x, eps_m, p_half)
    else:
        p_half = p + half_eps * g
        x_new = x + eps_m * p_half
    # One host sync to skip the per-chain mask in the (usual) all-finite case.
    ok_x = None
    if not math.isfinite(float(x_new.sum())):
        ok_x = all_finite(x_new)
        x_new = select_rows(ok_x, x_new, x)
    lp, g_new = evaluate(fn, x_new, with_grad=True)
    p_new = torch.addcmul(p_half, half_eps, g_new) if fused else p_half + half_eps * g_new
    return x_new, p_new, lp, g_new, ok_x
