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

from bayesphys.core.chains import check_groups, group_seeds, split_sizes
from bayesphys.core.distributed import check_client
from bayesphys.core.interrupts import warn_interrupted
from bayesphys.core.progress import progress_bar
from bayesphys.core.resident import ResidentGroups
from bayesphys.core.samplers.sampling import RandomState, validate_random_state
from bayesphys.core.stats import Stats
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
from bayesphys.vmc.estimation import check_run_inputs
from bayesphys.vmc.samplers import VMCSampler
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction, domain_violations

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Future

__all__ = ["OptimizationResult", "ParameterDomainWarning", "optimize"]

OPTIMIZERS = ("adam", "sgd", "sr")
_MAX_HALVINGS = 60  # 2^-60: an update that cannot be shrunk into the domain is a bug


class ParameterDomainWarning(RuntimeWarning):
    """A ``vmc.optimize`` update would have left a parameter's domain and was shrunk."""


@dataclass(eq=False)
class OptimizationResult:
    """Result of :func:`optimize`.

    Attributes
    ----------
    wavefunction : WaveFunction
        The optimised wave function (a copy; the input is left untouched).
    history : pandas.DataFrame
        One row per iteration: ``energy``, ``stderr`` (from walker means, walkers being
        independent), ``variance``, ``acceptance``, ``r_hat`` (Gelman-Rubin over the walkers
        of the iteration), ``grad_norm`` and every parameter at the values the row's energy
        was measured at (before that iteration's update; ``wavefunction`` holds the values
        after the last update).
    n_iterations : int
        Iterations completed (fewer than requested after an interruption).
    interrupted : bool
        True if stopped by ``KeyboardInterrupt``: the result is partial (see
        :mod:`bayesphys.core.interrupts`) and must not be treated as a finished optimisation.
    """

    wavefunction: WaveFunction
    history: pd.DataFrame = field(repr=False)
    n_iterations: int
    interrupted: bool = False

    @property
    def energy(self) -> float:
        """Energy of the last iteration."""
        return float(self.history["energy"].iloc[-1]) if len(self.history) else math.nan


HISTORY_COLUMNS = ("energy", "stderr", "variance", "acceptance", "r_hat", "grad_norm")


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
        Diagonal shift added to the SR overlap matrix (regularisation; finite, >= 0).
    method : {"auto", "analytic", "autograd"}
        Local-energy evaluation (``"auto"``: from the fused Metropolis step where it applies,
        see :func:`~bayesphys.vmc.estimate`).
    checkpoint : path, optional
        File saved every ``checkpoint_every`` iterations and at the end; if it exists, the run
        resumes from it (parameters, optimiser state, walkers, RNG and history; the walkers
        and groups of the checkpoint are used). The resumed updates use this call's
        ``learning_rate``; a checkpoint of another ``optimizer`` is refused (ValueError).
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
        On ``KeyboardInterrupt`` the iterations completed so far are returned (and checkpointed),
        marked ``interrupted=True``, with an
        :class:`~bayesphys.core.interrupts.InterruptedRunWarning`; interrupted before the first
        iteration completed (e.g. during burn-in), the ``KeyboardInterrupt`` is re-raised.

    Raises
    ------
    ValueError
        For invalid arguments, e.g. a starting parameter outside its domain.
    FloatingPointError
        If an iteration produces non-finite local energies or gradients; the message names the
        iteration and the parameter the last update moved most.

    Warns
    -----
    ParameterDomainWarning
        When an update would leave a parameter's domain (a Gaussian width or Pade range
        ``<= 0``, or a non-finite value): the whole update is halved until every parameter is
        inside, keeping its direction. Updates that stay inside are applied unchanged.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    check_run_inputs(wf, system, sampler, method)
    n_iterations = check_positive_int(n_iterations, "n_iterations", minimum=0)
    n_walkers = check_positive_int(n_walkers, "n_walkers", minimum=2)
    steps = check_positive_int(steps_per_iteration, "steps_per_iteration")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(f"learning_rate must be a number, got {learning_rate!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}")
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
    if isinstance(sr_shift, bool) or not isinstance(sr_shift, numbers.Real):
        raise TypeError(f"sr_shift must be a number, got {sr_shift!r}")
    if not (math.isfinite(sr_shift) and sr_shift >= 0):
        raise ValueError(f"sr_shift must be finite and >= 0 (a diagonal shift), got {sr_shift}")
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
    n_shrunk = 0
    bar = progress_bar(n_iterations, "vmc optimize", disable=not progressbar)
    try:
        if path is not None and path.exists():
            rows, states = load_checkpoint(path, wf, opt, optimizer, learning_rate)
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
            previous = wf.parameter_dict()
            while len(rows) < n_iterations:
                current = wf.parameter_dict()
                try:
                    row = _iteration(
                        groups, shared, wf, opt, params, optimizer, learning_rate, sr_shift,
                        len(rows) + 1,
                    )  # fmt: skip
                except FloatingPointError as err:
                    message = _non_finite_message(len(rows) + 1, previous, current, err)
                    raise FloatingPointError(message) from err
                previous = current
                shrunk = row.pop("_shrunk", None)
                if shrunk is not None:
                    n_shrunk += 1
                    if n_shrunk == 1:  # once per run; the count follows at the end
                        warnings.warn(
                            f"vmc.optimize: {shrunk}. Frequent shrinking means learning_rate "
                            "is too large",
                            ParameterDomainWarning,
                            stacklevel=2,
                        )
                rows.append(row)
                bar.update(1)
                bar.set_postfix_str(progress_summary(rows[-1]), refresh=False)
                if len(rows) % checkpoint_every == 0:
                    states = groups.snapshot()  # also bounds what a lost worker costs
                    if path is not None:
                        save_checkpoint(path, wf, opt, states, rows, optimizer)
        except KeyboardInterrupt:
            if not rows:  # nothing complete to return (core/interrupts.py policy)
                raise
            interrupted = True
            warn_interrupted("vmc.optimize", f"{len(rows)} of {n_iterations} iterations")
        if path is not None:
            save_checkpoint(path, wf, opt, groups.snapshot(), rows, optimizer)
    finally:
        bar.close()
        groups.close(release, spec.token)
    if n_shrunk > 1:
        warnings.warn(
            f"vmc.optimize: {n_shrunk} of {len(rows)} updates were shrunk to keep the "
            "parameters in their domains: lower learning_rate",
            ParameterDomainWarning,
            stacklevel=2,
        )
    # An empty history (n_iterations=0) keeps its columns, so code reading it does not break.
    history = (
        pd.DataFrame(rows)
        if rows
        else pd.DataFrame(columns=[*HISTORY_COLUMNS, *wf.parameter_dict()], dtype=float)
    )
    return OptimizationResult(wf, history, len(rows), interrupted)


def progress_summary(row: dict) -> str:
    """The optimiser bar's postfix: ``E = 3.00040 +- 0.00002 [var = 0.0018, acc = 0.56,
    R-hat = 1.001]`` (the energy and its error as :class:`~bayesphys.core.stats.Stats` prints
    them; R-hat left out where undefined)."""
    stats = Stats(
        row["energy"], row["stderr"], row["variance"], math.nan, r_hat=row.get("r_hat", math.nan)
    )
    return "E = " + stats.summary(f"acc = {row['acceptance']:.2f}")


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
    iteration: int = 0,
) -> dict:
    """Advance every walker group one iteration, combine their sums, update the parameters."""
    state = {k: v.detach().clone() for k, v in wf.state_dict().items()}
    totals = reduce_sums(groups.advance(advance_group, spec, state))
    if not bool(torch.isfinite(totals.gradient).all()):
        raise FloatingPointError("non-finite energy gradient")
    old = [p.detach().clone() for p in params]
    # The parameters the energy was measured at, before this iteration's update (the row
    # reported the updated ones: picking the lowest-energy row picked the wrong parameters).
    measured_at = wf.parameter_dict()
    row = {  # HISTORY_COLUMNS, then the parameters
        "energy": totals.energy,
        "stderr": totals.stderr,
        "variance": totals.variance,
        "acceptance": totals.acceptance,
        "r_hat": totals.r_hat,
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
    shrunk = _keep_in_domain(wf, params, old, iteration)
    row.update(measured_at)
    if shrunk is not None:
        row["_shrunk"] = shrunk  # popped by optimize, which warns
    return row


def _keep_in_domain(wf: WaveFunction, params: list, old: list, iteration: int) -> str | None:
    """Halve the update just applied until every parameter is in its domain.

    Returns ``None`` if the update was inside, else a sentence saying what was shrunk.
    """
    bad = domain_violations(wf)
    if not bad:
        return None
    with torch.no_grad():
        deltas = [p - q for p, q in zip(params, old, strict=True)]
        if not all(bool(torch.isfinite(delta).all()) for delta in deltas):
            for p, q in zip(params, old, strict=True):
                p.copy_(q)
            raise FloatingPointError("non-finite parameter update")  # optimize names it
        factor = 1.0
        for _ in range(_MAX_HALVINGS):
            factor *= 0.5
            for p, q, delta in zip(params, old, deltas, strict=True):
                p.copy_(q + factor * delta)
            if not domain_violations(wf):
                break
        else:
            for p, q in zip(params, old, strict=True):
                p.copy_(q)
            name, problem = bad[0]
            raise ValueError(
                f"vmc.optimize: iteration {iteration} cannot keep {name} in its domain "
                f"({problem}); lower learning_rate"
            )
    name, problem = bad[0]
    return (
        f"the update of iteration {iteration} would leave the domain of {name} ({problem}); "
        f"it was shrunk by a factor {factor:g} to stay inside"
    )


def _non_finite_message(
    iteration: int, previous: dict[str, float], current: dict[str, float], err: Exception
) -> str:
    """Name the iteration and the parameter the last update moved most (relative change)."""
    message = f"vmc.optimize: iteration {iteration}: {err}"
    change = {k: abs(current[k] - previous[k]) / max(abs(previous[k]), 1e-300) for k in current}
    name = max(change, key=change.get)
    if change[name] > 0:
        message += (
            f"; the last update moved {name} from {previous[name]:.6g} to {current[name]:.6g}"
        )
    shown = ", ".join(f"{k}={v:.6g}" for k, v in list(current.items())[:8])
    more = ", ..." if len(current) > 8 else ""
    return (
        f"{message} (parameters: {shown}{more}). Lower learning_rate, use optimizer='sr' or "
        "check the starting parameters"
    )


def _unflatten(flat: torch.Tensor, params: list) -> list[torch.Tensor]:
    sizes = [p.numel() for p in params]
    return [chunk.view_as(p) for chunk, p in zip(flat.split(sizes), params, strict=True)]
