"""The default Metropolis step of ``vmc.estimate`` for ``SlaterJastrow`` dots: one compiled loop.

The torch path evaluates :class:`~bayesphys.vmc.wavefunctions.slater.SlaterJastrow` with
batched small-matrix operations (Hermite tables, ``slogdet``, ``inv_ex``, einsums), each a
pass over every walker's ``N/2 x N/2`` matrices with its own dispatch cost. Here one numba loop
per walker does the same work in registers and small scratch arrays: all-electron Gaussian
moves (as ``Metropolis(moves="all")`` on the torch path), the Hermite values of the proposal,
the spin-up and spin-down Slater matrices inverted by Gauss-Jordan elimination with partial
pivoting (``ln|det|`` from the pivots), and the closed-form local energy with the formulas of
:meth:`~bayesphys.vmc.wavefunctions.slater.SlaterDeterminant.grad_lap`::

    grad_i ln|D| = sum_k grad phi_k(r_i) (A^-1)_ki
    lap_i ln|D| = sum_k lap phi_k(r_i) (A^-1)_ki - |grad_i ln|D||^2

plus the Gaussian and Pade-Jastrow terms of :mod:`bayesphys.vmc._numba_step`. A singular
matrix (a proposal exactly on a node, probability zero) gives ``ln|psi|^2 = -inf``: rejected.

Random streams, chunked sums, threads and the running moments are those of
:class:`~bayesphys.vmc._numba_step.NumbaMetropolis`, which this step subclasses; like it, the
chain is checked statistically against the torch path, not draw for draw.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from bayesphys.vmc._numba_step import NumbaMetropolis, numba_available
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction
from bayesphys.vmc.wavefunctions.gaussian import Gaussian, PadeJastrow, cusp_matrix
from bayesphys.vmc.wavefunctions.slater import SlaterDeterminant, SlaterJastrow

__all__ = ["NumbaSlaterMetropolis", "slater_supported"]

if numba_available():
    import numba

    from bayesphys.core._numba_random import normal as _normal
    from bayesphys.core._numba_random import uniform as _uniform
    from bayesphys.vmc._numba_walkers import FAST as _FAST
    from bayesphys.vmc._numba_walkers import acceptance, add_radii, clear_histogram

    @numba.njit(cache=True, inline="always", fastmath=_FAST)
    def _slater_energy(
        x, n, alpha, c, nxs, nys, maxn, omega2, pade, coulomb, cusp, beta, grad, h, mat, inv
    ):
        """``ln|psi|^2``, kinetic, potential energy and mean pair distance of one walker.

        ``x`` holds the ``2 n`` coordinates; ``grad``, ``h`` (Hermite table ``(n, 2,
        maxn + 1)``), ``mat`` and ``inv`` (``(n/2, n/2)``) are scratch.
        """
        m = n // 2
        gauss = 0.0
        for k in range(2 * n):
            xk = x[k]
            gauss += xk * xk
            grad[k] = -2.0 * alpha * xk
        log_psi = -alpha * gauss
        lap = -4.0 * alpha * n  # the Gaussian's Laplacian, -2 alpha per coordinate
        potential = 0.5 * omega2 * gauss
        r_sum = 0.0
        pair = 0
        for i in range(n):
            for j in range(i + 1, n):
                dx = x[2 * i] - x[2 * j]
                dy = x[2 * i + 1] - x[2 * j + 1]
                r = math.sqrt(dx * dx + dy * dy)
                r_sum += r
                if coulomb:
                    potential += 1.0 / r
                if pade:
                    a = cusp[pair]
                    inv_d = 1.0 / (1.0 + beta * r)
                    du = a * inv_d * inv_d
                    pull = du / r
                    log_psi += a * r * inv_d
                    lap += 2.0 * (-2.0 * beta * du * inv_d + pull)  # (d - 1) u'/r, d = 2
                    grad[2 * i] += pull * dx
                    grad[2 * j] -= pull * dx
                    grad[2 * i + 1] += pull * dy
                    grad[2 * j + 1] -= pull * dy
                pair += 1
        # Hermite polynomials H_k(c x) of every coordinate (three-term recurrence).
        for i in range(n):
            for axis in range(2):
                u = c * x[2 * i + axis]
                h[i, axis, 0] = 1.0
                if maxn >= 1:
                    h[i, axis, 1] = 2.0 * u
                for k in range(2, maxn + 1):
                    h[i, axis, k] = 2.0 * u * h[i, axis, k - 1] - 2.0 * (k - 1) * h[i, axis, k - 2]
        for spin in range(2):
            first = spin * m
            for r in range(m):
                for k in range(m):
                    mat[r, k] = h[first + r, 0, nxs[k]] * h[first + r, 1, nys[k]]
                    inv[r, k] = 1.0 if r == k else 0.0
            # Gauss-Jordan on [mat | 1] with partial pivoting: inv = mat^-1, ln|det| = sum of
            # ln|pivot|.
            for col in range(m):
                pivot_row = col
                largest = abs(mat[col, col])
                for r in range(col + 1, m):
                    if abs(mat[r, col]) > largest:
                        largest = abs(mat[r, col])
                        pivot_row = r
                if not largest > 0.0:  # singular (or NaN): probability zero, rejected
                    return -math.inf, math.nan, math.nan, math.nan
                if pivot_row != col:
                    for k in range(m):
                        mat[col, k], mat[pivot_row, k] = mat[pivot_row, k], mat[col, k]
                        inv[col, k], inv[pivot_row, k] = inv[pivot_row, k], inv[col, k]
                pivot = mat[col, col]
                log_psi += math.log(abs(pivot))
                scale = 1.0 / pivot
                for k in range(m):
                    mat[col, k] *= scale
                    inv[col, k] *= scale
                for r in range(m):
                    if r != col:
                        f = mat[r, col]
                        if f != 0.0:
                            for k in range(m):
                                mat[r, k] -= f * mat[col, k]
                                inv[r, k] -= f * inv[col, k]
            for r in range(m):
                i = first + r
                gx = 0.0
                gy = 0.0
                lap_ratio = 0.0
                for k in range(m):
                    nx = nxs[k]
                    ny = nys[k]
                    hx = h[i, 0, nx]
                    hy = h[i, 1, ny]
                    weight = inv[k, r]
                    if nx > 0:
                        gx += 2.0 * nx * c * h[i, 0, nx - 1] * hy * weight
                    if ny > 0:
                        gy += 2.0 * ny * c * hx * h[i, 1, ny - 1] * weight
                    if nx > 1:
                        lap_ratio += 4.0 * nx * (nx - 1) * c * c * h[i, 0, nx - 2] * hy * weight
                    if ny > 1:
                        lap_ratio += 4.0 * ny * (ny - 1) * c * c * hx * h[i, 1, ny - 2] * weight
                grad[2 * i] += gx
                grad[2 * i + 1] += gy
                lap += lap_ratio - (gx * gx + gy * gy)
        grad2 = 0.0
        for k in range(2 * n):
            grad2 += grad[k] * grad[k]
        kinetic = -0.5 * (lap + grad2)
        n_pairs = n * (n - 1) // 2
        r12 = r_sum / n_pairs if n_pairs else 0.0
        return 2.0 * log_psi, kinetic, potential, r12

    @functools.cache
    def _make_step(n: int, d: int):
        """The step compiled for ``n`` electrons in 2-D (cached on disk per ``n``)."""

        @numba.njit(cache=True, nogil=True, fastmath=_FAST)
        def _step(
            theta, log_prob, kinetic, potential, r12, step_size, rng,
            alpha, c, nxs, nys, maxn, omega2, pade, coulomb, cusp, beta, bins, scale,
            new_theta, new_log_prob, new_kinetic, new_potential, new_r12, energy,
            accepted, accept_prob, sums, hist, moment_sum, moment_sq, shift, moments,
            first_chunk, last_chunk,
        ):  # fmt: skip
            """One Metropolis step of the walkers of chunks ``first_chunk .. last_chunk - 1``
            (the layout of :mod:`bayesphys.vmc._numba_step`'s step). Releases the GIL."""
            walkers = theta.shape[0]
            nd = n * d
            m = n // 2
            chunks = sums.shape[0]
            for chunk in range(first_chunk, last_chunk):
                start = chunk * walkers // chunks
                stop = (chunk + 1) * walkers // chunks
                proposal = np.empty(nd)
                grad = np.empty(nd)
                h = np.empty((n, 2, maxn + 1))
                mat = np.empty((m, m))
                inv = np.empty((m, m))
                sum_kin = sum_kin2 = sum_pot = sum_pot2 = sum_r = sum_prob = 0.0
                clear_histogram(hist, chunk, bins)
                for w in range(start, stop):
                    state = rng[w]
                    step = step_size[w]
                    for k in range(nd):
                        g, state = _normal(state)
                        proposal[k] = theta[w, k] + step * g
                    u, state = _uniform(state)
                    rng[w] = state
                    lp, kin, pot, r = _slater_energy(
                        proposal, n, alpha, c, nxs, nys, maxn, omega2, pade, coulomb, cusp,
                        beta, grad, h, mat, inv,
                    )  # fmt: skip
                    prob = acceptance(lp - log_prob[w])
                    take = u < prob
                    accepted[w] = take
                    accept_prob[w] = prob
                    if take:
                        for k in range(nd):
                            new_theta[w, k] = proposal[k]
                        new_log_prob[w] = lp
                    else:
                        for k in range(nd):
                            new_theta[w, k] = theta[w, k]
                        new_log_prob[w] = log_prob[w]
                        kin = kinetic[w]
                        pot = potential[w]
                        r = r12[w]
                    new_kinetic[w] = kin
                    new_potential[w] = pot
                    new_r12[w] = r
                    energy[w] = kin + pot
                    if moments:
                        deviation = kin + pot - shift
                        moment_sum[w] += deviation
                        moment_sq[w] += deviation * deviation
                    sum_kin += kin
                    sum_kin2 += kin * kin
                    sum_pot += pot
                    sum_pot2 += pot * pot
                    sum_r += r
                    sum_prob += prob
                    add_radii(hist, chunk, new_theta, w, n, d, bins, scale)
                sums[chunk, 0] = sum_kin
                sums[chunk, 1] = sum_kin2
                sums[chunk, 2] = sum_pot
                sums[chunk, 3] = sum_pot2
                sums[chunk, 4] = sum_r
                sums[chunk, 5] = sum_prob

        return _step

    @numba.njit(cache=True, nogil=True, fastmath=_FAST)
    def _evaluate(
        theta, n, d, alpha, c, nxs, nys, maxn, omega2, pade, coulomb, cusp, beta,
        log_prob, kinetic, potential, r12,
    ):  # fmt: skip
        """``ln|psi|^2``, energies and mean pair distance of every walker (no move)."""
        m = n // 2
        grad = np.empty(n * d)
        h = np.empty((n, 2, maxn + 1))
        mat = np.empty((m, m))
        inv = np.empty((m, m))
        for w in range(theta.shape[0]):
            lp, kin, pot, r = _slater_energy(
                theta[w], n, alpha, c, nxs, nys, maxn, omega2, pade, coulomb, cusp, beta,
                grad, h, mat, inv,
            )  # fmt: skip
            log_prob[w] = lp
            kinetic[w] = kin
            potential[w] = pot
            r12[w] = r


def slater_supported(wf: WaveFunction, system: HarmonicTrap) -> bool:
    """True for ``SlaterJastrow`` (Pade factor or none) of the system's electrons in a free or
    Coulomb 2-D trap, with the spin pattern of its determinants (first half up)."""
    if type(wf) is not SlaterJastrow or system.dim != 2:
        return False
    if system.interaction not in (None, "coulomb"):
        return False
    kinds = [type(f) for f in wf.factors]
    if kinds not in ([Gaussian, SlaterDeterminant], [Gaussian, SlaterDeterminant, PadeJastrow]):
        return False
    return wf.factors[1].n_particles == system.n_particles


class NumbaSlaterMetropolis(NumbaMetropolis):
    """All-electron Metropolis for ``SlaterJastrow`` dots with the closed-form local energy.

    Parameters
    ----------
    wf : SlaterJastrow
        Trial function (:func:`slater_supported`); its parameters are read at every step
        unless frozen (:meth:`freeze_parameters`).
    system : HarmonicTrap
        The 2-D trap (free or Coulomb).
    generator : torch.Generator
        Seeds the walkers' streams (one 64-bit draw per walker).
    n_walkers : int
        Number of walkers.
    threads : int, optional
        Threads that run the loop; default torch's thread count now.
    """

    # A walker-step costs ~0.4-1.4 us of CPU for N = 6-12 (4-14x the 2e Pade step): threads
    # pay off from a few hundred walkers.
    min_walkers_per_thread = 256

    def __init__(
        self,
        wf: SlaterJastrow,
        system: HarmonicTrap,
        generator: torch.Generator,
        n_walkers: int,
        threads: int | None = None,
    ) -> None:
        super().__init__(None, generator, n_walkers, threads)
        self.wf, self.system = wf, system
        orbitals = wf.factors[1].orbitals
        self._nxs = np.array([o[0] for o in orbitals], dtype=np.int64)
        self._nys = np.array([o[1] for o in orbitals], dtype=np.int64)
        self._maxn = int(max(max(o) for o in orbitals))
        n = system.n_particles
        pade = len(wf.factors) == 3
        up = wf.factors[2].n_up if pade else None
        self._cusp = cusp_matrix(n, 2, n_up=up).numpy() if pade else np.zeros(1)

    def _kernel(self, n: int, d: int):
        return _make_step(n, d)

    def _evaluator(self):
        return _evaluate

    def _args(self) -> tuple:
        if self._frozen is not None:
            return self._frozen
        gauss, det = self.wf.factors[0], self.wf.factors[1]
        pade = len(self.wf.factors) == 3
        return (
            self.system.n_particles,
            2,
            float(gauss.alpha.detach()),
            math.sqrt(2.0 * float(det.alpha)),
            self._nxs,
            self._nys,
            self._maxn,
            float(self.system.omega) ** 2,
            pade,
            self.system.interaction == "coulomb",
            self._cusp,
            float(self.wf.factors[2].beta.detach()) if pade else 0.0,
        )
