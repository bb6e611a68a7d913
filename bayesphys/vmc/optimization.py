"""``vmc.optimize``: minimise the variational energy over the wave-function parameters.

Each iteration samples ``|psi|^2`` with persistent walkers, then moves the parameters along
``dE/dtheta = 2 (<E_L O> - <E_L><O>)``, ``O = d ln|psi| / d theta``. For Adam/SGD this is the
gradient of the surrogate ``2 <(E_L - <E_L>) ln|psi|>`` with ``E_L`` held fixed; stochastic
reconfiguration (``"sr"``) needs the per-sample ``O`` to precondition with their covariance.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from tqdm.auto import tqdm

from bayesphys.core.distributed import check_client, check_groups, group_seeds, split_sizes
from bayesphys.core.resident import ResidentGroups
from bayesphys.core.samplers.sampling import RandomState, validate_random_state
from bayesphys.core.validation import check_positive_int, check_progressbar
from bayesphys.vmc._checkpoint import load_checkpoint, save_checkpoint
from bayesphys.vmc._distributed import default_groups
from bayesphys.vmc._resident import (
    GroupSpec,
    advance_group,
    init_group,
    reduce_sums,
    release,
)
from bayesphys.vmc.local_energy import METHODS
from bayesphys.vmc.samplers import VMCSampler
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Future

__all__ = ["OptimizationResult", "optimize"]

OPTIMIZERS = ("adam", "sgd", "sr")


@dataclass(eq=False)
class OptimizationResult:
    """Result of :func:`optimize`.

    Attributes
    ----------
    wavefunction : WaveFunction
        The optimised wave function (a copy; the input is left untouched).
    history : pandas.DataFrame
        One row per iteration: ``energy``, ``stderr`` (from walker means, walkers being
        independent), ``variance``, ``acceptance``, ``grad_norm`` and every parameter.
    n_iterations : int
        Iterations completed (fewer than requested after an interruption).
    interrupted : bool
        True if stopped by ``KeyboardInterrupt``.
    """

    wavefunction: WaveFunction
    history: pd.DataFrame = field(repr=False)
    n_iterations: int
    interrupted: bool = False

    @property
    def energy(self) -> float:
        """Energy of the last iteration."""
        return float(self.history["energy"].iloc[-1]) if len(self.history) else math.nan


def optimize(
    wf: WaveFunction,
    system: HarmonicTrap,
    sampler: VMCSampler,
    optimizer: str = "adam",
    n_iterations: int = 100,
    n_walkers: int = 1000,
    *,
    learning_rate: float = 0.01,
    random_state: RandomState = 0,
    steps_per_iteration: int = 10,
    burn_in: int = 200,
    sr_shift: float = 1e-3,
    method: str = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    progressbar: bool | None = None,
    walker_groups: int | None = None,
    client=None,
) -> OptimizationResult:
    """Optimise the parameters of ``wf`` by stochastic gradient descent on ``<E_L>``.

    Parameters
    ----------
    wf : WaveFunction
        Starting wave function (copied, not modified).
    system : HarmonicTrap
        Hamiltonian.
    sampler : VMCSampler
        ``vmc.Metropolis(...)`` or ``vmc.Langevin(...)``; step sizes adapt during ``burn_in``.
    optimizer : {"adam", "sgd", "sr"}
        Update rule; ``"sr"`` is stochastic reconfiguration (natural gradient).
    n_iterations : int
        Total number of parameter updates (including those of a resumed checkpoint).
    n_walkers : int
        Walkers; each iteration uses ``n_walkers * steps_per_iteration`` samples.
    learning_rate : float
        Step size of the parameter updates (Adam/SGD learning rate; SR step).
    random_state : int, torch.Generator, numpy Generator or SeedSequence, optional
        Seed of the ``torch.Generator`` driving the walkers (default 0: the same numbers on
        every run; ``None``: fresh OS entropy).
    steps_per_iteration : int
        Sampler steps between two updates.
    burn_in : int
        Initial equilibration steps (with step-size adaptation).
    sr_shift : float
        Diagonal shift added to the SR overlap matrix (regularisation).
    method : {"auto", "analytic", "autograd"}
        Local-energy evaluation (``"auto"``: from the fused Metropolis step where it applies,
        see :func:`~bayesphys.vmc.estimate`).
    checkpoint : path, optional
        File saved every ``checkpoint_every`` iterations and at the end; if it exists, the run
        resumes from it (parameters, optimiser state, walkers, RNG and history; the walkers
        and groups of the checkpoint are used).
    checkpoint_every : int
        Iterations between checkpoints. With a client, also how often the walker states are
        copied back here (what a lost worker's groups are recomputed from).
    progressbar : bool, optional
        Show a tqdm bar; ``None`` (default) shows it, ``False`` hides it.
    walker_groups : int, optional
        Split the walkers into this many groups with their own seeds (spawned from
        ``random_state``).
        Each group keeps its walkers where it runs (on a Dask worker) and returns only sums per
        iteration (energy moments, gradient terms, counts), reduced here in group order. The
        result depends on ``walker_groups`` but not on where the groups run: the same value
        gives the same parameters and history in-process and on any number of workers.
        Default: 1 without a client, else ``ceil(n_walkers / 1000)`` capped at 64.
    client : dask.distributed.Client, optional
        Run the walker groups on this Dask cluster. A worker lost mid-run is survived: its
        groups are recomputed from the last copy (at most ``checkpoint_every`` iterations).

    Returns
    -------
    OptimizationResult
        On ``KeyboardInterrupt`` the iterations completed so far are returned (and checkpointed)
        with a ``RuntimeWarning``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    if not isinstance(wf, WaveFunction):
        raise TypeError(f"wf must be a bayesphys.vmc WaveFunction, got {type(wf).__name__}")
    n_iterations = check_positive_int(n_iterations, "n_iterations", minimum=0)
    n_walkers = check_positive_int(n_walkers, "n_walkers", minimum=2)
    steps = check_positive_int(steps_per_iteration, "steps_per_iteration")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(f"learning_rate must be a number, got {learning_rate!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}")
    validate_random_state(random_state)
    progressbar = check_progressbar(progressbar)
    client = check_client(client)
    wf = copy.deepcopy(wf)
    params = [p for p in wf.parameters() if p.requires_grad]
    if not params:
        raise ValueError("wf has no trainable parameters to optimise")
    opt = _make_optimizer(optimizer, params, learning_rate)
    spec = GroupSpec(
        uuid.uuid4().hex, copy.deepcopy(wf), system, sampler, steps, method, optimizer == "sr"
    )
    groups = ResidentGroups(client, name="vmc-optimize")
    shared = groups.share(spec)  # the wave function etc. travel to each worker once
    path = None if checkpoint is None else Path(checkpoint)
    rows: list[dict] = []
    interrupted = False
    bar = tqdm(total=n_iterations, disable=not progressbar, desc="vmc optimize")
    try:
        if path is not None and path.exists():
            rows, states = load_checkpoint(path, wf, opt)
            if walker_groups is not None and walker_groups != len(states):
                raise ValueError(
                    f"walker_groups={walker_groups} but checkpoint {path} holds "
                    f"{len(states)} walker groups: pass walker_groups={len(states)} or None"
                )
            groups.resume(states)
            bar.update(len(rows))
        else:
            n_groups = check_groups(
                walker_groups,
                n_walkers,
                default_groups(n_walkers, client),
                name="walker_groups",
                unit="walkers",
            )
            seeds = group_seeds(random_state, n_groups)
            sizes = split_sizes(n_walkers, n_groups)
            calls = [(shared, i, sizes[i], seeds[i], None, burn_in) for i in range(n_groups)]
            groups.start(init_group, calls)
        try:
            while len(rows) < n_iterations:
                rows.append(
                    _iteration(groups, shared, wf, opt, params, optimizer, learning_rate, sr_shift)
                )
                bar.update(1)
                bar.set_postfix(energy=f"{rows[-1]['energy']:.5f}", refresh=False)
                if len(rows) % checkpoint_every == 0:
                    states = groups.snapshot()  # also bounds what a lost worker costs
                    if path is not None:
                        save_checkpoint(path, wf, opt, states, rows)
        except KeyboardInterrupt:
            interrupted = True
            warnings.warn(
                f"optimisation interrupted: returning {len(rows)} of {n_iterations} iterations",
                RuntimeWarning,
                stacklevel=2,
            )
        if path is not None:
            save_checkpoint(path, wf, opt, groups.snapshot(), rows)
    finally:
        bar.close()
        groups.close(release, spec.token)
    return OptimizationResult(wf, pd.DataFrame(rows), len(rows), interrupted)


def _make_optimizer(name: str, params: list, lr: float) -> torch.optim.Optimizer | None:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return None  # SR updates the parameters itself


def _iteration(
    groups: ResidentGroups,
    spec: GroupSpec | Future,
    wf: WaveFunction,
    opt: torch.optim.Optimizer | None,
    params: list,
    optimizer: str,
    lr: float,
    sr_shift: float,
) -> dict:
    """Advance every walker group one iteration, combine their sums, update the parameters."""
    state = {k: v.detach().clone() for k, v in wf.state_dict().items()}
    totals = reduce_sums(groups.advance(advance_group, spec, state))
    row = {
        "energy": totals.energy,
        "stderr": totals.stderr,
        "variance": totals.variance,
        "acceptance": totals.acceptance,
        "grad_norm": float(torch.linalg.vector_norm(totals.gradient)),
    }
    if optimizer == "sr":
        S = totals.overlap
        S = S + sr_shift * torch.diag(torch.diag(S)) + 1e-10 * torch.eye(S.shape[0], dtype=S.dtype)
        step = lr * torch.linalg.solve(S, totals.gradient)
        with torch.no_grad():
            for p, delta in zip(params, _unflatten(step, params), strict=True):
                p -= delta
    else:
        for p, grad in zip(params, _unflatten(totals.gradient, params), strict=True):
            p.grad = grad.to(p.dtype)
        opt.step()
    row.update(wf.parameter_dict())
    return row


def _unflatten(flat: torch.Tensor, params: list) -> list[torch.Tensor]:
    sizes = [p.numel() for p in params]
    return [chunk.view_as(p) for chunk, p in zip(flat.split(sizes), params, strict=True)]
