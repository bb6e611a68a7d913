"""``vmc.optimize``: minimise the variational energy over the wave-function parameters.

Each iteration samples ``|psi|^2`` with persistent walkers, then moves the parameters along
``dE/dtheta = 2 (<E_L O> - <E_L><O>)``, ``O = d ln|psi| / d theta``. For Adam/SGD this is the
gradient of the surrogate ``2 <(E_L - <E_L>) ln|psi|>`` with ``E_L`` held fixed; stochastic
reconfiguration (``"sr"``) needs the per-sample ``O`` to precondition with their covariance.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from bayesphys.core.samplers.sampling import make_generator
from bayesphys.core.validation import check_positive_int
from bayesphys.vmc._checkpoint import load_checkpoint, save_checkpoint
from bayesphys.vmc.local_energy import METHODS
from bayesphys.vmc.samplers import VMCSampler, Walkers
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction

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
    lr: float = 0.01,
    seed: int | None = 0,
    *,
    steps_per_iteration: int = 10,
    burn_in: int = 200,
    sr_shift: float = 1e-3,
    method: str = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    progressbar: bool = True,
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
    lr : float
        Learning rate.
    seed : int, optional
        Seed of the ``torch.Generator`` driving the walkers.
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
        resumes from it (parameters, optimiser state, walkers, RNG and history).
    checkpoint_every : int
        Iterations between checkpoints.
    progressbar : bool
        Show a tqdm bar.

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
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr}")
    wf = copy.deepcopy(wf)
    params = [p for p in wf.parameters() if p.requires_grad]
    if not params:
        raise ValueError("wf has no trainable parameters to optimise")
    opt = _make_optimizer(optimizer, params, lr)
    generator = make_generator(seed, torch.device("cpu"))
    path = None if checkpoint is None else Path(checkpoint)
    rows: list[dict] = []
    if path is not None and path.exists():
        saved = load_checkpoint(path, wf, opt, generator)
        rows, init, step_size = saved["history"], saved["positions"], saved["step_size"]
        walkers = Walkers(wf, system, sampler, init.shape[0], generator, init)
        walkers.state = replace(walkers.state, step_size=step_size)  # adapted, not re-tuned
    else:
        walkers = Walkers(wf, system, sampler, n_walkers, generator)
        with torch.no_grad():
            walkers.burn_in(burn_in)
    interrupted = False
    bar = tqdm(total=n_iterations, initial=len(rows), disable=not progressbar, desc="vmc optimize")
    try:
        while len(rows) < n_iterations:
            rows.append(_iteration(wf, system, walkers, opt, params, optimizer, lr, steps,
                                   sr_shift, method))  # fmt: skip
            bar.update(1)
            bar.set_postfix(energy=f"{rows[-1]['energy']:.5f}", refresh=False)
            if path is not None and (len(rows) % checkpoint_every == 0):
                save_checkpoint(path, wf, opt, generator, walkers, rows)
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn(
            f"optimisation interrupted: returning {len(rows)} of {n_iterations} iterations",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        bar.close()
    if path is not None:
        save_checkpoint(path, wf, opt, generator, walkers, rows)
    return OptimizationResult(wf, pd.DataFrame(rows), len(rows), interrupted)


def _make_optimizer(name: str, params: list, lr: float) -> torch.optim.Optimizer | None:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return None  # SR updates the parameters itself


def _iteration(
    wf: WaveFunction,
    system: HarmonicTrap,
    walkers: Walkers,
    opt: torch.optim.Optimizer | None,
    params: list,
    optimizer: str,
    lr: float,
    steps: int,
    sr_shift: float,
    method: str,
) -> dict:
    """Sample ``steps`` steps, estimate energy and gradient, update the parameters."""
    walkers.refresh()
    positions, energies, accept = [], [], 0.0
    for _ in range(steps):
        info, e = walkers.step_with_energy(method)
        accept += float(info.accept_prob.mean())
        positions.append(walkers.positions.clone())
        energies.append(e.total)
    R = torch.cat(positions)
    e_loc = torch.cat(energies)
    if not bool(torch.isfinite(e_loc).all()):
        raise FloatingPointError(
            "non-finite local energy during optimisation: lower lr or check the parameters"
        )
    energy = e_loc.mean()
    walker_means = e_loc.view(steps, -1).mean(0)
    row = {
        "energy": float(energy),
        "stderr": float(walker_means.std() / math.sqrt(walker_means.numel())),
        "variance": float(e_loc.var()),
        "acceptance": accept / steps,
    }
    centred = (e_loc - energy).detach()
    if optimizer == "sr":
        grad_norm = _sr_update(wf, params, R, centred, lr, sr_shift)
    else:
        opt.zero_grad()
        surrogate = 2.0 * (centred * wf.log_psi(R)).mean()
        surrogate.backward()
        grad_norm = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
        opt.step()
    row["grad_norm"] = grad_norm
    row.update(wf.parameter_dict())
    return row


def _sr_update(
    wf: WaveFunction, params: list, R: torch.Tensor, centred: torch.Tensor, lr: float, shift: float
) -> float:
    """Stochastic reconfiguration: ``theta -= lr (S + shift)^-1 F`` with ``S = cov(O)``."""
    names = [n for n, p in wf.named_parameters() if p.requires_grad]
    values = {n: p.detach() for n, p in wf.named_parameters()}

    def single(theta: dict, r: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(wf, ({**values, **theta},), (r.unsqueeze(0),))[0]

    per_sample = torch.func.vmap(torch.func.grad(single), in_dims=(None, 0))
    grads = per_sample({n: values[n] for n in names}, R)
    O = torch.cat([grads[n].reshape(R.shape[0], -1) for n in names], dim=1)
    O = O - O.mean(0)
    force = 2.0 * (centred.unsqueeze(1) * O).mean(0)
    S = O.T @ O / R.shape[0]
    S = S + shift * torch.diag(torch.diag(S)) + 1e-10 * torch.eye(S.shape[0], dtype=S.dtype)
    delta = torch.linalg.solve(S, force)
    with torch.no_grad():
        offset = 0
        for p in params:
            k = p.numel()
            p -= lr * delta[offset : offset + k].view_as(p)
            offset += k
    return float(torch.linalg.vector_norm(force))
