"""Walkers sampling ``|psi|^2`` with the core MCMC kernels.

VMC samples ``p(R) = |psi(R)|^2 / Z``, i.e. the core kernels run on ``log_prob = 2 ln|psi|`` with
the ``N * d`` coordinates flattened per walker (walker = chain):

- :class:`Metropolis` (all-particle moves) is core ``RandomWalkMetropolis``; single-particle
  moves are a thin kernel subclass that perturbs one random particle per walker and step.
- :class:`Langevin` importance sampling proposes ``R' = R + D dt F(R) + sqrt(2 D dt) xi`` with
  ``D = 1/2`` and the quantum force ``F = 2 grad psi / psi = grad log|psi|^2`` and accepts with
  the Green's-function ratio. This is exactly core ``MALA`` on ``log|psi|^2`` with step size
  ``h = sqrt(dt)`` and unit mass (``h^2 / 2 grad log p = dt/2 F``), so it reuses that kernel.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import replace

import torch
from torch import Tensor

from bayesphys.core.samplers import (
    MALA,
    ChainState,
    Kernel,
    RandomWalkMetropolis,
    StepInfo,
    WindowAdaptation,
)
from bayesphys.core.samplers.base import all_finite, evaluate, metropolis_accept, select_rows
from bayesphys.vmc._numba_slater import NumbaSlaterMetropolis, slater_supported
from bayesphys.vmc._numba_step import NumbaMetropolis, numba_available
from bayesphys.vmc.fused import FusedMetropolis, fused_supported
from bayesphys.vmc.local_energy import LocalEnergy, local_energy
from bayesphys.vmc.systems import HarmonicTrap
from bayesphys.vmc.wavefunctions.base import WaveFunction

__all__ = ["Langevin", "Metropolis", "VMCSampler", "Walkers"]


class VMCSampler:
    """Base of the VMC sampler specifications; :meth:`kernel` builds the core kernel."""

    def kernel(self, n_particles: int, dim: int) -> Kernel:
        """The core kernel acting on flattened coordinates ``(walkers, n_particles * dim)``."""
        raise NotImplementedError


def _positive(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from err
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def _probability(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number in (0, 1), got {value!r}") from err
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


class Metropolis(VMCSampler):
    """Brute-force Metropolis with Gaussian moves of scale ``step``.

    Parameters
    ----------
    step : float
        Initial proposal standard deviation per coordinate (oscillator lengths).
    moves : {"all", "single"}
        Move all particles at once, or one randomly chosen particle per walker and step (then
        ``N`` steps make one sweep).
    target_accept : float
        Acceptance rate that the burn-in adaptation of ``step`` aims for.
    adapt : bool
        Adapt ``step`` (per walker, dual averaging) during the first 4/5 of burn-in; the last
        fifth runs at the adapted steps, so that the walkers relax to ``|psi|^2``.
    fused : bool
        For ``GaussianJastrow`` (Pade factor or none) in a free or Coulomb trap with
        all-particle moves, use :class:`~bayesphys.vmc.fused.FusedMetropolis`: move, ratio and
        closed-form local energy in one pass, the same chain as the generic path up to
        float64 round-off. Ignored for other wave functions and single-particle moves.
    compile : bool
        Compile the fused step with ``torch.compile`` (a one-off compilation; pays off for long
        runs with ~1e4 walkers or more). Falls back to eager with a warning on failure.
    prefetch : bool
        With the fused step, draw the next step's random numbers on a background thread while
        the current step computes (same chain: the draws happen in the same order, and are
        rewound when a run stops). Uses a second core, so leave it off where every core
        already runs a worker or a torch thread; it pays off with ~1e4 walkers or more.
    engine : {"auto", "torch"}
        Where the fused step applies, ``"auto"`` (default) lets :func:`~bayesphys.vmc.estimate`
        run it as one numba-compiled loop per walker
        (:class:`~bayesphys.vmc._numba_step.NumbaMetropolis`, on as many threads as torch
        uses) with its own random streams: the same target, proposal and acceptance rule, but
        not the generic chain draw for draw (tested statistically). The same holds for
        ``SlaterJastrow`` quantum dots in 2-D with all-electron moves
        (:class:`~bayesphys.vmc._numba_slater.NumbaSlaterMetropolis`). ``"torch"`` keeps the
        torch fused step, the generic chain up to round-off (for ``SlaterJastrow``: the
        generic torch chain). ``compile=True`` or ``prefetch=True`` select the torch step, and
        ``fused=False`` the generic one; :func:`~bayesphys.vmc.optimize` always uses torch
        (its checkpoints restore the torch generator).
    """

    def __init__(
        self,
        step: float = 1.0,
        *,
        moves: str = "all",
        target_accept: float = 0.5,
        adapt: bool = True,
        fused: bool = True,
        compile: bool = False,
        prefetch: bool = False,
        engine: str = "auto",
    ) -> None:
        self.step = _positive(step, "step")
        if engine not in ("auto", "torch"):
            raise ValueError(f"engine must be 'auto' or 'torch', got {engine!r}")
        self.engine = engine
        if moves not in ("all", "single"):
            raise ValueError(f"moves must be 'all' or 'single', got {moves!r}")
        self.moves = moves
        self.target_accept = _probability(target_accept, "target_accept")
        self.adapt = bool(adapt)
        self.fused = bool(fused)
        self.compile = bool(compile)
        self.prefetch = bool(prefetch)

    def kernel(self, n_particles: int, dim: int) -> Kernel:
        """Core random-walk Metropolis (all-particle) or its single-particle variant."""
        opts = {
            "step_size": self.step,
            "target_accept": self.target_accept,
            "adapt_step_size": self.adapt,
            "adapt_mass": False,
        }
        if self.moves == "single":
            return SingleParticleMetropolis(n_particles, dim, **opts)
        return RandomWalkMetropolis(**opts)

    def __repr__(self) -> str:
        extra = "" if self.fused else ", fused=False"
        extra += ", compile=True" if self.compile else ""
        extra += ", prefetch=True" if self.prefetch else ""
        extra += ", engine='torch'" if self.engine == "torch" else ""
        return f"Metropolis(step={self.step}, moves={self.moves!r}, adapt={self.adapt}{extra})"


class Langevin(VMCSampler):
    """Langevin (Fokker-Planck) importance sampling with time step ``dt``; core MALA.

    Parameters
    ----------
    dt : float
        Initial time step; the proposal is ``R + dt/2 F + sqrt(dt) xi`` (``D = 1/2``).
    target_accept : float
        Acceptance rate aimed for when adapting ``dt`` during burn-in.
    adapt : bool
        Adapt ``dt`` (per walker, dual averaging) during the first 4/5 of burn-in (as Metropolis).
    """

    def __init__(self, dt: float = 0.1, *, target_accept: float = 0.8, adapt: bool = True):
        self.dt = _positive(dt, "dt")
        self.target_accept = _probability(target_accept, "target_accept")
        self.adapt = bool(adapt)

    def kernel(self, n_particles: int, dim: int) -> Kernel:
        """Core MALA with ``step_size = sqrt(dt)`` and identity mass (see module notes)."""
        return MALA(
            step_size=math.sqrt(self.dt),
            target_accept=self.target_accept,
            adapt_step_size=self.adapt,
            adapt_mass=False,
        )

    def __repr__(self) -> str:
        return f"Langevin(dt={self.dt}, adapt={self.adapt})"


class SingleParticleMetropolis(RandomWalkMetropolis):
    """Random-walk Metropolis moving one uniformly chosen particle of each walker per step.

    The particle choice does not depend on the state, so the proposal stays symmetric and the
    plain Metropolis ratio applies.
    """

    name = "rwm1"

    def __init__(self, n_particles: int, dim: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.n_particles, self.dim = int(n_particles), int(dim)

    def step(self, state: ChainState) -> tuple[ChainState, StepInfo]:
        """Advance all walkers by one single-particle move."""
        theta = state.theta
        W = theta.shape[0]
        opts = {"dtype": theta.dtype, "device": theta.device}
        noise = torch.randn((W, self.n_particles, self.dim), generator=state.generator, **opts)
        who = torch.randint(self.n_particles, (W,), generator=state.generator, device=theta.device)
        mask = torch.nn.functional.one_hot(who, self.n_particles).to(theta.dtype).unsqueeze(-1)
        proposal = theta + state.step_size.unsqueeze(-1) * (mask * noise).reshape(W, -1)
        lp_new, _ = evaluate(state.log_prob_fn, proposal, with_grad=False)
        log_alpha = torch.where(all_finite(lp_new, proposal), lp_new - state.log_prob, -torch.inf)
        accepted, accept_prob = metropolis_accept(log_alpha, state.generator)
        new_state = replace(
            state,
            theta=select_rows(accepted, proposal, theta),
            log_prob=torch.where(accepted, lp_new, state.log_prob),
        )
        info = StepInfo(accept_prob, accepted, torch.zeros_like(accepted), torch.ones_like(who))
        return new_state, info


def uses_compiled_step(wf: WaveFunction, system: HarmonicTrap, sampler: VMCSampler) -> bool:
    """Whether ``Walkers(..., compiled=True)`` moves these walkers with a numba step."""
    fused = isinstance(sampler, Metropolis) and sampler.moves == "all" and sampler.fused
    supported = fused_supported(wf, system) or slater_supported(wf, system)
    return bool(fused and _numba_engine(sampler) and supported)


def _numba_engine(sampler: Metropolis) -> bool:
    """Whether ``sampler`` lets the fused step run as numba (``engine="auto"``, no torch-only
    options) and numba imports."""
    torch_only = sampler.compile or sampler.prefetch
    return sampler.engine == "auto" and not torch_only and numba_available()


def initial_positions(system: HarmonicTrap, n_walkers: int, generator: torch.Generator) -> Tensor:
    """Gaussian start at each axis' oscillator length scale; redraws hard-sphere overlaps."""
    shape = (n_walkers, system.n_particles, system.dim)

    def draw() -> Tensor:
        R = torch.randn(shape, generator=generator, dtype=torch.float64) / math.sqrt(system.omega)
        # 1 / sqrt(omega_k) per axis: the elliptic trap's stiff z axis (gamma = 2.83) started
        # 2.4 times too wide, which a short burn-in did not undo. (Isotropic traps draw as
        # before, bit for bit.)
        if system.dim == 3 and system.gamma != 1.0:
            R[..., 2] /= math.sqrt(system.gamma)
        return R

    R = draw()
    for _ in range(100):
        bad = ~torch.isfinite(system.interaction_potential(R))
        if not bool(bad.any()):
            return R
        R = torch.where(bad[:, None, None], draw(), R)
    raise RuntimeError("could not place the particles without hard-sphere overlaps")


def _check_init(system: HarmonicTrap, init: Tensor, n_walkers: int) -> Tensor:
    """User start positions as float64 ``(walkers, N, d)``; finite, and with a finite
    interaction energy (no coincident charges, no hard-sphere overlaps), which no chain can
    leave or even evaluate."""
    if not isinstance(init, Tensor):
        raise TypeError(
            f"init must be a torch.Tensor of shape (n_walkers, {system.n_particles}, "
            f"{system.dim}), got {type(init).__name__} (use torch.as_tensor(init))"
        )
    expected = (n_walkers, system.n_particles, system.dim)
    if tuple(init.shape) != expected:
        # A wrong walker count used to surface as a reshape RuntimeError deep in the kernel.
        raise ValueError(
            f"init must have shape (n_walkers, N, d) = {expected}, got {tuple(init.shape)}"
        )
    R = init.detach().to(torch.float64)
    if not bool(torch.isfinite(R).all()):
        raise ValueError("init must contain finite positions, got NaN or inf")
    bad = ~torch.isfinite(system.interaction_potential(R))
    if bool(bad.any()):
        raise ValueError(
            f"init places particles on top of each other in {int(bad.sum())} walker(s) "
            f"(walker {int(bad.nonzero()[0, 0])} first): the interaction energy is infinite there; "
            "move them apart or leave init=None for a Gaussian start"
        )
    return R


class Walkers:
    """A population of walkers advanced by a core kernel on ``|psi|^2``.

    Parameters
    ----------
    wf : WaveFunction
        Trial wave function; its parameters may change between steps (call :meth:`refresh`).
    system : HarmonicTrap
        Defines the particle number and dimension.
    sampler : VMCSampler
        :class:`Metropolis` or :class:`Langevin`.
    n_walkers : int
        Number of independent walkers.
    generator : torch.Generator
        The only source of randomness.
    init : Tensor, optional
        Start positions ``(n_walkers, N, d)``; default a Gaussian cloud.
    compiled : bool
        Use the numba step (:class:`~bayesphys.vmc._numba_step.NumbaMetropolis`) where
        ``sampler.engine == "auto"`` allows it (:func:`uses_compiled_step`);
        :func:`~bayesphys.vmc.estimate` asks for it.
    threads : int, optional
        Threads of the numba step; default torch's thread count when the walkers are made.
    """

    def __init__(
        self,
        wf: WaveFunction,
        system: HarmonicTrap,
        sampler: VMCSampler,
        n_walkers: int,
        generator: torch.Generator,
        init: Tensor | None = None,
        *,
        compiled: bool = False,
        threads: int | None = None,
    ) -> None:
        if not isinstance(sampler, VMCSampler):
            raise TypeError(
                f"sampler must be vmc.Metropolis(...) or vmc.Langevin(...), got {sampler!r}"
            )
        self.wf, self.system, self.sampler = wf, system, sampler
        self.shape = (system.n_particles, system.dim)
        self.kernel = sampler.kernel(*self.shape)
        if init is None:
            R = initial_positions(system, n_walkers, generator)
        else:
            R = _check_init(system, init, n_walkers)
        self.fused = None
        if isinstance(sampler, Metropolis) and sampler.moves == "all" and sampler.fused:
            if fused_supported(wf, system):
                self.fused = FusedMetropolis(wf, system, compile=sampler.compile)
        self.compiled: NumbaMetropolis | None = None
        if compiled and self.fused is not None and _numba_engine(sampler):
            self.compiled = NumbaMetropolis(self.fused, generator, n_walkers, threads)
        elif compiled and uses_compiled_step(wf, system, sampler):  # Slater-Jastrow dots
            self.compiled = NumbaSlaterMetropolis(wf, system, generator, n_walkers, threads)
        try:
            self.state = self.kernel.init_state(
                self.log_prob if self.compiled is None else self._compiled_log_prob,
                R.reshape(n_walkers, -1),
                generator=generator,
            )
        except ZeroDivisionError:  # the compiled closed forms divide by pair distances
            raise ValueError(
                "init places two particles at the same point, where the local energy of this "
                "wave function is infinite; move them apart or leave init=None"
            ) from None
        # Fused path: (theta, kinetic, potential); valid while theta is the state's tensor.
        self._energy: tuple[Tensor, Tensor, Tensor] | None = None

    def log_prob(self, theta: Tensor) -> Tensor:
        """``2 ln|psi|`` of flattened positions ``(walkers, N * d)``."""
        return 2.0 * self.wf.log_psi(theta.view(theta.shape[0], *self.shape))

    def _compiled_log_prob(self, theta: Tensor) -> Tensor:
        """``2 ln|psi|`` by the numba step's closed form (the numbers its steps compare to)."""
        return self.compiled.energy(theta)[0]

    @property
    def positions(self) -> Tensor:
        """Current positions ``(walkers, N, d)``."""
        return self.state.theta.view(-1, *self.shape)

    @property
    def step_size(self) -> Tensor:
        """Per-walker step: Metropolis ``step`` or Langevin ``dt``."""
        h = self.state.step_size
        return h * h if isinstance(self.sampler, Langevin) else h

    def burn_in(self, n_steps: int) -> float:
        """Advance ``n_steps`` steps, adapting the step size if the sampler adapts.

        Returns the mean acceptance probability over the burn-in.
        """
        if n_steps <= 0:
            return float("nan")
        # The last fifth runs at the final step sizes: right after per-walker adaptation the
        # positions are not yet distributed as |psi|^2 (2-D Gaussian, alpha = 0.35: the first
        # 8 recorded steps +0.019 high, relaxing over ~30 steps; a 16-step estimate from 1000
        # walkers was biased by one error bar). Without adaptation there is nothing to relax.
        relax = n_steps // 5 if self.kernel.adapt_step_size else 0
        adaptation = WindowAdaptation(self.kernel, self.state, n_steps - relax)
        total = 0.0
        for i in range(n_steps):
            info = self.step()
            if i < n_steps - relax:
                self.state = adaptation.update(self.state, info)
                if i + 1 == n_steps - relax:
                    self.state = adaptation.finalize(self.state)
            total += float(info.accept_prob.mean())
        return total / n_steps

    @contextlib.contextmanager
    def prefetching(self) -> Iterator[None]:
        """Within the block, draw random numbers ahead if ``Metropolis(prefetch=True)``.

        On exit the generator is rewound to the last step taken, so its state (checkpoints,
        a caller's generator) is the same as without prefetching.
        """
        on = self.fused is not None and getattr(self.sampler, "prefetch", False)
        if on:
            self.fused.prefetch = True
        try:
            yield
        finally:
            if on:
                self.fused.prefetch = False
                self.fused.sync()

    def step(self) -> StepInfo:
        """One transition of every walker with the current (frozen) step sizes."""
        if self.fused is None and self.compiled is None:
            self.state, info = self.kernel.step(self.state)
            return info
        state = self.state
        if self.compiled is not None:
            theta, log_prob, kinetic, potential, accepted, accept_prob = self.compiled.step(
                state.theta, state.log_prob, *self._current_energy(), state.step_size
            )
        else:
            theta, log_prob, kinetic, potential, accepted, accept_prob = self.fused.step(
                state.theta, state.log_prob, *self._current_energy(), state.step_size,
                state.generator,
            )  # fmt: skip
        self.state = replace(state, theta=theta, log_prob=log_prob)
        self._energy = (self.state.theta, kinetic, potential)
        # Broadcast views, not 1e5-element allocations: nothing writes into these fields.
        ones = torch.ones(1, dtype=torch.long).expand(accepted.shape)
        return StepInfo(
            accept_prob, accepted, torch.zeros(1, dtype=torch.bool).expand_as(accepted), ones
        )

    def step_with_energy(self, method: str = "auto") -> tuple[StepInfo, LocalEnergy]:
        """One transition and the local energy of every walker at its new position.

        With the fused step and ``method="auto"`` the energy comes out of the step itself;
        otherwise :func:`~bayesphys.vmc.local_energy` evaluates it (``"analytic"`` or
        ``"autograd"`` force that generic path).
        """
        info = self.step()
        if (self.fused is not None or self.compiled is not None) and method == "auto":
            kinetic, potential = self._current_energy()
            return info, LocalEnergy(kinetic + potential, kinetic, potential)
        return info, local_energy(self.wf, self.system, self.positions, method)

    def _current_energy(self) -> tuple[Tensor, Tensor]:
        """Fused kinetic and potential energy at the current positions (cached)."""
        if self._energy is None or self._energy[0] is not self.state.theta:
            engine = self.fused if self.compiled is None else self.compiled
            _, kinetic, potential = engine.energy(self.positions)
            self._energy = (self.state.theta, kinetic, potential)
        return self._energy[1], self._energy[2]

    def refresh(self) -> None:
        """Recompute cached ``|psi|^2`` (and forces) after the parameters changed."""
        self.state = self.kernel.refresh(self.state)
        self._energy = None
