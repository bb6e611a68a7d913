"""``vmc.estimate``: energy and observables of a fixed trial wave function, with error bars."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from bayesphys.core.blocking import BlockingResult, blocking
from bayesphys.core.samplers.sampling import make_generator
from bayesphys.core.validation import check_positive_int
from bayesphys.vmc.local_energy import local_energy
from bayesphys.vmc.samplers import VMCSampler, Walkers
from bayesphys.vmc.systems import HarmonicTrap, pair_distances
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
        Mean local energy and its standard error by automated blocking of the walker-averaged
        series (walkers are independent, so averaging them keeps the time correlation intact
        and divides the variance by the number of walkers; one blocking pass then replaces a
        Python loop over thousands of per-walker series).
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
    seed: int | None = 0,
    *,
    method: str = "auto",
    init: torch.Tensor | None = None,
    density_bins: int = 60,
    density_rmax: float | None = None,
    progressbar: bool = False,
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
    seed : int, optional
        Seed of the sampler's ``torch.Generator``.
    method : {"auto", "analytic", "autograd"}
        Local-energy evaluation, see :func:`bayesphys.vmc.local_energy`.
    init : Tensor, optional
        Start positions ``(n_walkers, N, d)``.
    density_bins : int
        Number of radial bins of the one-body density.
    density_rmax : float, optional
        Largest radius of the density histogram; default ``4.5 / sqrt(omega)``.
    progressbar : bool
        Show a tqdm bar.

    Returns
    -------
    EnergyEstimate
    """
    n_walkers = check_positive_int(n_walkers, "n_walkers")
    n_steps = check_positive_int(n_steps, "n_steps", minimum=16)
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
    generator = make_generator(seed, torch.device("cpu"))
    walkers = Walkers(wf, system, sampler, n_walkers, generator, init)
    N, d = system.n_particles, system.dim
    rmax = 4.5 / math.sqrt(system.omega) if density_rmax is None else float(density_rmax)
    edges = torch.linspace(0.0, rmax, density_bins + 1, dtype=torch.float64)
    counts = torch.zeros(density_bins, dtype=torch.float64)
    energies = torch.empty(n_steps, n_walkers, dtype=torch.float64)
    kinetic = torch.empty(n_steps, dtype=torch.float64)
    potential = torch.empty(n_steps, dtype=torch.float64)
    r12 = torch.zeros(n_steps, dtype=torch.float64)
    accept = 0.0
    with torch.no_grad():
        walkers.burn_in(burn_in)
    for t in tqdm(range(n_steps), disable=not progressbar, desc="vmc estimate"):
        accept += float(walkers.step().accept_prob.mean())
        R = walkers.positions
        e = local_energy(wf, system, R, method)
        energies[t] = e.total
        kinetic[t] = e.kinetic.mean()
        potential[t] = e.potential.mean()
        with torch.no_grad():
            radius = torch.linalg.vector_norm(R, dim=-1).reshape(-1)
            # floor + bincount: torch.histc costs milliseconds per call on CPU.
            idx = (radius * (density_bins / rmax)).long()
            idx = idx[idx < density_bins]
            counts += torch.bincount(idx, minlength=density_bins).to(counts.dtype)
            if N > 1:
                r12[t] = pair_distances(R)[0].mean()
    series = energies.mean(1).numpy()
    if not bool(np.isfinite(series).all()):
        raise FloatingPointError(
            "non-finite local energies: the wave function or sampler produced NaN/inf "
            "(check the parameters, e.g. alpha > 0, and the initial positions)"
        )
    block = blocking(series)  # warns (once) if the run is too short for its correlation time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kinetic_se, potential_se = blocking(kinetic.numpy()), blocking(potential.numpy())
    shell = _shell_volumes(edges, d)
    density = (counts / (n_steps * n_walkers) / shell).numpy()
    e_all = energies.numpy()
    return EnergyEstimate(
        energy=block.mean,
        stderr=block.stderr,
        variance=float(e_all.var()),
        acceptance=accept / n_steps,
        tau_corr=block.tau,
        kinetic=float(kinetic.mean()),
        kinetic_stderr=kinetic_se.stderr,
        potential=float(potential.mean()),
        potential_stderr=potential_se.stderr,
        r12=float(r12.mean()) if N > 1 else float("nan"),
        density_r=(0.5 * (edges[1:] + edges[:-1])).numpy(),
        density=density,
        local_energies=np.ascontiguousarray(e_all.T),
        blocking=block,
        step_size=float(walkers.step_size.mean()),
    )


def _shell_volumes(edges: torch.Tensor, dim: int) -> torch.Tensor:
    """Volume of each radial shell in ``dim`` dimensions (length, area or volume)."""
    unit_ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)
    return unit_ball * (edges[1:] ** dim - edges[:-1] ** dim)
