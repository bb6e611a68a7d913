"""``vmc.estimate``: energy and observables of a fixed trial wave function, with error bars."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from bayesphys.core.blocking import BlockingResult, blocking
from bayesphys.core.distributed import (
    check_client,
    check_groups,
    group_seeds,
    map_tasks,
    split_sizes,
)
from bayesphys.core.samplers.sampling import RandomState, validate_random_state
from bayesphys.core.validation import check_positive_int, check_progressbar
from bayesphys.vmc._distributed import (
    WalkerGroupTask,
    combine_groups,
    default_groups,
    run_walker_group,
)
from bayesphys.vmc.local_energy import METHODS
from bayesphys.vmc.samplers import VMCSampler
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction

if TYPE_CHECKING:
    from bayesphys.core.results import InferenceData

__all__ = ["EnergyEstimate", "estimate"]


@dataclass(eq=False)
class EnergyEstimate:
    """Result of :func:`estimate`.

    Attributes
    ----------
    energy, stderr : float
        Mean local energy and its standard error by automated blocking with every walker as
        an independent chain (:func:`bayesphys.core.blocking.blocking`): one blocking level for
        all walkers, chosen by Jonsson's test summed over walkers, the lag-1 corrected block
        variance of each walker at that level, and ``stderr^2 = sum_w Var(mean_w) /
        walkers^2``. Blocking the walker-averaged series instead gives the test only
        ``n_steps`` samples of evidence; it then stops at too short blocks (~15 % low for
        ``n_steps / tau ~ 200`` before the lag-1 correction, noisier after it).
    variance : float
        Variance of the local energy (zero for an exact eigenstate).
    acceptance : float
        Mean acceptance probability after burn-in.
    tau_corr : float
        Integrated autocorrelation time of the energy series, in steps (blocking estimate).
    kinetic, potential : float
        Mean kinetic and potential energy (virial checks), with ``kinetic_stderr`` and
        ``potential_stderr``.
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
    """

    energy: float
    stderr: float
    variance: float
    acceptance: float
    tau_corr: float
    kinetic: float
    kinetic_stderr: float
    potential: float
    potential_stderr: float
    r12: float
    density_r: np.ndarray
    density: np.ndarray
    local_energies: np.ndarray = field(repr=False)
    blocking: BlockingResult = field(repr=False)
    step_size: float = float("nan")

    @property
    def idata(self) -> InferenceData:
        """``InferenceData``: ``local_energy`` (chain = walker, draw = step) in ``posterior``
        and ``sample_stats``, so ArviZ ``ess``, ``rhat`` and ``mcse`` apply directly."""
        from bayesphys.core.results import to_inference_data  # arviz import is slow

        e = self.local_energies
        return to_inference_data(
            {"local_energy": e},
            sample_stats={"local_energy": e},
            attrs={"inference_method": "vmc"},
        )

    def __repr__(self) -> str:
        return (
            f"EnergyEstimate(energy={self.energy:.6f} +- {self.stderr:.2g}, "
            f"variance={self.variance:.3g}, acceptance={self.acceptance:.3f}, "
            f"tau_corr={self.tau_corr:.2f})"
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
        Number of radial bins of the one-body density.
    density_rmax : float, optional
        Largest radius of the density histogram; default ``4.5 / sqrt(omega)``.
    progressbar : bool, optional
        Show a tqdm bar (in-process only; one bar per walker group). ``None`` (default) shows
        it, as for every Monte Carlo run; ``False`` hides it.
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
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    n_walkers = check_positive_int(n_walkers, "n_walkers")
    n_steps = check_positive_int(n_steps, "n_steps", minimum=16)
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
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
    N, d = system.n_particles, system.dim
    rmax = 4.5 / math.sqrt(system.omega) if density_rmax is None else float(density_rmax)
    edges = torch.linspace(0.0, rmax, density_bins + 1, dtype=torch.float64)
    sizes = split_sizes(n_walkers, walker_groups)
    inits: list | tuple = [init]
    if walker_groups > 1:
        if init is not None and init.shape[0] != n_walkers:
            raise ValueError(f"init must have shape (n_walkers, N, d), got {tuple(init.shape)}")
        inits = [None] * walker_groups if init is None else torch.split(init, sizes)
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
            progressbar=progressbar and client is None,
        )
        for i, (size, group_seed, group_init) in enumerate(
            zip(sizes, group_seeds(random_state, walker_groups), inits, strict=True)
        )
    ]
    run = combine_groups(map_tasks(run_walker_group, tasks, client, name="vmc-estimate"))
    energies, kinetic, potential, r12 = run.energies, run.kinetic, run.potential, run.r12
    e_all = energies.numpy()
    if not bool(np.isfinite(e_all).all()):
        raise FloatingPointError(
            "non-finite local energies: the wave function or sampler produced NaN/inf "
            "(check the parameters, e.g. alpha > 0, and the initial positions)"
        )
    per_walker = np.ascontiguousarray(e_all.T)  # (walkers, steps): chain = walker
    block = blocking(per_walker)  # warns (once) if the run is too short for its correlation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kinetic_se, potential_se = blocking(kinetic.numpy()), blocking(potential.numpy())
    shell = _shell_volumes(edges, d)
    density = (run.counts / (n_steps * n_walkers) / shell).numpy()
    return EnergyEstimate(
        energy=block.mean,
        stderr=block.stderr,
        variance=float(e_all.var()),
        acceptance=run.acceptance,
        tau_corr=block.tau,
        kinetic=float(kinetic.mean()),
        kinetic_stderr=kinetic_se.stderr,
        potential=float(potential.mean()),
        potential_stderr=potential_se.stderr,
        r12=float(r12.mean()) if N > 1 else float("nan"),
        density_r=(0.5 * (edges[1:] + edges[:-1])).numpy(),
        density=density,
        local_energies=per_walker,
        blocking=block,
        step_size=run.step_size,
    )


def _shell_volumes(edges: torch.Tensor, dim: int) -> torch.Tensor:
    """Volume of each radial shell in ``dim`` dimensions (length, area or volume)."""
    unit_ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)
    return unit_ball * (edges[1:] ** dim - edges[:-1] ** dim)
