"""Walker groups for :func:`bayesphys.vmc.estimate`: one picklable task per group.

A group is a fixed slice of the walkers with its own seed. It runs burn-in and the recorded
steps on its own (walkers never interact in VMC) and returns its local-energy series and the
per-step averages the other estimates need. :func:`combine_groups` merges the groups in group
order, so the result depends on the number of groups, never on where they ran.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bayesphys.core.samplers.sampling import RandomState, make_generator
from bayesphys.core.stats import Stats
from bayesphys.core.threads import torch_threads
from bayesphys.vmc._moments import SplitMoments
from bayesphys.vmc.samplers import VMCSampler, Walkers, uses_compiled_step
from bayesphys.vmc.systems import HarmonicTrap, pair_distances
from bayesphys.vmc.wavefunctions.base import WaveFunction

# Default group size with a client: large enough that the vectorised step over a group's
# walkers stays efficient and the per-task overhead is negligible, small enough
# that 1e4+ walkers give every worker of a small cluster something to do.
WALKERS_PER_GROUP = 1000
MAX_DEFAULT_GROUPS = 64
# Seconds between refreshes of the bar's running figures (each reads the walkers' sums once).
POSTFIX_INTERVAL = 0.5


@dataclass(frozen=True)
class WalkerGroupTask:
    """Everything one group needs on a worker: plain data and picklable torch objects."""

    index: int
    wf: WaveFunction
    system: HarmonicTrap
    sampler: VMCSampler
    n_walkers: int
    n_steps: int
    burn_in: int
    random_state: RandomState
    method: str
    init: torch.Tensor | None
    density_bins: int
    rmax: float
    # In-process only: the run's one tqdm bar, advanced once per recorded step (not pickled:
    # on Dask the client's bar counts finished groups instead).
    bar: Any = None


@dataclass(frozen=True)
class WalkerGroupResult:
    """What a group sends back: per-walker series and per-step group averages."""

    n_walkers: int
    energies: torch.Tensor  # (steps, walkers)
    kinetic: torch.Tensor  # (steps,) mean over the group's walkers
    potential: torch.Tensor  # (steps,)
    kinetic_sq: torch.Tensor  # (steps,) mean of the squared local kinetic energy
    potential_sq: torch.Tensor  # (steps,)
    r12: torch.Tensor  # (steps,) mean pair distance (zeros for one particle)
    counts: torch.Tensor  # (bins,) radial histogram counts (exact integers in float64)
    acceptance: float  # mean acceptance probability over the recorded steps
    step_size: float  # mean adapted step of the group's walkers
    interrupted: bool = False  # stopped by Ctrl-C: the series hold the completed steps only
    index: int = -1  # the task's group index
    # Means and ddof=1 variances of both halves of every walker's energies, (2, walkers) each,
    # summed during the run for the bar's split R-hat; None when not kept (bar hidden) or
    # interrupted.
    half_means: np.ndarray | None = None
    half_variances: np.ndarray | None = None


def default_groups(n_walkers: int, client) -> int:
    """One group in-process; with a client ``ceil(n_walkers / 1000)``, at most 64."""
    if client is None:
        return 1
    return max(1, min(math.ceil(n_walkers / WALKERS_PER_GROUP), MAX_DEFAULT_GROUPS, n_walkers))


def run_walker_group(task: WalkerGroupTask) -> WalkerGroupResult:
    """Burn in and record ``task.n_steps`` steps of one walker group (runs on a worker)."""
    threads = torch.get_num_threads()
    # With the numba step torch only does bookkeeping and the set-up's checks of the start
    # positions: one torch thread keeps its OpenMP pool from spinning on the cores that
    # numba's threads need (and, on a loaded machine, from waiting at its barriers: the set-up
    # took ~10x longer on two threads there).
    compiled = uses_compiled_step(task.wf, task.system, task.sampler)
    with torch_threads(1 if compiled else None, blas=False):
        return _run_walker_group(task, threads)


def _run_walker_group(task: WalkerGroupTask, threads: int) -> WalkerGroupResult:
    """:func:`run_walker_group` with the numba step on ``threads`` threads where it applies."""
    generator = make_generator(task.random_state, torch.device("cpu"))
    walkers = Walkers(
        task.wf, task.system, task.sampler, task.n_walkers, generator, task.init,
        compiled=True, threads=threads,
    )  # fmt: skip
    n_steps, bins, rmax = task.n_steps, task.density_bins, task.rmax
    counts = torch.zeros(bins, dtype=torch.float64)
    energies = torch.empty(n_steps, task.n_walkers, dtype=torch.float64)
    energies_np = energies.numpy()
    kinetic = torch.empty(n_steps, dtype=torch.float64)
    potential = torch.empty(n_steps, dtype=torch.float64)
    kinetic_sq = torch.empty(n_steps, dtype=torch.float64)
    potential_sq = torch.empty(n_steps, dtype=torch.float64)
    r12 = torch.zeros(n_steps, dtype=torch.float64)
    accept = 0.0
    many = task.system.n_particles > 1
    # The bar's figures come from running sums, never from re-reading the record.
    moments = SplitMoments(task.n_walkers, n_steps) if task.bar is not None else None
    next_postfix = time.monotonic() + POSTFIX_INTERVAL
    done = 0  # steps completed: what a Ctrl-C during the recorded steps keeps
    if walkers.compiled is not None:  # estimate never changes the wave function
        walkers.compiled.freeze_parameters()
    with walkers.prefetching():
        with torch.no_grad():
            walkers.burn_in(task.burn_in)  # a Ctrl-C here propagates: nothing is complete
        # The numba step sums the observables inside its loop (its energies are the fused ones).
        compiled = walkers.compiled if task.method == "auto" else None
        if compiled is not None:
            compiled.observe(bins, rmax)
        try:
            for t in range(n_steps):
                if compiled is not None:
                    compiled.energy_out = energies_np[t]  # the step writes E_L there
                    if moments is not None:
                        compiled.moments_out = (moments, t)  # and adds it to the sums
                info, e = walkers.step_with_energy(task.method)
                if compiled is not None:
                    obs = compiled.observables
                    step_accept = obs["accept_prob"]
                    kinetic[t], kinetic_sq[t] = obs["kinetic_mean"], obs["kinetic_sq"]
                    potential[t], potential_sq[t] = obs["potential_mean"], obs["potential_sq"]
                    r12[t] = obs["r12"]
                    step_counts = torch.from_numpy(obs["counts"])
                else:
                    step_accept = float(info.accept_prob.mean())
                    energies[t] = e.total
                    kinetic[t] = e.kinetic.mean()
                    potential[t] = e.potential.mean()
                    kinetic_sq[t] = torch.dot(e.kinetic, e.kinetic) / task.n_walkers
                    potential_sq[t] = torch.dot(e.potential, e.potential) / task.n_walkers
                    step_counts = _radial_counts(walkers.positions, bins, rmax)
                    if many:
                        r12[t] = pair_distances(walkers.positions)[0].mean()
                    if moments is not None:
                        moments.add(t, energies_np[t])
                # Committed together, so an interrupted step leaves no trace in the sums.
                accept += step_accept
                counts += step_counts
                done = t + 1
                if task.bar is not None:
                    if time.monotonic() >= next_postfix:
                        task.bar.set_postfix_str(
                            _live_postfix(moments, accept / done), refresh=False
                        )
                        next_postfix = time.monotonic() + POSTFIX_INTERVAL
                    task.bar.update(1)
        except KeyboardInterrupt:
            if done == 0:
                raise

    def kept(series: torch.Tensor) -> torch.Tensor:
        return series[:done].clone() if done < n_steps else series

    halves = moments.halves() if moments is not None and done == n_steps else None

    return WalkerGroupResult(
        n_walkers=task.n_walkers,
        energies=kept(energies),
        kinetic=kept(kinetic),
        potential=kept(potential),
        kinetic_sq=kept(kinetic_sq),
        potential_sq=kept(potential_sq),
        r12=kept(r12),
        counts=counts,
        acceptance=accept / done,
        step_size=float(walkers.step_size.mean()),
        interrupted=done < n_steps,
        index=task.index,
        half_means=None if halves is None else halves[0],
        half_variances=None if halves is None else halves[1],
    )


def _live_postfix(moments: SplitMoments, acceptance: float) -> str:
    """The bar's figures during the run: ``E = 3.00040 +- 0.00020 [var = 0.0018, acc = 0.52]``.

    The error is the scatter of the walker means (honest whatever the correlation time, as
    walkers are independent); the final line replaces it with the blocking error.
    """
    mean, variance, stderr = moments.live()
    # No series: the summary has no R-hat to print, and the format is the final line's.
    return "E = " + Stats(mean, stderr, variance, math.nan).summary(f"acc = {acceptance:.2f}")


def _radial_counts(R: torch.Tensor, bins: int, rmax: float) -> torch.Tensor:
    """Histogram of the particles' distances from the trap centre over ``[0, rmax)``."""
    with torch.no_grad():
        radius = torch.linalg.vector_norm(R, dim=-1).reshape(-1)
        # floor + bincount: torch.histc is far slower on CPU.
        idx = (radius * (bins / rmax)).long()
        idx = idx[idx < bins]
        return torch.bincount(idx, minlength=bins).to(torch.float64)


def combine_groups(results: list[WalkerGroupResult]) -> WalkerGroupResult:
    """Merge groups in order: walkers concatenated, averages weighted by group size.

    One group is returned unchanged, so a single-group run is bit-for-bit the former
    single-population code path.
    """
    if len(results) == 1:
        return results[0]
    total = sum(r.n_walkers for r in results)
    weights = [r.n_walkers / total for r in results]
    have_halves = all(r.half_means is not None for r in results)

    def halves(attr: str) -> np.ndarray | None:
        return np.concatenate([getattr(r, attr) for r in results], axis=1) if have_halves else None

    def mean(attr: str) -> torch.Tensor:
        return sum(w * getattr(r, attr) for w, r in zip(weights, results, strict=True))

    return WalkerGroupResult(
        n_walkers=total,
        energies=torch.cat([r.energies for r in results], dim=1),
        kinetic=mean("kinetic"),
        potential=mean("potential"),
        kinetic_sq=mean("kinetic_sq"),
        potential_sq=mean("potential_sq"),
        r12=mean("r12"),
        counts=sum(r.counts for r in results),
        acceptance=float(np.dot(weights, [r.acceptance for r in results])),
        step_size=float(np.dot(weights, [r.step_size for r in results])),
        half_means=halves("half_means"),
        half_variances=halves("half_variances"),
    )
