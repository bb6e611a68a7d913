"""Per-walker bookkeeping shared by the compiled Metropolis steps of :mod:`bayesphys.vmc`.

The 2-D Pade-Jastrow step (:mod:`bayesphys.vmc._numba_step`) and the Slater-Jastrow step
(:mod:`bayesphys.vmc._numba_slater`) share the acceptance rule and the radial histogram through
these functions, inlined into both (``inline="always"``); the results are bit-identical to the
lines written out. The state copy and energy bookkeeping stay written out in each step: as an
inlined helper (23 arguments) it halved the 2-D step's speed, with identical results.

Numba's disk cache of a calling module does not notice edits here: clear the ``*.nbi``/``*.nbc``
files of both step modules after changing this one.
"""

from __future__ import annotations

import math

try:  # numba is a dependency; without it (an unusual install) estimate uses the torch step
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

# Fast-math without "no NaNs/infs": the NaN test of the acceptance must survive.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}

if numba is not None:

    @numba.njit(cache=True, inline="always", fastmath=FAST)
    def acceptance(log_alpha):
        """Metropolis acceptance probability ``min(1, exp(log_alpha))``.

        NaN (a coordinate overflow) compares False: rejected, acceptance 0; ``-inf`` gives 0.
        """
        if log_alpha >= 0.0:
            return 1.0
        elif log_alpha == log_alpha:
            return math.exp(log_alpha)
        return 0.0

    @numba.njit(cache=True, inline="always", fastmath=FAST)
    def clear_histogram(hist, chunk, bins):
        """Zero the ``bins`` histogram entries of ``chunk`` (``hist`` has a column even when
        ``bins`` is 0)."""
        for b in range(bins):
            hist[chunk, b] = 0.0

    @numba.njit(cache=True, inline="always", fastmath=FAST)
    def add_radii(hist, chunk, positions, w, n, d, bins, scale):
        """Add walker ``w``'s ``n`` electron radii, binned as ``floor(r * scale)``, to the
        histogram row of ``chunk`` (radii past the last bin are dropped)."""
        for i in range(n if bins > 0 else 0):
            r2 = 0.0
            for k in range(d):
                r2 += positions[w, i * d + k] * positions[w, i * d + k]
            b = int(math.sqrt(r2) * scale)
            if b < bins:
                hist[chunk, b] += 1.0
