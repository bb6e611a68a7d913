"""The default Metropolis step of ``vmc.estimate`` for ``GaussianJastrow``: one compiled loop.

:class:`~bayesphys.vmc.fused.FusedMetropolis` moves all walkers with whole-array torch
operations: every one of its some thirty passes reads and writes ``walkers``-long arrays, and
torch's random numbers (a Mersenne Twister feeding a Box-Muller transform) are a large part of
each step. Here one numba loop per walker draws the move, evaluates ``ln|psi|^2`` and the
closed-form local energy of the proposal (the formulas of :mod:`bayesphys.vmc.fused`), accepts
or rejects, and adds the step's observables (energy moments, mean pair distance, radial
histogram) to per-chunk sums, so a walker's numbers stay in registers and nothing
walker-sized is allocated but the new state.

Threads: the loop releases the GIL and runs disjoint ranges of walker chunks on a small thread
pool, as many threads as torch may use (:mod:`bayesphys.core.threads`); numba's own parallel
layer is not used, as its OpenMP pool and torch's compete for the same cores.

Random numbers: every walker owns a SplitMix64 stream, seeded from the walker population's
``torch.Generator``; normals come from the ziggurat (:mod:`bayesphys.core._numba_random`).
The chain is therefore *not* the generic one draw for draw: it samples the same ``|psi|^2``
with the same proposal and acceptance rule, which the tests check statistically against the
generic path and closed forms. Walkers are split into fixed chunks, whatever the thread
count, so a seed gives the same numbers on any number of threads.

The compiled code is cached on disk (``cache=True``): only the first run on a machine pays
for the compilation.
"""

from __future__ import annotations

import functools
import itertools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from bayesphys.vmc._moments import SplitMoments

try:  # numba is a dependency; without it (an unusual install) estimate uses the torch step
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["NumbaMetropolis", "numba_available"]

# Walkers are summed in this many fixed chunks (at most), so the per-chunk partial sums, and
# therefore the results, do not depend on how many threads run the chunks.
N_CHUNKS = 64
# Observables summed per chunk: kinetic, kinetic^2, potential, potential^2, r12, accept prob.
N_SUMS = 6
# Passed for the running-moment sums when a step adds none (never indexed then).
_NO_MOMENTS = np.zeros(1)
# Fewest walkers worth a thread of their own (below, thread hand-off costs more than it saves).
MIN_WALKERS_PER_THREAD = 4096


def numba_available() -> bool:
    """True if numba imports (it is a dependency, so normally always)."""
    return numba is not None


if numba is not None:
    from bayesphys.core._numba_random import normal as _normal
    from bayesphys.core._numba_random import uniform as _uniform
    from bayesphys.vmc._numba_walkers import FAST as _FAST
    from bayesphys.vmc._numba_walkers import acceptance, add_radii, clear_histogram

    @numba.njit(cache=True, inline="always", fastmath=_FAST)
    def _energy(x, n, d, alpha, gw, trap, omega2, pade, coulomb, cusp, beta, grad):
        """``ln|psi|^2``, kinetic, potential energy and mean pair distance of one walker.

        ``x`` holds the ``n * d`` coordinates; ``grad`` is scratch of the same length.
        """
        gauss = 0.0
        trap_sum = 0.0
        gw_sum = 0.0
        for k in range(n * d):
            xk = x[k]
            gauss += gw[k] * xk * xk
            trap_sum += trap[k] * xk * xk
            grad[k] = -2.0 * alpha * gw[k] * xk
            gw_sum += gw[k]
        log_psi = -alpha * gauss
        lap = -2.0 * alpha * gw_sum
        potential = 0.5 * omega2 * trap_sum
        r_sum = 0.0
        pair = 0
        if pade or coulomb:
            for i in range(n):
                for j in range(i + 1, n):
                    r2 = 0.0
                    for c in range(d):
                        diff = x[i * d + c] - x[j * d + c]
                        r2 += diff * diff
                    r = math.sqrt(r2)
                    inv_r = 1.0 / r
                    r_sum += r
                    if coulomb:
                        potential += inv_r
                    if pade:
                        a = cusp[pair]
                        inv = 1.0 / (1.0 + beta * r)
                        du = a * inv * inv
                        pull = du * inv_r
                        log_psi += a * r * inv
                        lap += 2.0 * (-2.0 * beta * du * inv + (d - 1) * pull)
                        for c in range(d):
                            g = pull * (x[i * d + c] - x[j * d + c])
                            grad[i * d + c] += g
                            grad[j * d + c] -= g
                    pair += 1
        else:
            for i in range(n):
                for j in range(i + 1, n):
                    r2 = 0.0
                    for c in range(d):
                        diff = x[i * d + c] - x[j * d + c]
                        r2 += diff * diff
                    r_sum += math.sqrt(r2)
        grad2 = 0.0
        for k in range(n * d):
            grad2 += grad[k] * grad[k]
        kinetic = -0.5 * (lap + grad2)
        n_pairs = n * (n - 1) // 2
        r12 = r_sum / n_pairs if n_pairs else 0.0
        return 2.0 * log_psi, kinetic, potential, r12

    @functools.cache
    def _make_step(n: int, d: int):
        """The step compiled for ``n`` particles in ``d`` dimensions: constant loop bounds let
        the compiler unroll the coordinate and pair loops (cached on disk per ``(n, d)``)."""

        @numba.njit(cache=True, nogil=True, fastmath=_FAST)
        def _step(
            theta, log_prob, kinetic, potential, r12, step_size, rng,
            alpha, gw, trap, omega2, pade, coulomb, cusp, beta, bins, scale,
            new_theta, new_log_prob, new_kinetic, new_potential, new_r12, energy,
            accepted, accept_prob, sums, hist, moment_sum, moment_sq, shift, moments,
            first_chunk, last_chunk,
        ):  # fmt: skip
            """One Metropolis step of the walkers of chunks ``first_chunk .. last_chunk - 1``;
            observables summed per chunk (module notes); with ``moments``, each walker's
            ``E - shift`` and its square added to ``moment_sum`` and ``moment_sq``
            (:class:`~bayesphys.vmc._moments.SplitMoments`). Releases the GIL: threads run
            disjoint chunk ranges at once."""
            walkers = theta.shape[0]
            nd = n * d
            chunks = sums.shape[0]
            for chunk in range(first_chunk, last_chunk):
                start = chunk * walkers // chunks
                stop = (chunk + 1) * walkers // chunks
                proposal = np.empty(nd)
                grad = np.empty(nd)
                sum_kin = sum_kin2 = sum_pot = sum_pot2 = sum_r = sum_prob = 0.0
                clear_histogram(hist, chunk, bins)
                for w in range(start, stop):
                    state = rng[w]
                    h = step_size[w]
                    for k in range(nd):
                        g, state = _normal(state)
                        proposal[k] = theta[w, k] + h * g
                    u, state = _uniform(state)
                    rng[w] = state
                    lp, kin, pot, r = _energy(
                        proposal, n, d, alpha, gw, trap, omega2, pade, coulomb, cusp, beta, grad
                    )
                    prob = acceptance(lp - log_prob[w])
                    take = u < prob
                    accepted[w] = take
                    accept_prob[w] = prob
                    if take:
                        for k in range(nd):
                            new_theta[w, k] = proposal[k]
                        new_log_prob[w] = lp
                        new_kinetic[w] = kin
                        new_potential[w] = pot
                        new_r12[w] = r
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
        theta, n, d, alpha, gw, trap, omega2, pade, coulomb, cusp, beta,
        log_prob, kinetic, potential, r12,
    ):  # fmt: skip
        """``ln|psi|^2``, energies and mean pair distance of every walker (no move)."""
        grad = np.empty(n * d)
        for w in range(theta.shape[0]):
            lp, kin, pot, r = _energy(
                theta[w], n, d, alpha, gw, trap, omega2, pade, coulomb, cusp, beta, grad
            )
            log_prob[w] = lp
            kinetic[w] = kin
            potential[w] = pot
            r12[w] = r


class NumbaMetropolis:
    """All-particle Metropolis with the closed-form local energy, compiled by numba.

    Parameters
    ----------
    fused : FusedMetropolis
        Supplies the current wave-function parameters (:meth:`FusedMetropolis.inputs`); its
        parameters are read at every step.
    generator : torch.Generator
        Seeds the walkers' streams (one 64-bit draw per walker).
    n_walkers : int
        Number of walkers.
    threads : int, optional
        Threads that run the loop (fewer for few walkers); default torch's thread count now.
    """

    # Fewest walkers worth a thread of their own (subclasses with costlier walkers: fewer).
    min_walkers_per_thread = MIN_WALKERS_PER_THREAD

    def __init__(
        self, fused, generator: torch.Generator, n_walkers: int, threads: int | None = None
    ) -> None:
        if numba is None:  # pragma: no cover
            raise RuntimeError("NumbaMetropolis needs numba")
        self.fused = fused
        seeds = torch.randint(
            -(2**63), 2**63 - 1, (n_walkers,), generator=generator, dtype=torch.int64
        )
        self.rng = seeds.numpy().view(np.uint64).copy()
        self.bins, self.scale = 0, 0.0
        self.chunks = max(1, min(N_CHUNKS, n_walkers))
        self.r12 = np.zeros(n_walkers)  # mean pair distance at each walker's position
        self.observables: dict[str, np.ndarray] | None = None
        # Where the next step writes the walkers' local energies (e.g. a row of the caller's
        # (steps, walkers) record, saving a copy); None: a fresh array.
        self.energy_out: np.ndarray | None = None
        # The running sums the next step adds its energies to, as (SplitMoments, recorded step
        # index); None: none. One step only, like energy_out.
        self.moments_out: tuple[SplitMoments, int] | None = None
        self._frozen: tuple | None = None  # the parameters, once frozen (freeze_parameters)
        # Threads: as given, or what the thread limiter allows torch when the run starts (the
        # caller may then drop torch itself to one thread), fewer for few walkers.
        threads = torch.get_num_threads() if threads is None else threads
        self.threads = max(1, min(threads, n_walkers // self.min_walkers_per_thread))

    def observe(self, bins: int, rmax: float) -> None:
        """Histogram the particles' radii in ``bins`` bins over ``[0, rmax)`` at every step."""
        self.bins, self.scale = int(bins), float(bins / rmax)

    def _kernel(self, n: int, d: int):
        """The compiled step for ``n`` particles in ``d`` dimensions (subclasses: another)."""
        return _make_step(n, d)

    def _evaluator(self):
        """The compiled evaluation of every walker (subclasses: another)."""
        return _evaluate

    def freeze_parameters(self) -> None:
        """Read the wave function's parameters once from now on: the caller promises they do
        not change (``vmc.estimate``; reading them costs a few torch calls per step)."""
        self._frozen = None
        self._frozen = self._args()

    def _args(self) -> tuple:
        if self._frozen is not None:
            return self._frozen
        p, spec = self.fused.inputs()
        pade = spec.pade
        return (
            spec.n_particles,
            spec.dim,
            float(p["alpha"]),
            np.ascontiguousarray(p["gw_flat"].numpy(), dtype=np.float64),
            np.ascontiguousarray(p["trap_flat"].numpy(), dtype=np.float64),
            float(p["omega2"]),
            pade,
            spec.coulomb,
            p["cusp"].numpy() if pade else np.zeros(1),
            float(p["beta"]) if pade else 0.0,
        )

    def energy(self, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``ln|psi|^2``, kinetic and potential energy at positions ``(walkers, ...)``; also
        refreshes the walkers' mean pair distances."""
        W = theta.shape[0]
        x = np.ascontiguousarray(theta.detach().reshape(W, -1).numpy(), dtype=np.float64)
        log_prob, kinetic, potential, r12 = np.empty(W), np.empty(W), np.empty(W), np.empty(W)
        self._evaluator()(x, *self._args(), log_prob, kinetic, potential, r12)
        self.r12 = r12
        return torch.from_numpy(log_prob), torch.from_numpy(kinetic), torch.from_numpy(potential)

    def step(
        self, theta: Tensor, log_prob: Tensor, kinetic: Tensor, potential: Tensor, step_size: Tensor
    ) -> tuple[Tensor, ...]:
        """Advance all walkers once; returns new ``theta``, ``log_prob``, ``kinetic``,
        ``potential``, ``accepted`` and ``accept_prob`` (fresh tensors) and keeps the step's
        observables in :attr:`observables`."""
        W, nd = theta.shape
        # The compiled loop does not check bounds: every per-walker array must have W rows.
        if not (self.rng.shape[0] == self.r12.shape[0] == W == step_size.shape[0]):
            raise ValueError(f"{W} walkers, but the step was set up for {self.rng.shape[0]}")
        new_theta = np.empty((W, nd))
        new_log_prob, new_kinetic, new_potential = np.empty(W), np.empty(W), np.empty(W)
        new_r12, accept_prob = np.empty(W), np.empty(W)
        energy = np.empty(W) if self.energy_out is None else self.energy_out
        self.energy_out = None  # one step only
        accepted = np.empty(W, dtype=np.bool_)
        moments, self.moments_out = self.moments_out, None
        if moments is None:
            moment_sum = moment_sq = _NO_MOMENTS
            shift = 0.0
        else:
            tracker, t = moments
            if tracker.shift is None:  # the energies before the first recorded step
                tracker.shift = float(np.mean(_c(kinetic) + _c(potential)))
            (moment_sum, moment_sq), shift = tracker.rows(t), tracker.shift
            if moment_sum.shape[0] != W:
                raise ValueError(f"{W} walkers, but the moments hold {moment_sum.shape[0]}")
        sums = np.empty((self.chunks, N_SUMS))
        hist = np.empty((self.chunks, max(self.bins, 1)))
        n, d, *rest = self._args()
        args = (
            _c(theta), _c(log_prob), _c(kinetic), _c(potential), self.r12, _c(step_size),
            self.rng, *rest, self.bins, self.scale,
            new_theta, new_log_prob, new_kinetic, new_potential, new_r12, energy,
            accepted, accept_prob, sums, hist, moment_sum, moment_sq, shift, moments is not None,
        )  # fmt: skip
        _step = self._kernel(n, d)
        if self.threads == 1:
            _step(*args, 0, self.chunks)
        else:  # disjoint chunk ranges: the pool's threads and this one; _step drops the GIL
            bounds = [self.chunks * i // self.threads for i in range(self.threads + 1)]
            ranges = list(itertools.pairwise(bounds))
            futures = [_pool(self.threads - 1).submit(_step, *args, *r) for r in ranges[1:]]
            _step(*args, *ranges[0])
            for future in futures:
                future.result()
        self.r12 = new_r12
        if moments is not None:
            moments[0].added()
        total = sums.sum(axis=0)
        self.observables = {
            "energy": energy,
            "kinetic_mean": total[0] / W,
            "kinetic_sq": total[1] / W,
            "potential_mean": total[2] / W,
            "potential_sq": total[3] / W,
            "r12": total[4] / W,
            "accept_prob": total[5] / W,
            "counts": hist.sum(axis=0)[: self.bins],
        }
        return tuple(
            torch.from_numpy(a)
            for a in (new_theta, new_log_prob, new_kinetic, new_potential, accepted, accept_prob)
        )


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """A thread pool per thread count, kept for the process (threads idle between steps)."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vmc-numba")


def _c(t: Tensor) -> np.ndarray:
    """A tensor as a C-contiguous float64 numpy array (no copy when it already is one)."""
    return np.ascontiguousarray(t.detach().numpy(), dtype=np.float64)
