"""Tuning-phase adaptation: dual averaging of step sizes and windowed diagonal mass matrices.

The schedule follows the three-phase scheme of Stan's reference manual: a fast phase where only
the step size adapts, a sequence of doubling "slow" windows at the end of each of which the
inverse mass matrix is set to the regularised variance of the window's draws (and step-size
adaptation restarts), and a final fast phase for the step size under the last metric.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from bayesphys.core.samplers.base import LOG_STEP_SIZE_BOUND, ChainState, Kernel, StepInfo


class DualAveraging:
    """Per-chain dual averaging of ``log(step_size)`` (Nesterov 2009; Hoffman & Gelman 2014).

    Parameters
    ----------
    step_size : Tensor
        Initial step size per chain ``(chains,)``.
    target : float
        Target mean acceptance probability.
    gamma, t0, kappa : float
        Shrinkage strength, early-iteration damping and averaging decay exponent.

    Notes
    -----
    ``gamma`` defaults to 0.15 rather than Hoffman & Gelman's 0.05: the per-chain, per-transition
    acceptance probability of a static-length kernel is much noisier than NUTS's tree average,
    and noisy iterates bias the averaged step size low (acceptance after tuning then overshoots
    the target, e.g. 0.95 instead of 0.8 for HMC on a correlated 2-D Gaussian).
    """

    def __init__(
        self,
        step_size: Tensor,
        target: float,
        *,
        gamma: float = 0.15,
        t0: float = 10.0,
        kappa: float = 0.75,
    ) -> None:
        self.target = float(target)
        self.gamma = float(gamma)
        self.t0 = float(t0)
        self.kappa = float(kappa)
        self.restart(step_size)

    def restart(self, step_size: Tensor) -> None:
        """Start a fresh adaptation from ``step_size`` (e.g. after the metric changed)."""
        # Shrinking towards 10x the current value biases the search towards larger steps, which
        # are cheaper to correct (a too-large step is noticed through rejections at once).
        self.mu = torch.log(10.0 * step_size)
        self.t = 0
        self.h_bar = torch.zeros_like(step_size)
        self.log_step_bar = torch.log(step_size)
        self.step_size = step_size

    def update(self, accept_prob: Tensor) -> Tensor:
        """Feed the acceptance probabilities of one iteration; return the next step sizes."""
        self.t += 1
        w = 1.0 / (self.t + self.t0)
        stat = accept_prob.to(self.h_bar.dtype)
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - stat)
        log_step = self.mu - math.sqrt(self.t) / self.gamma * self.h_bar
        log_step = log_step.clamp(-LOG_STEP_SIZE_BOUND, LOG_STEP_SIZE_BOUND)
        eta = self.t ** (-self.kappa)
        self.log_step_bar = eta * log_step + (1.0 - eta) * self.log_step_bar
        self.step_size = torch.exp(log_step)
        return self.step_size

    @property
    def final_step_size(self) -> Tensor:
        """The averaged step size, to be frozen after tuning."""
        return torch.exp(self.log_step_bar) if self.t > 0 else self.step_size


class WelfordVariance:
    """Running per-chain mean and variance (Welford), pooled over chains on request."""

    def __init__(self, like: Tensor) -> None:
        self.mean = torch.zeros_like(like)
        self.m2 = torch.zeros_like(like)
        self.n = 0

    def update(self, theta: Tensor) -> None:
        """Add one draw per chain, ``theta`` of shape ``(chains, dim)``."""
        self.n += 1
        delta = theta - self.mean
        self.mean = self.mean + delta / self.n
        self.m2 = self.m2 + delta * (theta - self.mean)

    def pooled_variance(self, reference: Tensor | None = None) -> Tensor:
        """Within-chain variance pooled over chains, shape ``(dim,)``, regularised.

        Pooling within-chain (not total) variances keeps one stuck or far-away chain from
        inflating the metric of all others. As in Stan, the estimate is shrunk by ``5 / (n + 5)``
        (``n`` pooled draws) towards ``1e-3``, so that a dimension that barely moved cannot get
        a (near-)zero scale; here ``1e-3`` is taken relative to ``reference`` (the metric in
        use, default ones), so that parameters with tiny scales are not floored at ~1e-3 / n
        after the first window.
        """
        n_chains = self.mean.shape[0]
        dof = n_chains * (self.n - 1)
        var = self.m2.sum(0) / max(dof, 1)
        n = n_chains * self.n
        floor = 1e-3 if reference is None else 1e-3 * reference
        return (n / (n + 5.0)) * var + floor * (5.0 / (n + 5.0))


# After each slow window the step-size adaptation restarts from 10x the step size; it needs about
# this many iterations to come back down. With Stan's short-run terminal buffer (10% of the
# tuning) the frozen step size stayed several times too large: tune = 50 left HMC 95% divergent
# and MALA with acceptance ~0 on a standard normal.
MIN_TERMINAL_BUFFER = 20
# A slow window shorter than this estimates no useful variance: adapt the step size only.
MIN_SLOW_WINDOW = 10


def mass_windows(n_tune: int) -> list[tuple[int, int]]:
    """Slow-window boundaries ``[(start, end), ...]`` (iteration indices) for ``n_tune``.

    Stan's defaults (75 initial, 50 terminal, first window 25, doubling; the last window
    stretched to the terminal buffer) when they fit; else 15% initial, a terminal buffer of
    ``max(10%, 20)`` iterations and the rest as slow windows. No windows (step-size adaptation
    only, unit metric) when fewer than 10 iterations would be left for them (``n_tune < 35``).
    """
    init, term, base = 75, 50, 25
    if init + term + base > n_tune:
        init = int(0.15 * n_tune)
        term = max(int(0.1 * n_tune), MIN_TERMINAL_BUFFER)
        base = n_tune - init - term
        if base < MIN_SLOW_WINDOW:
            return []
    end_slow = n_tune - term
    windows, start, size = [], init, base
    while start < end_slow:
        end = start + size
        if end + 2 * size > end_slow:
            end = end_slow
        windows.append((start, end))
        start, size = end, 2 * size
    return windows


class WindowAdaptation:
    """Drives step-size and mass-matrix adaptation over ``n_tune`` tuning iterations.

    Call :meth:`update` after every tuning step and :meth:`finalize` once at the end; both
    return the state to continue from. Usable outside :func:`sample`, e.g. for VMC burn-in.

    Parameters
    ----------
    kernel : Kernel
        Supplies ``target_accept``, ``adapt_step_size`` and ``adapt_mass``.
    state : ChainState
        Initial state (its step size starts the dual averaging).
    n_tune : int
        Planned number of tuning iterations (sets the window schedule).
    """

    def __init__(self, kernel: Kernel, state: ChainState, n_tune: int) -> None:
        self.dual = (
            DualAveraging(state.step_size, kernel.target_accept) if kernel.adapt_step_size else None
        )
        self.windows = mass_windows(n_tune) if kernel.adapt_mass else []
        self.welford = WelfordVariance(state.theta)
        self.iteration = 0
        self._window = 0

    def update(self, state: ChainState, info: StepInfo) -> ChainState:
        """Adapt after one tuning step; returns the state with new step size / metric."""
        i = self.iteration
        self.iteration += 1
        step_size = state.step_size
        if self.dual is not None:
            step_size = self.dual.update(info.accept_prob)
        if self._window < len(self.windows):
            start, end = self.windows[self._window]
            if start <= i < end:
                self.welford.update(state.theta)
            if i + 1 == end:
                inv_mass = self.welford.pooled_variance(state.inv_mass).to(state.inv_mass.dtype)
                self.welford = WelfordVariance(state.theta)
                self._window += 1
                if self.dual is not None:
                    self.dual.restart(step_size)
                return replace(state, step_size=step_size, inv_mass=inv_mass)
        return replace(state, step_size=step_size)

    def finalize(self, state: ChainState) -> ChainState:
        """Freeze the step sizes at their dual-averaging averages."""
        if self.dual is None or self.dual.t == 0:
            return state
        return replace(state, step_size=self.dual.final_step_size.to(state.step_size.dtype))
