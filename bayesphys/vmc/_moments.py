"""Running sums of the local energy that ``vmc.estimate``'s progress bar prints.

The bar shows the energy while the walkers move and, at the end, the run's summary line with
the split R-hat. Recomputing either from the growing ``(steps, walkers)`` record would read up
to 1e7 values per refresh (the split R-hat alone costs some 15 % of a 1e5-walker run), so
each recorded step adds its energies to per-walker sums instead, one set of sums for each half
of the recorded steps (and one for the middle step of an odd count). From these:

- the live figures (:meth:`SplitMoments.live`): running mean, variance of the local energy
  and the standard error from the scatter of the walker means, which is honest whatever the
  correlation time because walkers are independent;
- the split R-hat of the complete run (:meth:`SplitMoments.halves`), equal to
  :func:`~bayesphys.core.stats.r_hat_split` of the record up to round-off.

The sums are of ``E - shift`` with ``shift`` the mean energy of the first step added, so that
the variances (sums of squares minus squared sums) do not lose digits to the size of ``E``.
The numba step adds to them inside its loop (:mod:`bayesphys.vmc._numba_step`); other steps
call :meth:`SplitMoments.add`.
"""

from __future__ import annotations

import math

import numpy as np


class SplitMoments:
    """Per-walker sums of ``E - shift`` and ``(E - shift)^2`` per half of the recorded steps.

    Parameters
    ----------
    n_walkers, n_steps : int
        Walkers and the number of steps that will be recorded (fixes the halves: steps
        ``[0, n_steps // 2)`` and ``[n_steps - n_steps // 2, n_steps)``, as split R-hat
        cuts them).
    """

    def __init__(self, n_walkers: int, n_steps: int) -> None:
        self.n_walkers, self.n_steps = n_walkers, n_steps
        self.half = n_steps // 2
        # Rows: first half, last half, middle step (odd n_steps only).
        self.sums = np.zeros((3, n_walkers))
        self.squares = np.zeros((3, n_walkers))
        self.shift: float | None = None
        self.count = 0  # steps added

    def slot(self, t: int) -> int:
        """Row of :attr:`sums` that recorded step ``t`` adds to."""
        if t < self.half:
            return 0
        return 1 if t >= self.n_steps - self.half else 2

    def rows(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The per-walker sum and square-sum rows step ``t`` adds to (views)."""
        k = self.slot(t)
        return self.sums[k], self.squares[k]

    def added(self) -> None:
        """Count a step that a compiled step added to :meth:`rows` itself (setting
        :attr:`shift` first if unset)."""
        self.count += 1

    def add(self, t: int, energies: np.ndarray) -> None:
        """Add the walkers' local energies of recorded step ``t``."""
        if self.shift is None:
            self.shift = float(np.mean(energies))
        deviation = energies - self.shift
        total, squares = self.rows(t)
        total += deviation
        deviation *= deviation
        squares += deviation
        self.count += 1

    def live(self) -> tuple[float, float, float]:
        """Mean, variance (``1/n``, pooled) and the walker-scatter standard error so far."""
        if self.count == 0 or self.shift is None:
            return math.nan, math.nan, math.nan
        n = self.count * self.n_walkers
        per_walker = self.sums.sum(axis=0)
        centre = float(per_walker.sum()) / n
        variance = max(float(self.squares.sum()) / n - centre * centre, 0.0)
        if self.n_walkers > 1:
            stderr = float(np.std(per_walker / self.count, ddof=1)) / math.sqrt(self.n_walkers)
        else:
            stderr = math.nan
        return self.shift + centre, variance, stderr

    def halves(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Means and ``ddof=1`` variances of both halves of every walker, ``(2, walkers)``
        each; None unless all ``n_steps`` steps were added (an interrupted run's halves are
        other steps) or a half has fewer than 2 steps."""
        if self.count != self.n_steps or self.half < 2 or self.shift is None:
            return None
        h = self.half
        centred = self.sums[:2] / h
        means = self.shift + centred
        variances = np.maximum(self.squares[:2] - h * centred * centred, 0.0) / (h - 1)
        return means, variances
