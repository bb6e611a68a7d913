"""NUTS over the exact GP's hyperparameters: warm-started, whitened, chains run independently.

The target and the whitening are in :mod:`bayesphys.gp._posterior`. Here:

* The chains start at draws of the Laplace approximation around the mode of the density of
  ``z``, and the tuning iterations are split (``PILOT_SPLIT``): NUTS under the Laplace
  whitening, pilot draws, then NUTS again under the whitening by the pilot draws' covariance.
  The core's diagonal metric is not adapted: the whitening is the metric.
* From n = ``SEPARATE_CHAINS_MIN_N`` on, every chain is a sampler run of its own (optionally
  on threads: LAPACK releases the GIL); in one lockstep batch every step waits for the
  deepest tree of the batch.
* The leave-one-out densities of the draws reuse ``alpha`` and ``diag(K^{-1})`` of the very
  evaluation that produced each draw, instead of a new factorisation per draw (which took as
  long as 600 NUTS leapfrog steps for 600 draws on the benchmark data).
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import torch
from scipy.linalg import solve_triangular

from bayesphys.core.samplers import sample
from bayesphys.core.samplers.result import SamplerResult
from bayesphys.gp import _fit
from bayesphys.gp._dense import DenseObjective, subset_start
from bayesphys.gp._model import GPModel
from bayesphys.gp._posterior import ChainDensity, laplace_factor, pilot_whitening

# From this many training points on, every chain is a sampler run of its own (and the runs
# share the cores on threads); below it all chains form one lockstep batch. In a batch each
# step waits for the deepest tree, but the fixed cost of the Python-level tree code and of the
# parameter maps is paid once per step: at n = 20 a batch of 4 chains took 4 ms per step, each
# chain alone 3 ms; at n = 400 the four rows took 38 ms, one chain alone 10 ms.
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


@dataclasses.dataclass
class Draws:
    """What :func:`sample_hyperparameters` returns, each array shaped ``(chain, draw, ...)``."""

    z: np.ndarray  # unconstrained hyperparameters (chain, draw, dim)
    stats: dict[str, np.ndarray]  # sample_stats of the core sampler
    log_likelihood: np.ndarray  # leave-one-out densities (chain, draw, n), original units


def sample_hyperparameters(
    model: GPModel,
    rng: np.random.Generator,
    *,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    progressbar: bool,
    chain_threads: int = 1,
) -> Draws:
    """NUTS draws of the unconstrained hyperparameters (their density includes the Jacobian).

    The tuning iterations are split (see ``PILOT_SPLIT``): NUTS under the Laplace whitening,
    pilot draws, then NUTS again under the whitening by the pilot draws' covariance. Up to
    ``chain_threads`` sampler runs (see ``SEPARATE_CHAINS_MIN_N``) go at once, on threads;
    the draws do not depend on it.
    """
    start, _ = subset_start(model, rng, n_restarts=0)
    objective = DenseObjective(model, jacobian=True)
    mode, _ = _fit.maximise(
        None,
        model.space,
        objective=objective,
        n_restarts=0,
        rng=rng,
        start=start,
        options=_fit.map_options(model.n),
    )
    laplace = laplace_factor(objective, mode)
    gen = np.random.default_rng(int(rng.integers(2**31 - 1)))
    groups = [1] * chains if model.n >= SEPARATE_CHAINS_MIN_N else [chains]
    first = ChainDensity(model, mode, laplace)
    inits = [np.stack([_initial_point(first, gen) for _ in range(g)]) for g in groups]
    options = {
        "workers": min(chain_threads, len(groups)),
        "target_accept": target_accept,
        "progressbar": progressbar,
    }
    center, factor, steps = mode, laplace, [None] * len(groups)
    if tune >= PILOT_MIN_TUNE:
        pilot_tune, pilot_draws = (int(f * tune) for f in PILOT_SPLIT)
        pilot, densities = _stage(
            model, mode, laplace, inits, gen, tune=pilot_tune, draws=pilot_draws, **options
        )
        if any(r.n_draws < pilot_draws for r in pilot.values()) or len(pilot) < len(groups):
            return _collect(pilot, densities)  # interrupted
        z = [d.to_z(r.samples).numpy() for r, d in zip(pilot.values(), densities, strict=True)]
        center, factor = pilot_whitening(np.concatenate(z), laplace)
        inits = [solve_triangular(factor, (zi[:, -1] - center).T, lower=True).T for zi in z]
        steps = [r.step_size for r in pilot.values()]
        tune -= pilot_tune + pilot_draws
    results, densities = _stage(
        model, center, factor, inits, gen, tune=tune, draws=draws, steps=steps, **options
    )
    return _collect(results, densities)


def _stage(model, center, factor, inits, gen, *, tune, draws, workers, steps=None, **options):
    """One sampler run per group of chains (with ``inits`` in ``u``), on ``workers`` threads."""
    seeds = gen.integers(2**31 - 1, size=len(inits))
    stop = threading.Event() if workers > 1 else None
    densities = [ChainDensity(model, center, factor, stop) for _ in inits]
    steps = steps or [None] * len(inits)

    def run(i: int) -> SamplerResult:
        return sample(
            densities[i],
            torch.as_tensor(inits[i]),
            method="nuts",
            draws=draws,
            tune=tune,
            seed=int(seeds[i]),
            step_size=steps[i],
            adapt_mass=False,  # the whitening is the metric
            **options,
        )

    if stop is None:
        results = {}
        for i in range(len(inits)):
            results[i] = run(i)
            if results[i].n_draws < draws:  # interrupted (sample warned): stop here
                break
    else:
        results = _run_on_threads(run, len(inits), workers, stop)
    return results, densities


def _initial_point(density: ChainDensity, gen: np.random.Generator) -> np.ndarray:
    """A draw of the Laplace approximation (``u ~ N(0, I)``) with a finite log density."""
    u = gen.standard_normal(len(density.center))
    for _ in range(INIT_TRIES):
        with torch.no_grad():
            if torch.isfinite(density(torch.as_tensor(u[None, :]))).all():
                return u
        u = 0.5 * u
    return np.zeros_like(u)  # the mode


def _run_on_threads(run, runs: int, workers: int, stop: threading.Event) -> dict:
    """``{i: run(i)}`` on ``workers`` threads; Ctrl-C stops every run and keeps its draws."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gp-nuts") as pool:
        futures = [pool.submit(run, i) for i in range(runs)]
        try:
            wait(futures)
        except KeyboardInterrupt:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
    # A run stopped before its first tuning step raised instead of returning draws.
    return {
        i: f.result() for i, f in enumerate(futures) if not f.cancelled() and f.exception() is None
    }


def _collect(results: dict[int, SamplerResult], densities: list[ChainDensity]) -> Draws:
    """Draws of ``z``, statistics and LOO densities of all chains, cut to a common length.

    All runs are complete unless sampling was interrupted; then the chains with draws are
    kept, up to the length of the shortest.
    """
    runs = [(r, densities[i]) for i, r in sorted(results.items()) if r.n_draws > 0]
    if not runs:
        raise KeyboardInterrupt("NUTS was interrupted before the first draw")
    kept = min(r.n_draws for r, _ in runs)
    z, log_lik, stats = [], [], {}
    for r, density in runs:
        u = r.samples[:, :kept]
        z.append(density.to_z(u).numpy())
        log_lik += [density.log_likelihood(chain.numpy()) for chain in u]
        columns = {
            "lp": r.log_prob,
            "acceptance_rate": r.accept_prob,
            "step_size": r.step_size[:, None].expand(r.n_chains, kept),
            "diverging": r.diverging,
            "n_steps": r.n_steps,
            "tree_depth": r.tree_depth,
        }
        for name, column in columns.items():
            stats.setdefault(name, []).append(column[:, :kept].numpy())
    return Draws(
        np.concatenate(z),
        {k: np.concatenate(v) for k, v in stats.items()},
        np.stack(log_lik),
    )
