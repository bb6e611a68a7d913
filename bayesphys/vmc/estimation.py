"""``vmc.estimate``: energy and observables of a fixed trial wave function, with error bars."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import stats

from bayesphys.core.blocking import BlockingResult, blocking
from bayesphys.core.chains import (
    check_groups,
    group_seeds,
    groups_progress,
    run_groups,
    split_sizes,
)
from bayesphys.core.distributed import check_client
from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted
from bayesphys.core.progress import progress_bar
from bayesphys.core.samplers.sampling import RandomState, validate_random_state
from bayesphys.core.stats import Stats, r_hat_split_from_moments
from bayesphys.core.validation import check_positive_int, check_progressbar
from bayesphys.vmc._distributed import (
    WalkerGroupResult,
    WalkerGroupTask,
    combine_groups,
    default_groups,
    run_walker_group,
)
from bayesphys.vmc.local_energy import METHODS
from bayesphys.vmc.samplers import Metropolis, VMCSampler
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions import (
    RBM,
    Gaussian,
    GaussianJastrow,
    HardSphereJastrow,
    NeuralJastrow,
    NeuralPairFactor,
    PadeJastrow,
    Product,
    RBMFactor,
    SlaterDeterminant,
    SlaterJastrow,
)
from bayesphys.vmc.wavefunctions.base import WaveFunction, check_wavefunction

if TYPE_CHECKING:
    from bayesphys.core.results import InferenceData

__all__ = ["EnergyEstimate", "MixingWarning", "estimate"]

# Mixing checks (see EnergyEstimate.mixing). Acceptance outside [ACCEPT_LOW, ACCEPT_HIGH] means
# the walkers barely move (Metropolis: step far too large) or barely explore (Metropolis: step
# far too small). Langevin acceptance legitimately approaches 1 when the drift is accurate, so
# only its lower bound applies.
ACCEPT_LOW = 0.01
ACCEPT_HIGH = 0.99
# Walker scatter test: flag when the walker means scatter more than blocking allows at this
# significance (chi-square, walkers - 1 degrees of freedom) *and* by at least this factor in
# the standard error, so that the few-percent bias of blocking in short series (and the
# test's power with 1e5 walkers) does not flag a well-mixed run.
DISPERSION_ALPHA = 1e-3
DISPERSION_RATIO = 1.5
# Fewest walkers whose scatter is trusted as the error bar (its own relative error ~ 20 %).
MIN_WALKERS_FOR_SCATTER = 16
# Drift test: flag when the difference between the second and the first half of the recorded
# steps, averaged over the (independent) walkers, is nonzero at this significance (t-test over
# walkers, valid whatever the correlation time). Its standard deviation is ~2x the standard
# error of the energy, so a flagged drift means a bias of several error bars. No blocking or
# walker check sees a population that relaxes towards equilibrium in step (burn_in too short
# for the start): 200 walkers from 3x too wide a start with burn_in=0 gave 10 error bars.
DRIFT_ALPHA = 1e-3
# Significance at which more walkers never moved than their rejection rates explain (Poisson).
FROZEN_ALPHA = 1e-3


# The library's wave-function classes: none of them vanishes at contact except
# HardSphereJastrow (what the hard-sphere check relies on).
_LIBRARY_FACTORS = (
    Product, GaussianJastrow, Gaussian, PadeJastrow, HardSphereJastrow, RBM, RBMFactor,
    NeuralJastrow, NeuralPairFactor, SlaterJastrow, SlaterDeterminant,
)  # fmt: skip


class MixingWarning(RuntimeWarning):
    """The walkers of ``vmc.estimate`` did not mix: the blocking error bar would understate
    the uncertainty, so the reported ``stderr`` was inflated (or set to NaN)."""


@dataclass(eq=False)
class EnergyEstimate:
    """Result of :func:`estimate`.

    Attributes
    ----------
    energy : Stats
        Mean local energy (a float) with ``error_of_mean``, ``variance``, ``tau_corr``,
        ``r_hat`` and ``ess`` (:class:`~bayesphys.core.stats.Stats`, every walker a chain;
        R-hat and ESS as ArviZ computes them, on first access). ``print(est.energy)`` shows
        ``3.00040 +- 0.00002 [var = 0.0018, R-hat = 1.001]``. The error is the blocking
        standard error with every walker as an independent chain
        (:func:`bayesphys.core.blocking.blocking`): one blocking level for all walkers,
        chosen by Jonsson's test summed over walkers, the lag-1 corrected block variance of
        each walker at that level, and ``stderr^2 = sum_w Var(mean_w) / walkers^2``.
        Blocking the walker-averaged series instead gives the test only ``n_steps`` samples
        of evidence; it then stops at too short blocks (~15 % low for ``n_steps / tau ~ 200``
        before the lag-1 correction, noisier after it). When the mixing checks fire the
        error is inflated (see ``mixing``).
    stderr, variance, tau_corr : float
        ``energy.error_of_mean``, ``energy.variance`` (of the local energy; zero for an exact
        eigenstate) and ``energy.tau_corr`` (integrated autocorrelation time in steps), kept
        as attributes of their own for scripts written before ``Stats``.
    acceptance : float
        Mean acceptance probability after burn-in.
    tau_corr : float
        Integrated autocorrelation time of the energy series, in steps (blocking estimate).
    kinetic, potential : Stats
        Mean kinetic and potential energy (virial checks). Their error and ``tau_corr`` come
        from blocking the walker-averaged series of each step (one chain, so ``r_hat`` is
        NaN; ``ess`` counts steps); ``variance`` is that of the local values over all
        walkers and steps. When a mixing check fired their error is NaN: that series cannot
        show stuck walkers (all walkers frozen gave ``+- 0``).
    kinetic_stderr, potential_stderr : float
        ``kinetic.error_of_mean`` and ``potential.error_of_mean`` (attributes kept from
        before ``Stats``).
    r12 : float
        Mean inter-particle distance ``<r_ij>`` (NaN for one particle).
    density_r, density : numpy.ndarray
        Radial one-body density: bin centres and ``rho(r)`` normalised to ``N`` particles.
    local_energies : numpy.ndarray
        ``(walkers, steps)`` local energies (chain = walker, draw = step).
    blocking : BlockingResult
        Full blocking result (``stderr_by_level`` for plots).
    step_size : float
        Mean adapted step (Metropolis) or time step (Langevin).
    stderr_blocking : float
        The blocking standard error (equal to ``stderr`` unless the mixing checks fired; with
        frozen walkers it already includes the walker scatter, see
        :func:`~bayesphys.core.blocking.blocking`).
    stderr_walkers : float
        Standard error from the scatter of the walker means, ``std(walker means) /
        sqrt(walkers)``: honest whatever the correlation time, as walkers are independent
        (NaN for one walker).
    dispersion : float
        ``(stderr_walkers / stderr_blocking)^2``, an R-hat over walkers (every walker a group
        of one): ~1 when each walker's blocking variance explains the walker means' scatter,
        large when walkers disagree (stuck, or not equilibrated); ``inf`` for frozen walkers.
    mixing : tuple of str
        What the mixing checks found (empty for a well-mixed run): ``"acceptance"`` (mean
        acceptance below 0.01, or above 0.99 for Metropolis), ``"frozen"`` (more walkers never
        moved during the recorded steps than their rejection rates explain, Poisson test at
        ``p < 0.001``: over a short record a few tail walkers stay put by chance), ``"tau"``
        (blocking found no level with enough uncorrelated blocks: ``tau_corr`` comparable to
        ``n_steps``) and
        ``"walkers"`` (walker means scatter more than blocking explains: chi-square test at
        ``p < 0.001`` and ``stderr_walkers > 1.5 stderr_blocking``) and ``"drift"`` (the
        walkers' mean energy over the second half of the recorded steps differs from the
        first half, t-test over walkers at ``p < 0.001``: not yet in equilibrium, raise
        ``burn_in``; the mean is then biased by several error bars). When any fired,
        :func:`estimate` warns (:class:`MixingWarning`) and reports ``stderr =
        max(stderr_blocking, stderr_walkers)``, or NaN with fewer than 16 walkers. A zero
        variance (exact eigenstate) is exact whatever the mixing and is never flagged.
    interrupted : bool
        True if stopped by ``KeyboardInterrupt``: the numbers use the steps (or walker groups)
        completed so far.
    interrupted_progress : str or None
        How far an interrupted run got, in the words of
        :func:`~bayesphys.core.chains.groups_progress` (also the warning's and the idata's).
    """

    energy: Stats
    acceptance: float
    kinetic: Stats
    potential: Stats
    r12: float
    density_r: np.ndarray
    density: np.ndarray
    local_energies: np.ndarray = field(repr=False)
    blocking: BlockingResult = field(repr=False)
    step_size: float = float("nan")
    stderr_blocking: float = float("nan")
    stderr_walkers: float = float("nan")
    dispersion: float = float("nan")
    mixing: tuple[str, ...] = ()
    interrupted: bool = False
    interrupted_progress: str | None = None

    @property
    def stderr(self) -> float:
        """Standard error of ``energy`` (``energy.error_of_mean``)."""
        return self.energy.error_of_mean

    @property
    def variance(self) -> float:
        """Variance of the local energy (``energy.variance``)."""
        return self.energy.variance

    @property
    def tau_corr(self) -> float:
        """Integrated autocorrelation time of the energy in steps (``energy.tau_corr``)."""
        return self.energy.tau_corr

    @property
    def kinetic_stderr(self) -> float:
        """Standard error of ``kinetic``."""
        return self.kinetic.error_of_mean

    @property
    def potential_stderr(self) -> float:
        """Standard error of ``potential``."""
        return self.potential.error_of_mean

    @property
    def idata(self) -> InferenceData:
        """``InferenceData``: ``local_energy`` (chain = walker, draw = step) in ``posterior``
        and ``sample_stats``, so ArviZ ``ess``, ``rhat`` and ``mcse`` apply directly."""
        from bayesphys.core.results import to_inference_data  # arviz import is slow

        e = self.local_energies
        progress = self.interrupted_progress if self.interrupted else None
        if self.interrupted and progress is None:  # built by hand: say what it holds
            progress = f"{e.shape[1]} steps of {e.shape[0]} walkers"
        return to_inference_data(
            {"local_energy": e},
            sample_stats={"local_energy": e},
            attrs={"inference_method": "vmc", **interrupted_attrs(progress)},
        )

    def __repr__(self) -> str:
        extra = f", mixing={self.mixing}" if self.mixing else ""
        extra += ", interrupted=True" if self.interrupted else ""
        return (
            f"EnergyEstimate(energy={float(self.energy):.6f} +- {self.stderr:.2g}, "
            f"variance={self.variance:.3g}, acceptance={self.acceptance:.3f}, "
            f"tau_corr={self.tau_corr:.2f}{extra})"
        )


def check_run_inputs(wf, system, sampler, method: str) -> None:
    """Validate what every VMC run takes: wave function, Hamiltonian, sampler, E_L method."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    check_wavefunction(wf)
    if not isinstance(system, HarmonicTrap):
        raise TypeError(
            f"system must be a vmc.HarmonicTrap (or vmc.QuantumDot), got {type(system).__name__}"
        )
    if not isinstance(sampler, VMCSampler):
        raise TypeError(
            f"sampler must be vmc.Metropolis(...) or vmc.Langevin(...), got {sampler!r}"
        )
    _check_hard_core(wf, system)


def _check_hard_core(wf: WaveFunction, system: HarmonicTrap) -> None:
    """Refuse a hard-sphere system with a wave function of the library's factors that does not
    vanish inside the cores (``r_ij <= a``): there ``V = inf``, so ``<H>`` is infinite, yet a run
    whose walkers never land in a core reports a finite energy (for the exact elliptic-trap
    Gaussian: 2.414215 +- 0 per particle, without the hard spheres at all). Factors of other
    classes are the user's own, which may vanish there; they are not checked."""
    if system.interaction != "hard_sphere":
        return
    factors = [m for m in wf.modules() if isinstance(m, WaveFunction)]
    cores = [float(m.a) for m in factors if isinstance(m, HardSphereJastrow)]
    if any(a >= system.a for a in cores):
        return
    if not all(type(m) in _LIBRARY_FACTORS for m in factors):
        return
    found = "it has no hard-sphere factor"
    if cores:
        found = f"its hard-sphere factor has a = {max(cores):g} < {system.a:g}"
    raise ValueError(
        f"wf does not vanish inside the hard spheres of the system (diameter a = {system.a:g}): "
        f"{found}, so <H> is infinite and an estimate would be finite only because no walker "
        f"landed inside a core. Use e.g. GaussianJastrow(alpha, jastrow='hard_sphere', "
        f"a={system.a:g})"
    )


def estimate(
    wf: WaveFunction,
    system: HarmonicTrap,
    sampler: VMCSampler,
    n_walkers: int = 1000,
    n_steps: int = 1000,
    burn_in: int = 500,
    *,
    random_state: RandomState = 0,
    method: str = "auto",
    init: torch.Tensor | None = None,
    density_bins: int = 60,
    density_rmax: float | None = None,
    progressbar: bool | None = None,
    walker_groups: int | None = None,
    client=None,
) -> EnergyEstimate:
    """Estimate ``<H>`` and observables of ``wf`` by Monte Carlo over ``|psi|^2``.

    Parameters
    ----------
    wf : WaveFunction
        Trial wave function (not modified).
    system : HarmonicTrap
        Hamiltonian.
    sampler : VMCSampler
        ``vmc.Metropolis(step)`` or ``vmc.Langevin(dt)``.
    n_walkers, n_steps, burn_in : int
        Walkers, recorded steps per walker (>= 16 for blocking) and discarded burn-in steps
        (during which the step size adapts).
    random_state : int, torch.Generator, numpy Generator or SeedSequence, optional
        Seed of the sampler's ``torch.Generator`` (default 0: the same numbers on every run;
        ``None``: fresh OS entropy).
    method : {"auto", "analytic", "autograd"}
        Local-energy evaluation, see :func:`bayesphys.vmc.local_energy`. ``"auto"`` takes the
        energy from the fused Metropolis step where it applies (``Metropolis(fused=True)``,
        ``GaussianJastrow`` with Pade factor or none): same chain and energies up to round-off.
    init : Tensor, optional
        Start positions ``(n_walkers, N, d)``.
    density_bins : int
        Number of radial bins of the one-body density (>= 1).
    density_rmax : float, optional
        Largest radius of the density histogram; default ``4.5 / sqrt(omega)``.
    progressbar : bool, optional
        Show a tqdm bar of the recorded steps (with a client: of the finished walker groups)
        that ends with ``E = 3.00040 +- 0.00002 [var = 0.0018, acc = 0.52, R-hat = 1.001]``
        (the returned estimate's mean, error and variance; the split R-hat). In-process, every
        0.5 s it shows the running mean with the scatter of the walker means as its error,
        the variance and the acceptance so far. These figures come from sums kept during the
        steps, so the bar never reads the record again. ``None`` (default) shows it, as for
        every Monte Carlo run; ``False`` hides it.
    walker_groups : int, optional
        Split the walkers into this many groups of (almost) equal size, each with its own seed
        from :func:`~bayesphys.core.distributed.spawn_seeds` and run as one task (burn-in and
        steps). The numbers depend on ``walker_groups`` but not on where the groups run: the
        same value gives bit-for-bit the same estimate in-process and on any number of workers.
        Default: 1 (one population seeded with ``random_state``, as without groups) when
        ``client`` is None, else ``ceil(n_walkers / 1000)`` capped at 64. Pass it explicitly
        to compare a cluster run with an in-process one.
    client : dask.distributed.Client, optional
        Run the walker groups on this Dask cluster; the groups return their local-energy series
        and per-step averages, which are combined here. A group lost with its worker is rerun
        with the same seed, so the result does not change.

    Returns
    -------
    EnergyEstimate
        On ``KeyboardInterrupt`` during the recorded steps, the steps completed so far (at
        least 16; in-process with several walker groups: the groups completed) are returned,
        marked ``interrupted=True``, with an
        :class:`~bayesphys.core.interrupts.InterruptedRunWarning`; with nothing complete
        the ``KeyboardInterrupt`` is re-raised.

    Raises
    ------
    ValueError
        For invalid arguments, e.g. a wave-function parameter outside its domain (a Gaussian
        width ``alpha <= 0``).

    Warns
    -----
    MixingWarning
        If the walkers did not mix (see :attr:`EnergyEstimate.mixing`); the error bar is
        then inflated, never the blocking value of a frozen chain.
    """
    check_run_inputs(wf, system, sampler, method)
    n_walkers = check_positive_int(n_walkers, "n_walkers")
    n_steps = check_positive_int(n_steps, "n_steps", minimum=16)
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
    density_bins = check_positive_int(density_bins, "density_bins")
    if density_rmax is not None:
        try:
            density_rmax = float(density_rmax)
        except (TypeError, ValueError) as err:
            raise TypeError(f"density_rmax must be a number, got {density_rmax!r}") from err
        if not (math.isfinite(density_rmax) and density_rmax > 0):
            raise ValueError(f"density_rmax must be finite and > 0, got {density_rmax}")
    validate_random_state(random_state)
    progressbar = check_progressbar(progressbar)
    client = check_client(client)
    walker_groups = check_groups(
        walker_groups,
        n_walkers,
        default_groups(n_walkers, client),
        name="walker_groups",
        unit="walkers",
    )
    rmax = 4.5 / math.sqrt(system.omega) if density_rmax is None else float(density_rmax)
    edges = torch.linspace(0.0, rmax, density_bins + 1, dtype=torch.float64)
    sizes = split_sizes(n_walkers, walker_groups)
    inits: list | tuple = [init]
    if init is not None and not isinstance(init, torch.Tensor):
        raise TypeError(
            f"init must be a torch.Tensor of shape (n_walkers, {system.n_particles}, "
            f"{system.dim}), got {type(init).__name__} (use torch.as_tensor(init))"
        )
    if walker_groups > 1:
        if init is not None and init.shape[0] != n_walkers:
            raise ValueError(f"init must have shape (n_walkers, N, d), got {tuple(init.shape)}")
        inits = [None] * walker_groups if init is None else torch.split(init, sizes)
    bar = progress_bar(
        n_steps * walker_groups, "vmc estimate", disable=not progressbar or client is not None
    )
    tasks = [
        WalkerGroupTask(
            index=i if walker_groups > 1 else -1,
            wf=wf,
            system=system,
            sampler=sampler,
            n_walkers=size,
            n_steps=n_steps,
            burn_in=burn_in,
            random_state=group_seed,
            method=method,
            init=group_init,
            density_bins=density_bins,
            rmax=rmax,
            bar=bar if progressbar and client is None else None,
        )
        for i, (size, group_seed, group_init) in enumerate(
            zip(sizes, group_seeds(random_state, walker_groups), inits, strict=True)
        )
    ]
    try:
        run, progress = _run_groups(tasks, client, n_steps, progressbar)
        result = _summarise(run, progress, sampler, system, edges)
        if progressbar and not bar.disable:
            bar.set_postfix_str(progress_summary(result, run), refresh=False)
    finally:
        bar.close()
    return result


def progress_summary(est: EnergyEstimate, run: WalkerGroupResult | None = None) -> str:
    """The bar's postfix: ``E = 3.00040 +- 0.00002 [var = 0.0018, acc = 0.52, R-hat = 1.001]``.

    The split R-hat comes from the halves' moments that ``run`` summed during the steps where
    it has them (equal up to round-off, without reading the 1e7-value record again).
    """
    split = None
    if run is not None and run.half_means is not None:
        half = est.local_energies.shape[1] // 2
        split = r_hat_split_from_moments(half, run.half_means, run.half_variances)
    extra = f"acc = {est.acceptance:.2f}"
    return "E = " + est.energy.summary(extra, rank=False, split_r_hat=split)


def _summarise(
    run: WalkerGroupResult,
    progress: str | None,
    sampler: VMCSampler,
    system: HarmonicTrap,
    edges: torch.Tensor,
) -> EnergyEstimate:
    """Energies with honest error bars, mixing checks and the density of the kept groups."""
    energies, kinetic, potential, r12 = run.energies, run.kinetic, run.potential, run.r12
    e_all = energies.numpy()
    # A NaN or inf anywhere makes the sum non-finite: one cheap pass, the full check only then.
    if not math.isfinite(float(e_all.sum())) and not bool(np.isfinite(e_all).all()):
        raise FloatingPointError(
            "non-finite local energies: the wave function or sampler produced NaN/inf "
            "(check the parameters, e.g. alpha > 0, and the initial positions)"
        )
    # (walkers, steps): chain = walker. A view: blocking reads the steps axis in chunks of
    # walkers, cheaper than copying 1e7 values into walker-major order first.
    per_walker = e_all.T
    with warnings.catch_warnings():
        # A series too short for its correlation is reported below as a MixingWarning.
        warnings.simplefilter("ignore", RuntimeWarning)
        block = blocking(e_all, axis=0)
        kinetic_block, potential_block = blocking(kinetic.numpy()), blocking(potential.numpy())
    stderr, se_walkers, dispersion, mixing = _mixing(per_walker, block, run.acceptance, sampler)
    if progress is not None:
        warn_interrupted("vmc.estimate", progress, stacklevel=4)
    n_recorded, n_kept = per_walker.shape[1], per_walker.shape[0]
    shell = _shell_volumes(edges, system.dim)
    density = (run.counts / (n_recorded * n_kept) / shell).numpy()
    return EnergyEstimate(
        energy=Stats(block.mean, stderr, block.variance, block.tau, series=per_walker),
        acceptance=run.acceptance,
        kinetic=_component_stats(kinetic, run.kinetic_sq, kinetic_block, trusted=not mixing),
        potential=_component_stats(potential, run.potential_sq, potential_block, not mixing),
        r12=float(r12.mean()) if system.n_particles > 1 else float("nan"),
        density_r=(0.5 * (edges[1:] + edges[:-1])).numpy(),
        density=density,
        local_energies=per_walker,
        blocking=block,
        step_size=run.step_size,
        stderr_blocking=block.stderr,
        stderr_walkers=se_walkers,
        dispersion=dispersion,
        mixing=mixing,
        interrupted=progress is not None,
        interrupted_progress=progress,
    )


def _component_stats(
    means: torch.Tensor, squares: torch.Tensor, block: BlockingResult, trusted: bool = True
) -> Stats:
    """Stats of a kinetic or potential energy from its per-step walker means and mean squares.

    Untrusted (a mixing check fired on the energy): the error is NaN. Only the walker average
    of each step is kept for the parts, and its blocking cannot see stuck walkers: with every
    walker frozen it gave ``+- 0`` where the parts scattered by 0.3 over seeds.
    """
    mean = float(means.mean())
    variance = max(float(squares.mean()) - mean * mean, 0.0)
    stderr = block.stderr if trusted else math.nan
    return Stats(mean, stderr, variance, block.tau, series=means.numpy())


def _finished(result: WalkerGroupResult, task: WalkerGroupTask) -> bool:
    return not result.interrupted


def _run_groups(
    tasks: list[WalkerGroupTask], client, n_steps: int, progressbar: bool
) -> tuple[WalkerGroupResult, str | None]:
    """Run the walker groups with core ``run_groups`` (its one interrupt rule) and combine.

    A group interrupted during its recorded steps returns the steps it completed. Kept are the
    complete groups or, if none, the interrupted group when it has the 16 steps blocking needs;
    with nothing to keep ``KeyboardInterrupt`` is re-raised. Returns the combined groups and a
    description of what was kept (``None`` for a complete run).
    """
    results = run_groups(
        run_walker_group,
        tasks,
        client,
        finished=_finished,
        name="vmc-estimate",
        progress="vmc estimate (walker groups)" if progressbar else None,
    )
    complete = [r for r in results if r is not None and not r.interrupted]
    if len(complete) == len(tasks):
        return combine_groups(complete), None
    total = sum(t.n_walkers for t in tasks)
    if complete:
        kept = sum(r.n_walkers for r in complete)
        done = f"{n_steps} of {n_steps} steps per walker"
        progress = groups_progress(kept, total, len(complete), len(tasks), done, unit="walker")
        return combine_groups(complete), progress
    partial = [r for r in results if r is not None and r.energies.shape[0] >= 16]
    if not partial:
        raise KeyboardInterrupt(
            "vmc.estimate interrupted before 16 steps (the fewest blocking can use) were complete"
        )
    first = partial[0]
    done = f"{first.energies.shape[0]} of {n_steps} steps per walker"
    return first, groups_progress(first.n_walkers, total, 1, len(tasks), done, unit="walker")


def _mixing(
    per_walker: np.ndarray, block: BlockingResult, acceptance: float, sampler: VMCSampler
) -> tuple[float, float, float, tuple[str, ...]]:
    """Mixing checks and the honest error bar (rules in :class:`EnergyEstimate`).

    Returns ``(stderr, stderr_walkers, dispersion, mixing)``; a well-mixed run keeps the
    blocking error bit for bit.
    """
    n_walkers = per_walker.shape[0]
    if n_walkers > 1:
        means = per_walker.mean(axis=1)
        se_walkers = float(np.std(means, ddof=1) / math.sqrt(n_walkers))
    else:
        se_walkers = float("nan")
    se_block = block.stderr
    if se_block > 0:
        dispersion = (se_walkers / se_block) ** 2
    else:
        dispersion = float("inf") if se_walkers > 0 else float("nan")
    # Exact eigenstate: every sample is the energy, up to round-off (the elliptic-trap Gaussian
    # gave a variance of ~1e-31, and the walker check fired on 7e-16 of scatter).
    round_off = 64 * np.finfo(float).eps * abs(block.mean)
    if block.variance <= round_off**2:
        return se_block, se_walkers, dispersion, ()
    problems = []
    high = ACCEPT_HIGH if isinstance(sampler, Metropolis) else math.inf
    if not ACCEPT_LOW <= acceptance <= high:
        problems.append("acceptance")
    if block.frozen_chains and not _frozen_by_chance(per_walker, block.frozen_chains):
        problems.append("frozen")
    if not block.level_found:
        problems.append("tau")
    if n_walkers > 1 and se_walkers > DISPERSION_RATIO * se_block:
        # (walkers - 1) s_w^2 / s_b^2 is chi-square(walkers - 1) if blocking explains the scatter.
        p_value = stats.chi2.sf((n_walkers - 1) * dispersion, n_walkers - 1) if se_block else 0.0
        if p_value < DISPERSION_ALPHA:
            problems.append("walkers")
    drift = _drift(per_walker)
    if drift is not None:
        problems.append("drift")
    if not problems:
        return se_block, se_walkers, dispersion, ()
    drift_text = "" if drift is None else f"{drift[0]:+.3g} (t = {drift[1]:.1f})"
    parts = " (kinetic and potential errors: NaN)"
    if n_walkers >= MIN_WALKERS_FOR_SCATTER:
        stderr = max(se_block, se_walkers)
        reported = f"reporting stderr = max(blocking, walker scatter) = {stderr:.3g}{parts}"
    else:
        stderr = float("nan")
        reported = (
            f"reporting stderr = NaN: {n_walkers} walkers are too few for their scatter to "
            f"stand in (at least {MIN_WALKERS_FOR_SCATTER}){parts}"
        )
    warnings.warn(
        _mixing_message(problems, acceptance, block, se_walkers, sampler, drift_text) + reported,
        MixingWarning,
        stacklevel=4,  # _mixing <- _summarise <- estimate <- the caller
    )
    return stderr, se_walkers, dispersion, tuple(problems)


def _mixing_message(
    problems: list[str],
    acceptance: float,
    block: BlockingResult,
    se_walkers: float,
    sampler: VMCSampler,
    drift: str = "",
) -> str:
    step = "step" if isinstance(sampler, Metropolis) else "dt"
    found = []
    if "acceptance" in problems:
        size = "large" if acceptance < ACCEPT_LOW else "small"
        found.append(
            f"mean acceptance {acceptance:.3g} (the proposal {step} is far too {size}: use "
            f"adapt=True or another {step})"
        )
    if "frozen" in problems:
        found.append(f"{block.frozen_chains} of {block.n_chains} walkers never moved")
    if "tau" in problems:
        found.append(
            f"the correlation time (tau_corr >~ {block.tau:.3g} steps) is comparable to the "
            "series: blocking found no level with enough uncorrelated blocks (use more "
            f"n_steps or a better {step})"
        )
    if "walkers" in problems:
        found.append(
            f"the walkers disagree: their means scatter by {se_walkers:.3g} (standard error) "
            f"where blocking explains {block.stderr:.3g} (stuck or unequilibrated walkers: "
            f"use more burn_in, more n_steps or another {step})"
        )
    if "drift" in problems:
        found.append(
            f"the energy drifts: the second half of the recorded steps minus the first is "
            f"{drift} over the walkers (not yet in equilibrium: use more burn_in, or start "
            "closer to |psi|^2)"
        )
    return "vmc.estimate: the walkers did not mix: " + "; ".join(found) + "; "


def _frozen_by_chance(per_walker: np.ndarray, frozen: int) -> bool:
    """Whether ``frozen`` walkers that never moved are as many as chance allows.

    A walker in the far tails of ``|psi|^2`` rejects most moves, and over a short record some
    stay put by chance (40000 walkers x 16 steps: 3-9 of them in every well-mixed run) while
    still holding equilibrium samples. Each moving walker's fraction of repeated values
    estimates its chance of a rejection; the expected number of walkers rejecting every move
    is the population mean of that chance to the power of the transitions, times the walkers.
    More frozen walkers than a Poisson count of that mean allows (at ``FROZEN_ALPHA``), or all
    of them, are stuck.
    """
    n_walkers, n_steps = per_walker.shape
    if n_steps < 2 or frozen >= n_walkers:
        return False
    # A rejected move keeps the walker's local energy bit for bit; an accepted one changes it.
    stays = np.count_nonzero(per_walker[:, 1:] == per_walker[:, :-1], axis=1)
    moving = stays < n_steps - 1
    reject = stays[moving] / (n_steps - 1)
    expected = float(np.mean(reject ** (n_steps - 1))) * n_walkers
    return bool(stats.poisson.sf(frozen - 1, expected) >= FROZEN_ALPHA)


def _drift(per_walker: np.ndarray) -> tuple[float, float] | None:
    """``(mean difference, t)`` of the walkers' second-half minus first-half mean energies when
    it is nonzero at ``DRIFT_ALPHA`` (two-sided t-test over walkers), else ``None``.

    Under stationarity every walker's difference has mean zero whatever the correlation time,
    and walkers are independent, so the t-test over walkers needs no blocking.
    """
    n_walkers, n_steps = per_walker.shape
    if n_walkers < MIN_WALKERS_FOR_SCATTER:
        return None
    half = n_steps // 2
    difference = per_walker[:, n_steps - half :].mean(axis=1) - per_walker[:, :half].mean(axis=1)
    scale = float(np.std(difference, ddof=1)) / math.sqrt(n_walkers)
    if not scale > 0:  # every walker frozen (or identical): the frozen check speaks
        return None
    mean = float(difference.mean())
    t = mean / scale
    if 2.0 * stats.t.sf(abs(t), n_walkers - 1) < DRIFT_ALPHA:
        return mean, t
    return None


def _shell_volumes(edges: torch.Tensor, dim: int) -> torch.Tensor:
    """Volume of each radial shell in ``dim`` dimensions (length, area or volume)."""
    unit_ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)
    return unit_ball * (edges[1:] ** dim - edges[:-1] ** dim)
