"""Walker groups of :func:`bayesphys.vmc.optimize` that live where they run.

A group's walkers (positions, adapted steps, random stream) are a :class:`GroupState`. One
optimisation iteration of a group is the pure function :func:`advance_group`: it takes the
state and the current parameters and returns the next state and a :class:`GroupSums` of a few
numbers per parameter. On a Dask cluster the states stay in worker memory as task results, so
only the parameters travel to the workers and only the sums travel back; in-process the same
functions run here. A state is never modified in place, so a task that is rerun (after an error
or a lost worker) gives the same result.

Building a group's sampler (wave-function copy, kernel, fused or compiled step) costs more than
an iteration, so each process keeps the built samplers of a run in :data:`_RUNTIMES`, keyed by
run token and group, and drops them with :func:`release`.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from bayesphys.core.samplers.sampling import make_generator
from bayesphys.vmc.samplers import VMCSampler, Walkers
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction

_RUNTIMES: dict[tuple[str, int], Walkers] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class GroupSpec:
    """What does not change during a run (shipped with every task: a few kilobytes)."""

    token: str
    wf: WaveFunction
    system: HarmonicTrap
    sampler: VMCSampler
    steps: int
    method: str
    per_sample_gradients: bool  # stochastic reconfiguration needs the O covariance


@dataclass(frozen=True)
class GroupState:
    """A walker group between iterations: everything that makes its chain continue exactly."""

    index: int
    positions: Tensor  # (walkers, N, d)
    step_size: Tensor  # (walkers,) the kernel's adapted step (dt**0.5 for Langevin)
    generator_state: Tensor

    @property
    def n_walkers(self) -> int:
        return int(self.positions.shape[0])


@dataclass(frozen=True)
class GroupSums:
    """What a group returns per iteration: moments and sums over its samples.

    ``energy_m2`` and ``walker_m2`` are sums of squared deviations from the group's own means
    (combined exactly across groups); ``sum_centred_o`` is ``sum_i (E_i - mean_E) O_i`` and
    ``o_m2`` the scatter matrix of ``O`` (SR only).
    """

    n_samples: int
    n_walkers: int
    energy_mean: float
    energy_m2: float
    walker_mean: float
    walker_m2: float
    accept_sum: float
    finite: bool
    sum_o: Tensor
    sum_centred_o: Tensor
    o_m2: Tensor | None


def init_group(
    spec: GroupSpec, index: int, n_walkers: int, random_state, init: Tensor | None, burn_in: int
) -> GroupState:
    """Place a group's walkers and burn them in (adapting the step) from its own seed."""
    generator = make_generator(random_state, torch.device("cpu"))
    walkers = Walkers(spec.wf, spec.system, spec.sampler, n_walkers, generator, init)
    with torch.no_grad(), walkers.prefetching():
        walkers.burn_in(burn_in)
    return _export(index, walkers)


def advance_group(
    state: GroupState, spec: GroupSpec, params: dict[str, Tensor]
) -> tuple[GroupState, GroupSums]:
    """One iteration of one group: ``spec.steps`` steps with ``params``, then the sums."""
    walkers = _runtime(spec, state)
    wf = walkers.wf
    wf.load_state_dict(params)
    walkers.state = replace(
        walkers.state,
        theta=state.positions.reshape(state.n_walkers, -1).clone(),
        step_size=state.step_size.clone(),
    )
    walkers.state.generator.set_state(state.generator_state)
    walkers.refresh()
    positions, energies, accept = [], [], 0.0
    with walkers.prefetching():
        for _ in range(spec.steps):
            info, e = walkers.step_with_energy(spec.method)
            accept += float(info.accept_prob.sum())
            positions.append(walkers.positions.clone())
            energies.append(e.total.detach())
    sums = _sums(spec, wf, torch.cat(positions), torch.cat(energies), accept)
    return _export(state.index, walkers), sums


def _sums(spec: GroupSpec, wf: WaveFunction, R: Tensor, e: Tensor, accept: float) -> GroupSums:
    n_walkers = R.shape[0] // spec.steps
    finite = bool(torch.isfinite(e).all())
    params = [p for p in wf.parameters() if p.requires_grad]
    energy_mean = e.mean()
    walker_means = e.view(spec.steps, n_walkers).mean(0)
    walker_mean = walker_means.mean()
    centred = e - energy_mean
    o_m2 = None
    if not finite:
        zeros = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
        sum_o = sum_centred_o = zeros
    elif spec.per_sample_gradients:
        O = per_sample_log_psi_gradients(wf, R)
        sum_o = O.sum(0)
        sum_centred_o = centred @ O
        deviation = O - O.mean(0)
        o_m2 = deviation.T @ deviation
    else:
        log_psi = wf.log_psi(R)
        sum_centred_o = _flat_grad((centred * log_psi).sum(), params, retain=True)
        sum_o = _flat_grad(log_psi.sum(), params, retain=False)
    return GroupSums(
        n_samples=int(e.numel()),
        n_walkers=n_walkers,
        energy_mean=float(energy_mean),
        energy_m2=float((centred**2).sum()),
        walker_mean=float(walker_mean),
        walker_m2=float(((walker_means - walker_mean) ** 2).sum()),
        accept_sum=accept,
        finite=finite,
        sum_o=sum_o,
        sum_centred_o=sum_centred_o,
        o_m2=o_m2,
    )


def _flat_grad(value: Tensor, params: list[Tensor], *, retain: bool) -> Tensor:
    grads = torch.autograd.grad(value, params, retain_graph=retain)
    return torch.cat([g.reshape(-1) for g in grads]).detach()


def per_sample_log_psi_gradients(wf: WaveFunction, R: Tensor) -> Tensor:
    """``O_i = d ln|psi(R_i)| / d theta`` of every sample, ``(samples, n_parameters)``."""
    names = [n for n, p in wf.named_parameters() if p.requires_grad]
    values = {n: p.detach() for n, p in wf.named_parameters()}

    def single(theta: dict, r: Tensor) -> Tensor:
        return torch.func.functional_call(wf, ({**values, **theta},), (r.unsqueeze(0),))[0]

    grads = torch.func.vmap(torch.func.grad(single), in_dims=(None, 0))(
        {n: values[n] for n in names}, R
    )
    return torch.cat([grads[n].reshape(R.shape[0], -1) for n in names], dim=1)


def _runtime(spec: GroupSpec, state: GroupState) -> Walkers:
    key = (spec.token, state.index)
    with _LOCK:
        walkers = _RUNTIMES.get(key)
    if walkers is None:
        wf = copy.deepcopy(spec.wf)
        generator = torch.Generator()
        walkers = Walkers(wf, spec.system, spec.sampler, state.n_walkers, generator,
                          state.positions)  # fmt: skip
        with _LOCK:
            _RUNTIMES[key] = walkers
    return walkers


def _export(index: int, walkers: Walkers) -> GroupState:
    step = walkers.state.step_size.detach().clone()
    return GroupState(
        index=index,
        positions=walkers.positions.detach().clone(),
        step_size=step,
        generator_state=walkers.state.generator.get_state(),
    )


def release(token: str) -> int:
    """Drop the built samplers of run ``token`` in this process; return how many."""
    with _LOCK:
        keys = [k for k in _RUNTIMES if k[0] == token]
        for key in keys:
            del _RUNTIMES[key]
    return len(keys)


@dataclass(frozen=True)
class IterationTotals:
    """The groups' sums of one iteration combined (exactly, whatever the grouping)."""

    energy: float
    stderr: float  # from walker means: walkers are independent chains
    variance: float
    acceptance: float
    r_hat: float  # Gelman-Rubin over walkers (ArviZ rhat(method="identity")); NaN if undefined
    gradient: Tensor  # dE/dtheta = 2 <(E_L - E) O>
    overlap: Tensor | None  # S = cov(O), stochastic reconfiguration only


def _r_hat_from_moments(steps: int, walkers: int, m2: float, walker_m2: float) -> float:
    """Gelman-Rubin R-hat over walkers from the pooled moments the groups already send.

    Every walker runs the same number of steps, so the scatter about the grand mean splits
    into within-walker scatter and ``steps`` times the scatter of the walker means. With the
    few steps of one iteration a split or rank-normalised R-hat (:mod:`bayesphys.core.stats`)
    would need every walker's series sent back; this is ArviZ's ``rhat(method="identity")``.
    """
    within_m2 = m2 - steps * walker_m2
    if steps < 2 or walkers < 2 or within_m2 <= 0.0:
        return math.nan
    within = within_m2 / (walkers * (steps - 1))
    between = steps * walker_m2 / (walkers - 1)
    return math.sqrt(((steps - 1) / steps * within + between / steps) / within)


def reduce_sums(sums: list[GroupSums]) -> IterationTotals:
    """Combine group moments with the parallel (Chan et al.) update, in group order.

    One group's own means are returned unchanged (weights of exactly 1.0), so a single group
    reproduces the moments computed over all samples at once up to round-off.
    """
    if not all(s.finite for s in sums):
        raise FloatingPointError("non-finite local energies (NaN or inf)")
    n = sum(s.n_samples for s in sums)
    walkers = sum(s.n_walkers for s in sums)
    energy = sum(s.n_samples / n * s.energy_mean for s in sums)
    m2 = sum(s.energy_m2 + s.n_samples * (s.energy_mean - energy) ** 2 for s in sums)
    walker_mean = sum(s.n_walkers / walkers * s.walker_mean for s in sums)
    walker_m2 = sum(s.walker_m2 + s.n_walkers * (s.walker_mean - walker_mean) ** 2 for s in sums)
    # sum_i (E_i - E) O_i over all samples, from each group's deviations from its own mean.
    centred_o = sum(s.sum_centred_o + (s.energy_mean - energy) * s.sum_o for s in sums)
    overlap = None
    if sums[0].o_m2 is not None:
        mean_o = sum(s.sum_o for s in sums) / n
        scatter = sum(
            s.o_m2 + s.n_samples * torch.outer(s.sum_o / s.n_samples - mean_o,
                                               s.sum_o / s.n_samples - mean_o)
            for s in sums
        )  # fmt: skip
        overlap = scatter / n
    return IterationTotals(
        energy=float(energy),
        stderr=math.sqrt(walker_m2 / (walkers - 1) / walkers),
        variance=m2 / (n - 1),
        acceptance=sum(s.accept_sum for s in sums) / n,
        r_hat=_r_hat_from_moments(n // walkers, walkers, m2, walker_m2),
        gradient=2.0 * centred_o / n,
        overlap=overlap,
    )
