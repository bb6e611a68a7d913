"""The :func:`sample` driver: tuning, drawing, thinning, progress and interruption handling."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from bayesphys.core._transitions import warn_transitions
from bayesphys.core.chains import (
    check_groups,
    group_seeds,
    groups_progress,
    run_groups,
    split_sizes,
)
from bayesphys.core.distributed import check_client, spawn_seeds
from bayesphys.core.interrupts import warn_interrupted
from bayesphys.core.progress import progress_bar
from bayesphys.core.samplers.adaptation import WindowAdaptation
from bayesphys.core.samplers.base import Kernel, LogProbFn, StepInfo, as_positions
from bayesphys.core.samplers.hmc import HMC
from bayesphys.core.samplers.mala import MALA
from bayesphys.core.samplers.metropolis import RandomWalkMetropolis
from bayesphys.core.samplers.nuts import NUTS
from bayesphys.core.samplers.result import SamplerResult
from bayesphys.core.validation import check_positive_int, check_progressbar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tqdm.auto import tqdm

KERNELS: dict[str, type[Kernel]] = {
    "hmc": HMC,
    "nuts": NUTS,
    "mala": MALA,
    "rwm": RandomWalkMetropolis,
    "metropolis": RandomWalkMetropolis,
}

# Progress-bar postfix refreshes force a device sync, so they are rationed.
_POSTFIX_EVERY = 50

RandomState = int | torch.Generator | np.random.Generator | np.random.SeedSequence | None


def validate_random_state(random_state: object, name: str = "random_state") -> None:
    """Raise a TypeError/ValueError naming ``name`` unless ``random_state`` is a valid seed.

    Valid: ``None``, an int >= 0, a ``torch.Generator``, a numpy ``Generator`` or
    ``SeedSequence``. Checked up front so that the error names the caller's argument whether
    the run has one chain group (seeded directly) or several (seeds spawned).
    """
    if random_state is None or isinstance(
        random_state, torch.Generator | np.random.Generator | np.random.SeedSequence
    ):
        return
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an int, a torch.Generator, a numpy Generator or a "
            f"SeedSequence, got {type(random_state).__name__}"
        )
    if random_state < 0:
        raise ValueError(f"{name} must be >= 0, got {random_state}")


def make_kernel(method: str | Kernel, **kernel_kwargs: object) -> Kernel:
    """Return a kernel instance from a name (``"nuts"``, ``"hmc"``, ``"mala"``, ``"rwm"``)."""
    if isinstance(method, Kernel):
        if kernel_kwargs:
            raise TypeError(
                f"kernel options {sorted(kernel_kwargs)} cannot be combined with a kernel "
                "instance; set them on the instance"
            )
        return method
    if not isinstance(method, str) or method.lower() not in KERNELS:
        raise ValueError(f"method must be one of {sorted(KERNELS)} or a Kernel, got {method!r}")
    return KERNELS[method.lower()](**kernel_kwargs)


def make_generator(random_state: RandomState, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` from ``random_state``.

    An int seeds it; ``None`` seeds it from OS entropy; a ``torch.Generator`` is used as is; a
    numpy ``SeedSequence`` or ``Generator`` contributes one 63-bit seed (see
    :func:`~bayesphys.core.distributed.spawn_seeds`).
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    generator = torch.Generator(device=device)
    if random_state is None:
        generator.seed()
    elif isinstance(random_state, np.random.SeedSequence | np.random.Generator):
        generator.manual_seed(spawn_seeds(random_state, 1)[0])
    else:
        generator.manual_seed(check_positive_int(random_state, "random_state", minimum=0))
    return generator


def sample(
    log_prob: LogProbFn,
    init: Tensor,
    *,
    method: str | Kernel = "hmc",
    draws: int = 1000,
    tune: int = 1000,
    thin: int = 1,
    random_state: RandomState = None,
    progressbar: bool | None = None,
    chain_groups: int | None = None,
    client=None,
    compute_convergence_checks: bool = True,
    **kernel_kwargs: object,
) -> SamplerResult:
    """Run vectorised MCMC on all chains at once.

    Parameters
    ----------
    log_prob : callable
        ``log_prob(theta: Tensor[chains, dim]) -> Tensor[chains]``, unnormalised log density
        (differentiable with torch autograd for ``"nuts"``, ``"hmc"`` and ``"mala"``, unless it
        has a ``value_and_grad(theta) -> (log_prob, grad)`` attribute, which those kernels then
        call instead of autograd). Return ``-inf`` outside the support; non-finite values at a
        proposal reject it.
    init : Tensor
        Initial positions ``(chains, dim)``; non-tensors are converted to float64. The draws
        keep its dtype and device.
    method : {"hmc", "nuts", "mala", "rwm"} or Kernel
        Transition kernel, by name (options in ``kernel_kwargs``) or as a configured instance.
    draws : int
        Kept draws per chain after tuning.
    tune : int
        Tuning iterations (step size and, for NUTS/HMC/MALA, mass matrix adaptation);
        discarded.
    thin : int
        Transitions per kept draw.
    random_state : int, torch.Generator, numpy Generator or SeedSequence, optional
        Seed of the sampler's own ``torch.Generator`` (a ``torch.Generator`` is used as is);
        the same seed gives identical results. ``None``: fresh OS entropy.
    progressbar : bool, optional
        Show a tqdm progress bar (with a client: one bar counting finished chain groups);
        ``None`` (default) shows it, as for every MCMC run.
    chain_groups : int, optional
        Split the chains into this many groups of (almost) equal size, each tuned and run on
        its own (own step sizes and mass matrix) from its own seed, spawned from
        ``random_state`` by
        :func:`~bayesphys.core.distributed.spawn_seeds`. The draws depend on ``chain_groups``
        but not on where the groups run: the same value gives bit-for-bit the same draws
        in-process and on any number of Dask workers. Default: 1 in-process (all chains in
        lockstep, seeded with ``random_state``), one group per chain with a ``client``.
    client : dask.distributed.Client, optional
        Run the chain groups as tasks on this Dask cluster (``log_prob`` must be picklable
        with cloudpickle). A group lost with its worker is rerun with the same seed.
    compute_convergence_checks : bool
        Warn (``RuntimeWarning``) about divergent transitions after tuning and about NUTS
        trees cut at ``max_treedepth`` (see :func:`transition_warnings`). R-hat and ESS are
        :func:`bayesphys.results.convergence_warnings`' job.
    **kernel_kwargs
        Passed to the kernel class, e.g. ``step_size``, ``n_leapfrog``, ``max_treedepth``,
        ``target_accept`` (default 0.8 for HMC and NUTS).

    Returns
    -------
    SamplerResult

    Raises
    ------
    KeyboardInterrupt
        Ctrl-C before the first draw (during tuning): there is nothing to return.

    Notes
    -----
    Ctrl-C after the first draw stops sampling and returns the draws completed so far (the same
    number for every chain), marked: ``result.interrupted`` is True, ``result.progress`` and an
    :class:`~bayesphys.core.interrupts.InterruptedRunWarning` say how far it got. With several
    chain groups, the groups that finished are kept and the partial ones dropped (if none
    finished, the partial draws of the interrupted one are kept; see
    :func:`~bayesphys.core.chains.run_groups`).

    Examples
    --------
    >>> import torch
    >>> from bayesphys.samplers import sample
    >>> def log_prob(theta):  # standard normal in 2-D; theta has shape (chains, 2)
    ...     return -0.5 * (theta**2).sum(-1)
    >>> init = torch.zeros(4, 2, dtype=torch.float64)
    >>> result = sample(log_prob, init, draws=300, tune=300, random_state=0, progressbar=False)
    >>> result.samples.shape
    torch.Size([4, 300, 2])
    >>> bool(abs(result.samples.mean()) < 0.2)
    True
    >>> idata = result.to_inference_data(names=["x", "y"])
    >>> sorted(idata.posterior.data_vars)
    ['x', 'y']
    >>> float(idata.sample_stats.energy.mean()) > 0  # Hamiltonian at each transition's start
    True
    """
    kernel = make_kernel(method, **kernel_kwargs)
    init = as_positions(init, "init")
    draws = check_positive_int(draws, "draws", minimum=0)
    tune = check_positive_int(tune, "tune", minimum=0)
    thin = check_positive_int(thin, "thin")
    progressbar = check_progressbar(progressbar)
    validate_random_state(random_state)
    client = check_client(client)
    n_chains = init.shape[0]
    default = 1 if client is None else n_chains
    n_groups = check_groups(chain_groups, n_chains, default, name="chain_groups", unit="chains")
    tasks = [
        ChainGroupTask(
            log_prob,
            rows,
            kernel,
            draws,
            tune,
            thin,
            group_seed,
            progressbar and client is None,
            label="" if n_groups == 1 else f" (group {i + 1}/{n_groups})",
        )
        for i, (rows, group_seed) in enumerate(
            zip(
                torch.split(init, split_sizes(n_chains, n_groups)),
                group_seeds(random_state, n_groups),
                strict=True,
            )
        )
    ]
    results = run_groups(
        run_chain_group,
        tasks,
        client,
        finished=_finished,
        name=f"sample-{kernel.name}",
        progress=f"{kernel.name} chain groups" if progressbar else None,
    )
    result = SamplerResult.concatenate(results)
    if len(results) < n_groups or result.interrupted:
        result.interrupted = True
        result.progress = groups_progress(
            result.n_chains,
            n_chains,
            len(results),
            n_groups,
            f"{result.n_draws} of {draws} draws per chain",
        )
        warn_interrupted(f"sample(method={kernel.name!r})", result.progress)
    if compute_convergence_checks:
        warn_transitions(result.sample_stats(), kernel.name)
    return result


def _finished(result: SamplerResult, task: ChainGroupTask) -> bool:
    return result.tune == task.tune and result.n_draws == task.draws


@dataclass(frozen=True)
class ChainGroupTask:
    """One group of chains: everything :func:`run_chain_group` needs, picklable for Dask."""

    log_prob: LogProbFn
    init: Tensor
    kernel: Kernel
    draws: int
    tune: int
    thin: int
    random_state: RandomState
    progressbar: bool
    label: str = ""


def run_chain_group(task: ChainGroupTask) -> SamplerResult:
    """Tune and draw all chains of ``task`` in lockstep (runs in-process or on a worker)."""
    generator = make_generator(task.random_state, task.init.device)
    log_prob, init, kernel = task.log_prob, task.init, task.kernel
    draws, tune, thin, progressbar = task.draws, task.tune, task.thin, task.progressbar
    state = kernel.init_state(log_prob, init, generator=generator)

    n_chains, dim = init.shape
    dev = init.device
    samples = torch.empty((n_chains, draws, dim), dtype=init.dtype, device=dev)
    lps = torch.empty((n_chains, draws), dtype=state.log_prob.dtype, device=dev)
    accept = torch.empty((n_chains, draws), dtype=init.dtype, device=dev)
    diverging = torch.zeros((n_chains, draws), dtype=torch.bool, device=dev)
    n_steps = torch.zeros((n_chains, draws), dtype=torch.long, device=dev)
    # Allocated at the first draw of a tree-building (tree_depth) or Hamiltonian (energy) kernel.
    tree_depth = energy = None

    adaptation = WindowAdaptation(kernel, state, tune)
    tuned = kept = 0
    interrupted = False
    progress = progress_bar(
        tune + draws * thin, f"{kernel.name} tune{task.label}", disable=not progressbar
    )
    try:
        for _ in range(tune):
            state, info = kernel.step(state)
            state = adaptation.update(state, info)
            tuned += 1
            _advance(progress, info)
        state = adaptation.finalize(state)
        progress.set_description(f"{kernel.name} draws{task.label}")
        for j in range(draws):
            acc_sum, div_any, steps, depth = 0.0, False, 0, None
            for _ in range(thin):
                state, info = kernel.step(state)
                acc_sum = acc_sum + info.accept_prob
                div_any = div_any | info.diverging
                steps = steps + info.n_steps
                if info.tree_depth is not None:
                    # The deepest tree of the thinned transitions: what max_treedepth caps.
                    depth = (
                        info.tree_depth if depth is None else torch.maximum(depth, info.tree_depth)
                    )
                _advance(progress, info)
            samples[:, j] = state.theta
            lps[:, j] = state.log_prob
            accept[:, j] = acc_sum / thin
            diverging[:, j] = div_any
            n_steps[:, j] = steps
            if depth is not None:
                if tree_depth is None:
                    tree_depth = torch.zeros((n_chains, draws), dtype=torch.long, device=dev)
                tree_depth[:, j] = depth
            if info.energy is not None:
                # The last transition's: the energy of the chain's path at this draw.
                if energy is None:
                    energy = torch.zeros((n_chains, draws), dtype=info.energy.dtype, device=dev)
                energy[:, j] = info.energy
            kept += 1
    except KeyboardInterrupt:
        if kept == 0:
            raise  # nothing complete (tuning draws are not draws): the policy re-raises
        interrupted = True
    finally:
        progress.close()

    if kept < draws:
        # Copy so that the unused part of the preallocated buffers can be freed.
        samples, lps, accept = (
            samples[:, :kept].clone(),
            lps[:, :kept].clone(),
            accept[:, :kept].clone(),
        )
        diverging, n_steps = diverging[:, :kept].clone(), n_steps[:, :kept].clone()
        if tree_depth is not None:
            tree_depth = tree_depth[:, :kept].clone()
        if energy is not None:
            energy = energy[:, :kept].clone()
    return SamplerResult(
        samples=samples,
        log_prob=lps,
        accept_prob=accept,
        step_size=state.step_size,
        diverging=diverging,
        n_steps=n_steps,
        inv_mass=state.inv_mass,
        tune=tuned,
        method=kernel.name,
        thin=thin,
        tree_depth=tree_depth,
        max_treedepth=None if tree_depth is None else getattr(kernel, "max_treedepth", None),
        energy=energy,
        interrupted=interrupted,
    )


def _advance(progress: tqdm, info: StepInfo) -> None:
    progress.update(1)
    if not progress.disable and progress.n % _POSTFIX_EVERY == 0:
        progress.set_postfix(accept=f"{float(info.accept_prob.mean()):.2f}", refresh=False)
