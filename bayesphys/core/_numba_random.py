"""The random numbers of the compiled (numba) kernels: one SplitMix64 stream per chain or walker.

SplitMix64 (Steele, Lea and Flood, OOPSLA 2014; it passes BigCrush) keeps its whole state in
one ``uint64``, so a compiled loop carries a chain's stream in a register and a seed drawn from
the caller's ``torch.Generator`` per chain or walker makes the numbers independent of how
many threads run the loop. Functions take the state and return ``(value, new_state)``.

Normals: :func:`normal` by the ziggurat (Marsaglia and Tsang, J. Stat. Softw. 5 (2000), in
Doornik's floating-point form: most draws cost one random number and one comparison), and
:func:`fill_normals_polar` by the polar method (a logarithm per pair), which the compiled NUTS
kernel uses so that its seeded draws stay what they were; moving it to the ziggurat would
change them.

The helpers are inlined into their callers (``inline="always"``, at numba's IR level), so the
caller's compile flags (fast-math or not) apply to them as to its own code. Numba's disk
cache of a caller is keyed on the caller's own source file: after an edit here, clear the
``__pycache__`` of the callers (or touch their files) so that they are compiled afresh.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; without it the torch paths run
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["fill_normals_polar", "normal", "uniform"]

# Ziggurat of the standard normal: 128 layers of equal area V; layer 0 is the base strip with
# the tail beyond R.
_ZIG_LAYERS = 128
_ZIG_R = 3.442619855899
_ZIG_V = 9.91256303526217e-3


def _ziggurat_edges() -> np.ndarray:
    """Right edges ``X[0] > X[1] = R > ... > X[128] = 0`` of the layers."""
    edges = np.zeros(_ZIG_LAYERS + 1)
    edges[0] = _ZIG_V / math.exp(-0.5 * _ZIG_R**2)
    edges[1] = _ZIG_R
    for i in range(2, _ZIG_LAYERS):
        edges[i] = math.sqrt(
            -2.0 * math.log(_ZIG_V / edges[i - 1] + math.exp(-0.5 * edges[i - 1] ** 2))
        )
    return edges


_ZIG_X = _ziggurat_edges()
_ZIG_F = np.exp(-0.5 * _ZIG_X**2)  # density (unnormalised) at the edges

if numba is not None:
    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)
    _MIX1 = np.uint64(0xBF58476D1CE4E5B9)
    _MIX2 = np.uint64(0x94D049BB133111EB)
    _S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
    _TO_UNIT = 2.0**-53
    _LAYER_MASK = np.uint64(_ZIG_LAYERS - 1)

    @numba.njit(cache=True, inline="always")
    def _next(state):
        """Next SplitMix64 output of ``state``; returns (z, state)."""
        state = state + _GOLDEN
        z = state
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        return z ^ (z >> _S31), state

    @numba.njit(cache=True, inline="always")
    def uniform(state):
        """Next output of ``state`` as a float in ``[0, 1)`` (53 bits); returns (u, state)."""
        z, state = _next(state)
        return float(z >> _S11) * _TO_UNIT, state

    @numba.njit(cache=True, inline="always")
    def normal(state):
        """A standard normal by the ziggurat; returns (x, state)."""
        while True:
            z, state = _next(state)
            layer = int(z & _LAYER_MASK)  # low 7 bits: the layer; top 53 bits: the abscissa
            x = (2.0 * (float(z >> _S11) * _TO_UNIT) - 1.0) * _ZIG_X[layer]
            if abs(x) < _ZIG_X[layer + 1]:
                return x, state
            if layer == 0:  # the tail beyond R (Marsaglia 1964)
                while True:
                    u1, state = uniform(state)
                    u2, state = uniform(state)
                    a = -math.log(1.0 - u1) / _ZIG_R
                    b = -math.log(1.0 - u2)
                    if 2.0 * b > a * a:
                        return (_ZIG_R + a if x > 0.0 else -_ZIG_R - a), state
            u, state = uniform(state)
            lower = _ZIG_F[layer + 1]
            if lower + u * (_ZIG_F[layer] - lower) < math.exp(-0.5 * x * x):
                return x, state

    @numba.njit(cache=True, inline="always")
    def fill_normals_polar(out, state):
        """Fill ``out`` with standard normals by the polar method; returns the new state."""
        i = 0
        while i < out.shape[0]:
            u, state = uniform(state)
            v, state = uniform(state)
            u, v = 2.0 * u - 1.0, 2.0 * v - 1.0
            s = u * u + v * v
            if s >= 1.0 or s == 0.0:
                continue
            f = math.sqrt(-2.0 * math.log(s) / s)
            out[i] = u * f
            if i + 1 < out.shape[0]:
                out[i + 1] = v * f
            i += 2
        return state
