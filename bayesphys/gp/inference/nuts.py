"""NUTS over the exact GP's hyperparameters: warm-started, whitened, chains run independently.

The target and the whitening are in :mod:`bayesphys.gp.inference.nuts_target`. Here:

* The chains start at draws of the Laplace approximation around the mode of the density of
  ``z``, and the tuning iterations are split (``PILOT_SPLIT``): NUTS under the Laplace
  whitening, pilot draws, then NUTS again under the whitening by the pilot draws' covariance.
  The core's diagonal metric is not adapted: the whitening is the metric.
* The chains run in groups (``chain_groups``): each group is one sampler run of its own
  seed, run by :func:`bayesphys.core.chains.run_groups` in this process (optionally on
  threads: LAPACK releases the GIL) or as one task on a Dask cluster, with the same draws
  either way. By default, from n = ``SEPARATE_CHAINS_MIN_N``
  on, every chain is a group (in one lockstep batch every step waits for the deepest tree).
* The leave-one-out densities of the draws reuse ``alpha`` and ``diag(K^{-1})`` of the very
  evaluation that produced each draw, instead of a new factorisation per draw (which took as
  long as 600 NUTS leapfrog steps for 600 draws on the benchmark data). So do the replicated
  ``y`` at the training inputs (``posterior_predictive``): one draw per kept draw from the
  marginal posterior predictive of each point (exact marginals, independent across points).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import warnings

import numpy as np
import torch
from scipy.linalg import solve_triangular

from bayesphys.core.chains import groups_progress, run_groups, split_sizes
from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import NUTS
from bayesphys.core.interrupts import InterruptedRunWarning, warn_interrupted
from bayesphys.core.samplers import sample, warn_transitions
from bayesphys.core.threads import torch_threads
from bayesphys.gp.hyperparameters import values
from bayesphys.gp.inference import optimizer
from bayesphys.gp.inference.map_objective import DenseObjective, subset_start
from bayesphys.gp.inference.nuts_target import ChainDensity, laplace_factor, pilot_whitening
from bayesphys.gp.linalg import flush_denormals
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import Predictor

# From this many training points on, every chain is a sampler run of its own (and the runs
# share the cores on threads); below it all chains form one lockstep batch. In a batch each
# step waits for the deepest tree, but the fixed cost of the Python-level tree code and of the
# parameter maps is paid once per step. At small n that fixed cost dominates (a batch of four
# costs little more than one chain); at a few hundred points the rows' linear algebra does, and
# a batch costs about four single chains (measured: benchmarks/README.md).
SEPARATE_CHAINS_MIN_N = 200
# Shares of the tuning iterations for NUTS under the Laplace whitening and for pilot draws; the
# rest tunes the step size under the whitening by the pilot draws' covariance (Stan adapts its
# metric from warm-up draws in the same way). The Laplace scales can be far off: on the
# benchmark's oe class log rho_N has a narrow peak and a long, prior-dominated tail below the
# lattice spacing, with a posterior sd 2.6 times the Laplace one. Over 2 chains x (100 + 200)
# draws its ESS was 18-47 with the Laplace whitening alone (R-hat 1.06-1.08) and 139-277 with
# the pilot (R-hat <= 1.02), at the same cost. The core's diagonal adaptation did worse with
# short tuning: its windows see one chain each, are short, and each restarts the step-size
# search (on the ee class, tune = 150 with it took 4.7 leapfrog steps per draw, 3.4 without).
# The price: a pilot chain deep in such a tail widens the whitened scale, so that the peak
# needs smaller steps (once 15 instead of 5 leapfrog steps per draw).
PILOT_SPLIT = (0.4, 0.3)
# Below this many tuning iterations there are no pilot draws: the Laplace whitening stays.
PILOT_MIN_TUNE = 40
# Tries at a starting point drawn from the Laplace approximation, halving it after each failure.
INIT_TRIES = 4
# Second entry of the seed of a group's replicated-y stream (the first is the group's seed): a
# stream of its own, so that the draws of z do not depend on whether replicates are drawn.
PREDICTIVE_STREAM = 1
# The core sampler's interrupt warning of one group (message pattern).
SAMPLER_INTERRUPTED = r"sample\(method="


def fit(
    model: GPModel,
    rng: np.random.Generator,
    method: NUTS,
    *,
    max_predict_draws: int,
    **environment,
) -> FitResult:
    """NUTS over the unconstrained hyperparameters (log density with its Jacobian).

    ``environment`` (progressbar, chain_threads, client, num_threads) goes to
    :func:`sample_hyperparameters`.
    """
    space = model.space
    flat = [p.name for p in space.free if p.prior is None]
    if flat:
        raise ValueError(
            f"method='nuts' needs proper priors; {flat} have flat (None) priors: give them "
            "priors, or use method='map'"
        )
    if space.dim == 0:
        raise ValueError("method='nuts' needs at least one free hyperparameter; all are fixed")
    result = sample_hyperparameters(
        model,
        rng,
        chains=method.chains,
        draws=method.draws,
        tune=method.tune,
        target_accept=method.target_accept,
        max_treedepth=method.max_treedepth,
        chain_groups=method.chain_groups,
        **environment,
    )
    z = result.z
    posterior = values(space, z)
    flat_z = z.reshape(-1, z.shape[-1])
    step = max(1, -(-len(flat_z) // max_predict_draws))  # ceil: at most max_predict_draws
    medians = {k: np.median(v.reshape(-1, *v.shape[2:]), axis=0) for k, v in posterior.items()}
    z_hat = space.pack(medians)
    return FitResult(
        posterior=posterior,
        sample_stats=result.stats,
        unconstrained=z,
        # Through the model's cache: the factorisation is reused by the first prediction.
        log_evidence=model.point_log_marginal(z_hat),
        extras={
            "z_hat": z_hat,
            "predictor": Predictor(model, flat_z[::step]),
            "log_likelihood": result.log_likelihood,
            "posterior_predictive": result.posterior_predictive,
        },
        progress=result.progress,
    )


@dataclasses.dataclass
class Draws:
    """What :func:`sample_hyperparameters` returns, each array shaped ``(chain, draw, ...)``."""

    z: np.ndarray  # unconstrained hyperparameters (chain, draw, dim)
    stats: dict[str, np.ndarray]  # sample_stats of the core sampler
    log_likelihood: np.ndarray | None  # LOO densities (chain, draw, n), original units
    posterior_predictive: np.ndarray | None  # replicated y (chain, draw, n), original units
    progress: str | None = None  # None if complete, else how far Ctrl-C let it get


@dataclasses.dataclass
class GroupRun:
    """One sampler run of a group of chains: plain data, so that it can run on a Dask worker."""

    model: GPModel
    center: np.ndarray
    factor: np.ndarray
    init: np.ndarray  # (chains, dim), in u
    seed: int
    tune: int
    draws: int
    step_size: torch.Tensor | None
    options: dict  # target_accept, progressbar
    loo: bool  # also the leave-one-out densities and replicated y of the draws
    num_threads: int | None = None  # torch and BLAS threads of a task (None: unchanged)
    stop: threading.Event | None = None  # in-process threads only
    max_treedepth: int = 10


@dataclasses.dataclass
class GroupDraws:
    """A group's draws, statistics, LOO densities and replicated y (``(chain, draw, ...)``),
    final step sizes."""

    z: np.ndarray
    stats: dict[str, np.ndarray]
    log_likelihood: np.ndarray | None
    posterior_predictive: np.ndarray | None
    step_size: torch.Tensor  # (chain,)
    interrupted: bool = False  # cut short by Ctrl-C

    @property
    def n_draws(self) -> int:
        return self.z.shape[1]


def sample_hyperparameters(
    model: GPModel,
    rng: np.random.Generator,
    *,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    progressbar: bool,
    max_treedepth: int = 10,
    chain_groups: int | None = None,
    chain_threads: int = 1,
    client=None,
    num_threads: int | None = None,
) -> Draws:
    """NUTS draws of the unconstrained hyperparameters (their density includes the Jacobian).

    The tuning iterations are split (see ``PILOT_SPLIT``): NUTS under the Laplace whitening,
    pilot draws, then NUTS again under the whitening by the pilot draws' covariance. The
    chains form ``chain_groups`` groups (default: see ``SEPARATE_CHAINS_MIN_N``), each a
    sampler run of its own; in-process, up to ``chain_threads`` runs go at once on threads,
    with a ``client`` every run is a task on a worker (with ``num_threads`` threads). The
    draws depend on ``chain_groups`` only.

    Ctrl-C during tuning (the pilot draws included) re-raises ``KeyboardInterrupt``; during
    the draws the one rule of chain groups applies (:func:`bayesphys.core.chains.run_groups`:
    the groups that finished are kept; if none did, the first group's partial draws), marked
    by ``Draws.progress`` and one ``InterruptedRunWarning``.
    """
    start, _ = subset_start(model, rng, n_restarts=0)
    objective = DenseObjective(model, jacobian=True)
    mode, _ = optimizer.maximise(
        None,
        model.space,
        objective=objective,
        n_restarts=0,
        rng=rng,
        start=start,
        options=optimizer.map_options(model.n),
    )
    laplace = laplace_factor(objective, mode)
    gen = np.random.default_rng(int(rng.integers(2**31 - 1)))
    if chain_groups is None:
        chain_groups = chains if model.n >= SEPARATE_CHAINS_MIN_N or client is not None else 1
    first = ChainDensity(model, mode, laplace)
    inits = [
        np.stack([_initial_point(first, gen) for _ in range(size)])
        for size in split_sizes(chains, chain_groups)
    ]
    stage = _Stage(
        model,
        gen,
        client,
        min(chain_threads, chain_groups),
        num_threads,
        progressbar,
        max_treedepth,
    )
    options = {"target_accept": target_accept, "progressbar": progressbar and client is None}
    center, factor, steps = mode, laplace, None
    if tune >= PILOT_MIN_TUNE:
        pilot_tune, pilot_draws = (int(f * tune) for f in PILOT_SPLIT)
        # The pilot draws are tuning (they set the whitening): an interrupted pilot leaves
        # nothing to keep.
        tuning_interrupted = "GP NUTS was interrupted during tuning; no draws to keep"
        try:
            pilot = stage.run(
                mode,
                laplace,
                inits,
                pilot_tune,
                pilot_draws,
                None,
                options,
                loo=False,
                what="pilot",
            )
        except KeyboardInterrupt:
            raise KeyboardInterrupt(tuning_interrupted) from None
        if len(pilot) < len(inits) or any(g.interrupted for g in pilot):
            raise KeyboardInterrupt(tuning_interrupted)
        center, factor = pilot_whitening(np.concatenate([g.z for g in pilot]), laplace)
        inits = [solve_triangular(factor, (g.z[:, -1] - center).T, lower=True).T for g in pilot]
        steps = [g.step_size for g in pilot]
        tune -= pilot_tune + pilot_draws
    final = stage.run(center, factor, inits, tune, draws, steps, options, loo=True, what="draws")
    result = _combine(final, draws, chains, len(inits))
    if result.progress is not None:
        # stacklevel: the user's call of GPRegression.fit
        warn_interrupted("GPRegression.fit (NUTS)", result.progress, stacklevel=5)
    # stacklevel: the user's call of GPRegression.fit
    warn_transitions(result.stats, "GPRegression.fit (NUTS)", stacklevel=4)
    return result


@dataclasses.dataclass
class _Stage:
    """Runs the groups of one stage in this process, on threads, or on a Dask cluster."""

    model: GPModel
    gen: np.random.Generator
    client: object
    threads: int
    num_threads: int | None
    progressbar: bool
    max_treedepth: int

    def run(self, center, factor, inits, tune, draws, steps, options, *, loo, what):
        seeds = self.gen.integers(2**31 - 1, size=len(inits))
        stop = threading.Event() if self.client is None and self.threads > 1 else None
        tasks = [
            GroupRun(
                self.model,
                center,
                factor,
                init,
                int(seed),
                tune,
                draws,
                None if steps is None else steps[i],
                options,
                loo,
                self.num_threads if self.client is not None else None,
                stop,
                self.max_treedepth,
            )
            for i, (init, seed) in enumerate(zip(inits, seeds, strict=True))
        ]
        # On a cluster one bar counts finished groups (the runs' own bars are off).
        progress = f"GP NUTS chain groups ({what})" if self.progressbar else None
        with warnings.catch_warnings():
            # The groups' own interrupt warnings (sample_hyperparameters warns once over all
            # groups). Set here, in the calling thread, for the groups on threads: a
            # catch_warnings in each of several threads restores the process-wide filters in
            # the wrong order and could leave this warning ignored for good.
            warnings.filterwarnings("ignore", SAMPLER_INTERRUPTED, InterruptedRunWarning)
            return run_groups(
                run_group,
                tasks,
                self.client,
                finished=_finished,
                name=f"gp-nuts-{what}",
                progress=progress,
                threads=self.threads,
                stop=stop,
                torch_threads=None,  # the task sets torch and BLAS threads itself
            )


def _finished(result: GroupDraws, task: GroupRun) -> bool:
    return not result.interrupted and result.n_draws == task.draws


def run_group(task: GroupRun) -> GroupDraws:
    """One group's NUTS run, its draws mapped to ``z`` and, if asked, their LOO densities and
    replicated ``y`` (from a stream seeded by the group's seed: the same wherever it runs)."""
    with torch_threads(task.num_threads), flush_denormals():
        return _run_group(task)


def _run_group(task: GroupRun) -> GroupDraws:
    density = ChainDensity(task.model, task.center, task.factor, task.stop)
    # On in-process threads (task.stop set) the calling thread filters the warning (_Stage.run);
    # in this thread or a Dask task, this filters it.
    scope = warnings.catch_warnings() if task.stop is None else contextlib.nullcontext()
    with scope:
        warnings.filterwarnings("ignore", SAMPLER_INTERRUPTED, InterruptedRunWarning)
        r = sample(
            density,
            torch.as_tensor(task.init),
            method="nuts",
            draws=task.draws,
            tune=task.tune,
            random_state=task.seed,
            max_treedepth=task.max_treedepth,
            step_size=task.step_size,
            adapt_mass=False,  # the whitening is the metric
            compute_convergence_checks=False,  # once, over the draws of all groups
            **task.options,
        )
    log_lik = replicates = None
    if task.loo:
        gen = np.random.default_rng([task.seed, PREDICTIVE_STREAM])
        pointwise = [density.pointwise(chain.numpy(), gen) for chain in r.samples]
        log_lik = np.stack([loo for loo, _ in pointwise])
        replicates = np.stack([y_rep for _, y_rep in pointwise])
    return GroupDraws(
        density.to_z(r.samples).numpy(),
        r.sample_stats(),
        log_lik,
        replicates,
        r.step_size,
        r.interrupted,
    )


def _initial_point(density: ChainDensity, gen: np.random.Generator) -> np.ndarray:
    """A draw of the Laplace approximation (``u ~ N(0, I)``) with a finite log density."""
    u = gen.standard_normal(len(density.center))
    for _ in range(INIT_TRIES):
        with torch.no_grad():
            if torch.isfinite(density(torch.as_tensor(u[None, :]))).all():
                return u
        u = 0.5 * u
    return np.zeros_like(u)  # the mode


def _combine(groups: list[GroupDraws], draws: int, chains: int, n_groups: int) -> Draws:
    """Draws of ``z``, statistics, LOO densities and replicated y of the groups that
    :func:`~bayesphys.core.chains.run_groups` kept; ``Draws.progress`` says how far an
    interrupted run got (all kept groups are complete, or the one kept is partial)."""
    kept = min(g.n_draws for g in groups)
    if kept == 0:
        raise KeyboardInterrupt("GP NUTS was interrupted before the first draw")
    stats = {
        name: np.concatenate([g.stats[name][:, :kept] for g in groups]) for name in groups[0].stats
    }
    log_lik = np.concatenate([g.log_likelihood[:, :kept] for g in groups])
    replicates = np.concatenate([g.posterior_predictive[:, :kept] for g in groups])
    z = np.concatenate([g.z[:, :kept] for g in groups])
    progress = None
    if len(groups) < n_groups or any(g.interrupted or g.n_draws < draws for g in groups):
        progress = groups_progress(
            z.shape[0], chains, len(groups), n_groups, f"{kept} of {draws} draws per chain"
        )
    return Draws(z, stats, log_lik, replicates, progress)
