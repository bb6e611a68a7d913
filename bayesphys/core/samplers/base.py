"""Building blocks shared by the vectorised MCMC kernels: chain state, step info, kernel base.

Every kernel advances *all* chains at once: ``theta`` has shape ``(chains, dim)`` and the target
``log_prob(theta)`` returns shape ``(chains,)``. Accept/reject decisions and step sizes are per
chain; the (diagonal) inverse mass matrix is shared by all chains.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

LogProbFn = Callable[[Tensor], Tensor]

# Clamp for adapted log step sizes: keeps exp() finite in float32 while leaving ~50 decades.
LOG_STEP_SIZE_BOUND = 60.0


@dataclass(frozen=True)
class ChainState:
    """State of a batch of chains, carried from one kernel step to the next.

    Attributes
    ----------
    theta : Tensor
        Current positions, shape ``(chains, dim)``.
    log_prob : Tensor
        ``log_prob_fn(theta)``, shape ``(chains,)``; always finite.
    grad : Tensor or None
        Gradient of ``log_prob`` w.r.t. ``theta`` (gradient-based kernels only).
    step_size : Tensor
        Per-chain step size, shape ``(chains,)``.
    inv_mass : Tensor
        Diagonal inverse mass matrix (proposal scales squared), shape ``(dim,)``.
    log_prob_fn : callable
        The target density.
    generator : torch.Generator
        Source of all randomness of the kernel steps.
    """

    theta: Tensor
    log_prob: Tensor
    grad: Tensor | None
    step_size: Tensor
    inv_mass: Tensor
    log_prob_fn: LogProbFn
    generator: torch.Generator


@dataclass(frozen=True)
class StepInfo:
    """Per-chain diagnostics of one kernel step (all tensors of shape ``(chains,)``).

    ``tree_depth`` (completed trajectory doublings) is only set by tree-building kernels
    (:class:`~bayesphys.core.samplers.nuts.NUTS`); it is ``None`` for the others. ``energy``, the
    Hamiltonian ``-log_prob + p^T M^{-1} p / 2`` at the start of the transition (after the
    momentum draw), is only set by the Hamiltonian kernels (HMC, NUTS); ``None`` for the others.
    """

    accept_prob: Tensor
    accepted: Tensor
    diverging: Tensor
    n_steps: Tensor
    tree_depth: Tensor | None = None
    energy: Tensor | None = None


def as_positions(theta: object, name: str = "init") -> Tensor:
    """Validate and convert chain positions to a finite floating tensor ``(chains, dim)``."""
    if not isinstance(theta, Tensor):
        try:
            theta = torch.as_tensor(theta, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a torch.Tensor of shape (chains, dim)") from err
    elif not theta.is_floating_point():
        theta = theta.to(torch.float64)
    if theta.ndim != 2 or theta.shape[0] < 1 or theta.shape[1] < 1:
        raise ValueError(
            f"{name} must be 2-D (chains, dim) and non-empty, got {tuple(theta.shape)}"
        )
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(f"{name} must be finite (no NaN/inf)")
    return theta.detach()


def evaluate(fn: LogProbFn, theta: Tensor, *, with_grad: bool) -> tuple[Tensor, Tensor | None]:
    """Evaluate ``fn`` (and its gradient) on all chains; returns detached tensors.

    A target that knows its own gradient may carry a ``value_and_grad(theta) -> (log_prob,
    grad)`` attribute; gradient-based kernels then call it instead of autograd through ``fn``
    (e.g. a hand-written backward pass, cheaper when autograd's bookkeeping dominates).
    """
    n_chains = theta.shape[0]
    value_and_grad = getattr(fn, "value_and_grad", None) if with_grad else None
    if value_and_grad is not None:
        lp, grad = value_and_grad(theta.detach())
        _check_output(lp, n_chains)
        if not isinstance(grad, Tensor) or grad.shape != theta.shape:
            raise ValueError(f"value_and_grad must return a gradient of shape {tuple(theta.shape)}")
        return lp.detach(), grad.detach()
    if not with_grad:
        # no_grad keeps gradient-free kernels cheap even when fn closes over nn.Parameters (VMC).
        with torch.no_grad():
            lp = fn(theta)
        _check_output(lp, n_chains)
        return lp.detach(), None
    with torch.enable_grad():
        x = theta.detach().requires_grad_(True)
        lp = fn(x)
        _check_output(lp, n_chains)
        if lp.requires_grad:
            (grad,) = torch.autograd.grad(lp.sum(), x, allow_unused=True)
        else:
            grad = None
    if grad is None:
        grad = torch.zeros_like(theta)
    return lp.detach(), grad


def _check_output(lp: object, n_chains: int) -> None:
    if not isinstance(lp, Tensor):
        raise TypeError(f"log_prob must return a torch.Tensor, got {type(lp).__name__}")
    if lp.shape != (n_chains,):
        raise ValueError(
            f"log_prob must return shape (chains,) = ({n_chains},), got {tuple(lp.shape)}"
        )


def metropolis_accept(log_alpha: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-chain Metropolis test; NaN log acceptance ratios count as rejections."""
    u = torch.rand(
        log_alpha.shape, generator=generator, dtype=log_alpha.dtype, device=log_alpha.device
    )
    accepted = torch.log(u) < log_alpha  # False for NaN
    accept_prob = torch.exp(torch.clamp(log_alpha, max=0.0)).nan_to_num(nan=0.0)
    return accepted, accept_prob


def all_finite(*tensors: Tensor) -> Tensor:
    """Per-chain mask: every entry of every given ``(chains,)``/``(chains, dim)`` tensor is finite.

    Checks the finiteness of one per-chain sum instead of every entry (NaN and inf propagate
    through sums), which costs a few tensor ops instead of one per argument and reduction; a
    sum overflowing from finite values near 1e308 counts as non-finite, i.e. a rejection.
    """
    total = None
    for t in tensors:
        row = t.sum(dim=-1) if t.ndim > 1 else t
        total = row if total is None else total + row
    return torch.isfinite(total)


def _check_probability(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


class Kernel(ABC):
    """Base class of the vectorised MCMC transition kernels.

    Parameters
    ----------
    step_size : float or Tensor, optional
        Initial step size, scalar or per chain ``(chains,)``; must be > 0. ``None`` picks a
        dimension-dependent default (it is adapted during tuning anyway).
    target_accept : float, optional
        Mean acceptance probability that step-size adaptation aims for.
    adapt_step_size : bool
        Adapt the step size by dual averaging during tuning.
    adapt_mass : bool, optional
        Estimate a diagonal inverse mass matrix during tuning (default: kernel-specific).
    inv_mass : Tensor, optional
        Initial diagonal inverse mass matrix ``(dim,)``; defaults to ones.
    """

    name: ClassVar[str] = "kernel"
    default_target_accept: ClassVar[float] = 0.8
    default_adapt_mass: ClassVar[bool] = True
    uses_grad: ClassVar[bool] = True

    def __init__(
        self,
        step_size: float | Tensor | None = None,
        *,
        target_accept: float | None = None,
        adapt_step_size: bool = True,
        adapt_mass: bool | None = None,
        inv_mass: Tensor | None = None,
    ) -> None:
        if step_size is not None:
            step = torch.as_tensor(step_size, dtype=torch.float64)
            if not bool(torch.isfinite(step).all()) or not bool((step > 0).all()):
                raise ValueError(f"step_size must be finite and > 0, got {step_size}")
        self.step_size = step_size
        if target_accept is None:
            target_accept = self.default_target_accept
        self.target_accept = _check_probability(target_accept, "target_accept")
        self.adapt_step_size = bool(adapt_step_size)
        self.adapt_mass = self.default_adapt_mass if adapt_mass is None else bool(adapt_mass)
        self.inv_mass = inv_mass

    @abstractmethod
    def default_step_size(self, dim: int) -> float:
        """Initial step size used when none is given (unit-scale target assumed)."""

    @abstractmethod
    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance every chain by one transition.

        Parameters
        ----------
        state : ChainState
            Current state (from :meth:`init_state` or a previous call).

        Returns
        -------
        new_state : ChainState
        info : StepInfo
        """

    def init_state(
        self, log_prob: LogProbFn, theta: Tensor, *, generator: torch.Generator | None = None
    ) -> ChainState:
        """Build the initial state of all chains at ``theta``.

        Parameters
        ----------
        log_prob : callable
            ``log_prob(theta: Tensor[chains, dim]) -> Tensor[chains]``.
        theta : Tensor
            Initial positions ``(chains, dim)``; must have finite ``log_prob`` (and gradient).
        generator : torch.Generator, optional
            Random source. Default: a new one seeded from torch's global RNG, so that
            ``torch.manual_seed`` makes runs reproducible.

        Returns
        -------
        ChainState
        """
        if not callable(log_prob):
            raise TypeError("log_prob must be callable: Tensor[chains, dim] -> Tensor[chains]")
        theta = as_positions(theta, "theta")
        n_chains, dim = theta.shape
        opts = {"dtype": theta.dtype, "device": theta.device}
        step = self.default_step_size(dim) if self.step_size is None else self.step_size
        step = torch.as_tensor(step, **opts)
        if step.ndim > 1 or step.numel() not in (1, n_chains):
            raise ValueError(f"step_size must be a scalar or have shape ({n_chains},)")
        step = step.expand(n_chains).clone()
        inv_mass = self.inv_mass
        if inv_mass is None:
            inv_mass = torch.ones(dim, **opts)
        else:
            inv_mass = torch.as_tensor(inv_mass, **opts)
            if inv_mass.shape != (dim,) or not bool((inv_mass > 0).all()):
                raise ValueError(f"inv_mass must be positive with shape ({dim},)")
            if not bool(torch.isfinite(inv_mass).all()):
                raise ValueError("inv_mass must be finite")
        if generator is None:
            generator = torch.Generator(device=theta.device)
            generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        lp, grad = evaluate(log_prob, theta, with_grad=self.uses_grad)
        bad = ~all_finite(lp) if grad is None else ~all_finite(lp, grad)
        if bool(bad.any()):
            idx = torch.nonzero(bad).flatten().tolist()
            what = "log_prob" if grad is None else "log_prob or its gradient"
            raise ValueError(f"{what} is not finite at the initial position of chains {idx}")
        return ChainState(theta, lp, grad, step, inv_mass, log_prob, generator)

    def refresh(self, state: ChainState, log_prob: LogProbFn | None = None) -> ChainState:
        """Recompute the cached ``log_prob``/gradient at the current positions.

        Needed when the target changed in place between steps (e.g. the wave-function parameters
        of VMC after an optimiser update); step size, mass matrix and RNG are kept.
        """
        fn = state.log_prob_fn if log_prob is None else log_prob
        lp, grad = evaluate(fn, state.theta, with_grad=self.uses_grad)
        return replace(state, log_prob=lp, grad=grad, log_prob_fn=fn)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(step_size={self.step_size}, "
            f"target_accept={self.target_accept}, adapt_mass={self.adapt_mass})"
        )


def select_rows(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """Per-chain ``where`` for ``(chains,)`` or ``(chains, dim)`` tensors."""
    return torch.where(mask.unsqueeze(-1) if new.ndim == 2 else mask, new, old)


def unit_dim_scale(dim: int, power: float) -> float:
    """``dim ** -power``, the usual dimension scaling of optimal step sizes."""
    return math.pow(max(dim, 1), -power)
