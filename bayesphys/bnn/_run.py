"""Running a fit: thread setting, starting values and dispatch to the sampler or optimiser."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bayesphys.bnn._fitting import Batcher, Fit, fit_hmc, warm_start
from bayesphys.bnn._posterior import Posterior
from bayesphys.bnn._stochastic import fit_sghmc, fit_vi
from bayesphys.core import inference
from bayesphys.core.distributed import groups_progress
from bayesphys.core.inference import InferenceMethod
from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted
from bayesphys.core.threads import torch_threads

_WARM_START_STEPS = 300
# Friction of SGHMC (alpha in Chen et al.'s notation): the fraction of velocity lost per step.
SGHMC_FRICTION = 0.05


def single_thread():
    """Torch on one intra-op thread for the block (the tensors of a small BNN are far too small
    to gain from more, while on a loaded machine OpenMP threads spin-wait for each other)."""
    return torch_threads(1, blas=False)


def run(post, init, method: InferenceMethod, gen, seed, *, batch_size, progressbar) -> Fit:
    """Warm start, then the chosen sampler or optimiser."""
    full = isinstance(method, inference.HMC | inference.NUTS)
    batcher = Batcher(post.n, post.n if full else batch_size, init.shape[0], gen)
    # Short runs (smoke tests) get a proportionally short warm start.
    steps = min(_WARM_START_STEPS, max(adaptation_steps(method), 20))
    init = warm_start(post, init, steps=steps, batcher=batcher)
    if full:
        return fit_hmc(post, init, method=method, seed=seed, progressbar=progressbar)
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


@dataclass(frozen=True)
class ChainGroup:
    """One group of chains of a fit: a picklable task for :func:`run_group`."""

    post: Posterior
    n_chains: int
    method: InferenceMethod
    seed: int
    options: dict


def run_group(task: ChainGroup) -> Fit:
    """Draw the group's starting weights from its seed, then :func:`run` (in-process or on a
    Dask worker): a group's draws depend on its seed only."""
    gen = torch.Generator().manual_seed(task.seed)
    post, n = task.post, task.n_chains
    init = torch.cat([post.net.init(n, gen, torch.float64), extra_init(post, n)], 1)
    with single_thread():
        return run(post, init, task.method, gen, task.seed, **task.options)


def group_finished(fit: Fit, task: ChainGroup) -> bool:
    """Whether a group ran to the end (not cut short by Ctrl-C)."""
    return fit.progress is None and fit.samples.shape[1] == task.method.draws


def concatenate(fits: list[Fit], tasks: list[ChainGroup]) -> Fit:
    """Join the chains of the kept groups (attributes of the first group).

    ``fits`` are what :func:`~bayesphys.core.distributed.run_groups` kept of ``tasks``. If
    that is less than every group run to the end (Ctrl-C), the joined fit is marked: its
    ``progress`` and ``attrs`` (:func:`~bayesphys.core.interrupts.interrupted_attrs`) say how
    far it got, and one :class:`~bayesphys.core.interrupts.InterruptedRunWarning` says so.
    """
    if len(fits) == 1:
        fit = Fit(fits[0].samples, fits[0].stats, dict(fits[0].attrs), fits[0].progress)
    else:
        stats = {k: np.concatenate([f.stats[k] for f in fits]) for k in fits[0].stats}
        fit = Fit(torch.cat([f.samples for f in fits]), stats, dict(fits[0].attrs))
    chains = sum(t.n_chains for t in tasks)
    kept = int(fit.samples.shape[0])
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


def extra_init(post: Posterior, chains: int) -> torch.Tensor:
    """Starting values of the hyper- and noise parameters (unconstrained)."""
    cols = [torch.zeros(chains, post.n_hyper, dtype=torch.float64)]  # tau = 1
    for name, prior in post.free.items():
        start = {"sigma": 0.5 * post.y_scale, "variance": (0.5 * post.y_scale) ** 2}.get(name, 4.0)
        z = prior.transform.inverse(torch.tensor(start, dtype=torch.float64))
        if prior.support == "interval" or not bool(torch.isfinite(z)):
            z = torch.tensor(0.0, dtype=torch.float64)
        cols.append(z.expand(chains, 1))
    return torch.cat(cols, dim=1)
