"""A BNN chain group as a task of :func:`~bayesphys.core.chains.run_groups`, and how the
results of the groups are joined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bayesphys.bnn.inference.hmc import fit_hmc
from bayesphys.bnn.inference.minibatch import Batcher
from bayesphys.bnn.inference.nuts import fit_nuts
from bayesphys.bnn.inference.sghmc import SGHMC_FRICTION, fit_sghmc
from bayesphys.bnn.inference.vi import fit_vi
from bayesphys.bnn.inference.warm_start import WARM_START_STEPS, initial_values, warm_start
from bayesphys.bnn.posterior import Posterior
from bayesphys.core import inference
from bayesphys.core.chains import (
    check_groups,
    group_seeds,
    groups_progress,
    run_groups,
    split_sizes,
)
from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import InferenceMethod
from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted
from bayesphys.core.threads import torch_threads


@dataclass(frozen=True)
class ChainGroup:
    """One group of chains of a fit: a picklable task for :func:`run_group`."""

    post: Posterior
    n_chains: int
    method: InferenceMethod
    seed: int
    options: dict


def run_group(task: ChainGroup) -> FitResult:
    """Draw the group's starting weights from its seed, then :func:`run` (in-process or on a
    Dask worker): a group's draws depend on its seed only."""
    gen = torch.Generator().manual_seed(task.seed)
    init = initial_values(task.post, task.n_chains, gen)
    # The thread limiter's count for this task (the caller's, a thread group's share, a Dask
    # worker's) is what the compiled NUTS chains may use; torch itself gets one intra-op
    # thread: a small BNN's tensors gain nothing from more.
    threads = torch.get_num_threads()
    with torch_threads(1, blas=False):
        return run(task.post, init, task.method, gen, task.seed, threads=threads, **task.options)


def run(
    post,
    init,
    method: InferenceMethod,
    gen,
    seed,
    *,
    batch_size,
    progressbar,
    threads: int | None = None,
) -> FitResult:
    """Warm start, then the chosen sampler or optimiser (``threads``: the compiled NUTS
    chains' threads, see :func:`~bayesphys.bnn.inference.nuts.fit_nuts`)."""
    full = isinstance(method, inference.HMC | inference.NUTS)
    batcher = Batcher(post.n, post.n if full else batch_size, init.shape[0], gen)
    # Short runs (smoke tests) get a proportionally short warm start.
    steps = min(WARM_START_STEPS, max(adaptation_steps(method), 20))
    init = warm_start(post, init, steps=steps, batcher=batcher)
    if isinstance(method, inference.HMC):
        return fit_hmc(post, init, method=method, seed=seed, progressbar=progressbar)
    if isinstance(method, inference.NUTS):
        return fit_nuts(
            post, init, method=method, seed=seed, progressbar=progressbar, threads=threads
        )
    if isinstance(method, inference.SGHMC):
        return fit_sghmc(
            post,
            init,
            draws=method.draws,
            burn_in=method.burn_in,
            thin=method.thin,
            batcher=batcher,
            lr=method.learning_rate,
            friction=SGHMC_FRICTION,
            generator=gen,
            progressbar=progressbar,
        )
    return fit_vi(
        post,
        init,
        draws=method.draws,
        steps=method.steps,
        batcher=batcher,
        lr=method.learning_rate,
        generator=gen,
        progressbar=progressbar,
    )


def adaptation_steps(method: InferenceMethod) -> int:
    """Tuning (HMC/NUTS), burn-in (SGHMC) or optimisation (VI) steps: they size the warm start."""
    if isinstance(method, inference.SGHMC):
        return method.burn_in
    if isinstance(method, inference.VI):
        return method.steps
    return method.tune


def group_finished(fit: FitResult, task: ChainGroup) -> bool:
    """Whether a group ran to the end (not cut short by Ctrl-C)."""
    return fit.progress is None and fit.unconstrained.shape[1] == task.method.draws


def combine(fits: list[FitResult], tasks: list[ChainGroup]) -> FitResult:
    """Join the chains of the kept groups (attributes of the first group).

    ``fits`` are what :func:`~bayesphys.core.chains.run_groups` kept of ``tasks``. The
    joined result's ``posterior`` holds the constrained parameters of every draw. If that is
    less than every group run to the end (Ctrl-C), it is marked: its ``progress`` and ``attrs``
    (:func:`~bayesphys.core.interrupts.interrupted_attrs`) say how far it got, and one
    :class:`~bayesphys.core.interrupts.InterruptedRunWarning` says so.
    """
    first = fits[0]
    if len(fits) == 1:
        fit = FitResult(
            sample_stats=first.sample_stats,
            unconstrained=first.unconstrained,
            attrs=dict(first.attrs),
            progress=first.progress,
        )
    else:
        stats = {k: np.concatenate([f.sample_stats[k] for f in fits]) for k in first.sample_stats}
        fit = FitResult(
            sample_stats=stats,
            unconstrained=torch.cat([f.unconstrained for f in fits]),
            attrs=dict(first.attrs),
        )
    fit.posterior = tasks[0].post.constrained(fit.unconstrained)
    chains = sum(t.n_chains for t in tasks)
    kept = int(fit.unconstrained.shape[0])
    partial = next((f.progress for f in fits if f.progress is not None), None)
    if partial is None and kept == chains:
        return fit
    method = tasks[0].method
    done = partial or (
        f"the draws of q after {method.steps} of {method.steps} steps"
        if isinstance(method, inference.VI)
        else f"{method.draws} of {method.draws} draws per chain"
    )
    fit.progress = groups_progress(kept, chains, len(fits), len(tasks), done)
    fit.attrs.update(interrupted_attrs(fit.progress))
    # stacklevel: the user's call of BayesianNeuralNetwork.fit
    warn_interrupted(f"BayesianNeuralNetwork.fit(method={method.name!r})", fit.progress, 4)
    return fit


def fit_chain_groups(
    post: Posterior,
    method: InferenceMethod,
    seed: int,
    client,
    *,
    batch_size: int,
    show: bool,
) -> FitResult:
    """Split ``method.chains`` into chain groups seeded from ``seed``, run them through
    :func:`~bayesphys.core.chains.run_groups` (in-process or on the Dask ``client``) and
    :func:`combine` them (marked, with a warning, if Ctrl-C cut the run short)."""
    default_groups = 1 if client is None else method.chains
    n_groups = check_groups(
        method.chain_groups, method.chains, default_groups, name="chain_groups", unit="chains"
    )
    options = {"batch_size": batch_size, "progressbar": show and client is None}
    tasks = [
        ChainGroup(post, size, method, group_seed, options)
        for size, group_seed in zip(
            split_sizes(method.chains, n_groups), group_seeds(seed, n_groups), strict=True
        )
    ]
    fits = run_groups(
        run_group,
        tasks,
        client,
        finished=group_finished,
        name=f"bnn-{method.name}",
        progress=f"bnn {method.name} chain groups" if show else None,
    )
    return combine(fits, tasks)
