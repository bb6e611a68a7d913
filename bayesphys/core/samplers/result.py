"""Container of sampler output and its conversion to ArviZ ``InferenceData``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from bayesphys.core.interrupts import interrupted_attrs

if TYPE_CHECKING:
    from bayesphys.core.results import InferenceData


@dataclass
class SamplerResult:
    """Draws and per-draw statistics of a :func:`~bayesphys.samplers.sample` run.

    Attributes
    ----------
    samples : Tensor
        Draws, shape ``(chains, draws, dim)``.
    log_prob : Tensor
        Log density of each draw, ``(chains, draws)``.
    accept_prob : Tensor
        Acceptance probability of the transition(s) leading to each draw, ``(chains, draws)``
        (mean over the ``thin`` transitions per kept draw).
    step_size : Tensor
        Frozen post-tuning step size per chain, ``(chains,)``.
    diverging : Tensor
        Boolean ``(chains, draws)``: a divergent transition occurred (NUTS/HMC; else False).
    n_steps : Tensor
        Leapfrog/gradient steps spent per kept draw, ``(chains, draws)``.
    inv_mass : Tensor
        Final diagonal inverse mass matrix ``(dim,)``, shared by the chains; ``(chains, dim)``
        when the chains ran in several groups (``chain_groups``), each adapting its own.
    tune : int
        Number of tuning iterations performed.
    method : str
        Kernel name: ``"nuts"``, ``"hmc"``, ``"mala"`` or ``"rwm"``.
    thin : int
        Transitions per kept draw.
    tree_depth : Tensor or None
        NUTS only: completed trajectory doublings of the transition leading to each draw
        (the maximum over the ``thin`` transitions), ``(chains, draws)``; else ``None``.
    max_treedepth : int or None
        NUTS only: the kernel's cap on ``tree_depth``.
    energy : Tensor or None
        HMC and NUTS only: the Hamiltonian ``-log_prob + p^T M^{-1} p / 2`` at the start of the
        (last) transition leading to each draw, with the momentum drawn for it, ``(chains,
        draws)``, as Stan and PyMC report it (ArviZ ``bfmi``, ``plot_energy``); else ``None``.
        Like ``log_prob``, it is defined up to the normalising constant of the target.
    interrupted : bool
        The run was stopped by Ctrl-C: the draws (and chains) are those completed before it,
        fewer than requested (see :mod:`bayesphys.core.interrupts`).
    progress : str or None
        How far an interrupted run got (e.g. "25 of 40 draws per chain"); ``None`` if complete.
    """

    samples: Tensor
    log_prob: Tensor
    accept_prob: Tensor
    step_size: Tensor
    diverging: Tensor
    n_steps: Tensor
    inv_mass: Tensor
    tune: int
    method: str
    thin: int = 1
    tree_depth: Tensor | None = None
    max_treedepth: int | None = None
    energy: Tensor | None = None
    interrupted: bool = False
    progress: str | None = None

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return int(self.samples.shape[0])

    @property
    def n_draws(self) -> int:
        """Number of kept draws per chain."""
        return int(self.samples.shape[1])

    @property
    def dim(self) -> int:
        """Dimension of the sampled vector."""
        return int(self.samples.shape[2])

    def __repr__(self) -> str:
        # The default dataclass repr would print every draw.
        return (
            f"SamplerResult(method={self.method!r}, chains={self.n_chains}, "
            f"draws={self.n_draws}, dim={self.dim}, tune={self.tune}, thin={self.thin}, "
            f"mean_accept={float(self.accept_prob.mean()) if self.n_draws else float('nan'):.3f}, "
            f"divergences={int(self.diverging.sum())}"
            f"{', interrupted=True' if self.interrupted else ''})"
        )

    @classmethod
    def concatenate(cls, results: Sequence[SamplerResult]) -> SamplerResult:
        """Join runs of separate chain groups along the chain axis.

        The groups must share method, draws, tuning and thinning. Each group adapted its own
        metric, so ``inv_mass`` becomes per chain, ``(chains, dim)``, when there are several.
        """
        results = list(results)
        if len(results) == 1:
            return results[0]
        first = results[0]
        for r in results[1:]:
            if (r.method, r.n_draws, r.tune, r.thin, r.dim) != (
                first.method, first.n_draws, first.tune, first.thin, first.dim
            ):  # fmt: skip
                raise ValueError("concatenate: the runs differ in method, draws, tune or thin")

        def cat(name: str) -> Tensor:
            return torch.cat([getattr(r, name) for r in results])

        inv_mass = torch.cat([r.inv_mass.expand(r.n_chains, r.dim) for r in results])
        depth = None if first.tree_depth is None else cat("tree_depth")
        energy = None if first.energy is None else cat("energy")
        return cls(
            samples=cat("samples"),
            log_prob=cat("log_prob"),
            accept_prob=cat("accept_prob"),
            step_size=cat("step_size"),
            diverging=cat("diverging"),
            n_steps=cat("n_steps"),
            inv_mass=inv_mass,
            tune=first.tune,
            method=first.method,
            thin=first.thin,
            tree_depth=depth,
            max_treedepth=first.max_treedepth,
            energy=energy,
            interrupted=any(r.interrupted for r in results),
        )

    def split(
        self, names: Sequence[str] | None = None, shapes: Sequence[Sequence[int]] | None = None
    ) -> dict[str, np.ndarray]:
        """Split the flat dimension into named arrays of shape ``(chain, draw, *shape)``.

        Parameters
        ----------
        names : sequence of str, optional
            Variable names; default ``["theta"]``.
        shapes : sequence of tuple, optional
            Shape of each variable; the sizes must add up to ``dim``. Default: ``(dim,)`` for a
            single name, scalars ``()`` when there are ``dim`` names.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        names, shapes = _resolve_layout(names, shapes, self.dim)
        flat = self.samples.detach().cpu().numpy()
        out, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            size = math.prod(shape)
            out[name] = flat[:, :, offset : offset + size].reshape(flat.shape[:2] + shape)
            offset += size
        return out

    def sample_stats(self) -> dict[str, np.ndarray]:
        """Per-draw statistics ``(chains, draws)`` under ArviZ's names.

        ``lp``, ``acceptance_rate``, ``step_size``, ``diverging``; for NUTS/HMC ``n_steps`` and
        ``energy``; for NUTS ``tree_depth`` and ``reached_max_treedepth`` (the transition
        stopped at ``max_treedepth``, not at a U-turn: a sign of inefficient sampling). MALA
        and random-walk Metropolis have no momentum, hence no ``energy``.
        """
        n_chains, n_draws = self.n_chains, self.n_draws
        step = self.step_size.detach().cpu().numpy()
        stats = {
            "lp": self.log_prob.detach().cpu().numpy(),
            "acceptance_rate": self.accept_prob.detach().cpu().numpy(),
            "step_size": np.broadcast_to(step[:, None], (n_chains, n_draws)).copy(),
            "diverging": self.diverging.detach().cpu().numpy().astype(bool),
        }
        if self.method in ("hmc", "nuts"):
            stats["n_steps"] = self.n_steps.detach().cpu().numpy()
        if self.energy is not None:
            stats["energy"] = self.energy.detach().cpu().numpy()
        if self.tree_depth is not None:
            stats["tree_depth"] = self.tree_depth.detach().cpu().numpy()
            if self.max_treedepth is not None:
                stats["reached_max_treedepth"] = stats["tree_depth"] >= self.max_treedepth
        return stats

    def to_inference_data(
        self,
        names: Sequence[str] | None = None,
        shapes: Sequence[Sequence[int]] | None = None,
        coords: Mapping[str, Any] | None = None,
        dims: Mapping[str, list[str]] | None = None,
    ) -> InferenceData:
        """Convert to ArviZ ``InferenceData`` with ``posterior`` and ``sample_stats`` groups.

        Parameters
        ----------
        names, shapes : optional
            Layout of the flat vector, see :meth:`split`.
        coords, dims : mapping, optional
            Passed to :func:`bayesphys.core.results.to_inference_data`.

        Returns
        -------
        arviz.InferenceData
            ``sample_stats`` holds what :meth:`sample_stats` returns.
        """
        # Imported lazily: results is the only module allowed to import arviz (slow import).
        from bayesphys.core.results import to_inference_data

        if self.n_draws == 0:
            raise ValueError("to_inference_data: the result holds no draws (draws=0)")
        posterior = self.split(names, shapes)
        stats = self.sample_stats()
        attrs = {"sampler": f"bayesphys.{self.method}", "tuning_steps": self.tune}
        if self.interrupted:
            attrs.update(interrupted_attrs(self.progress or f"{self.n_draws} draws per chain"))
        return to_inference_data(
            posterior, sample_stats=stats, coords=coords, dims=dims, attrs=attrs
        )


def _resolve_layout(
    names: Sequence[str] | None, shapes: Sequence[Sequence[int]] | None, dim: int
) -> tuple[list[str], list[tuple[int, ...]]]:
    if names is None:
        if shapes is not None:
            raise ValueError("shapes given without names")
        return ["theta"], [(dim,)]
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError("names must be a list of str")
    names = list(names)
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"names must be non-empty and unique, got {names}")
    if shapes is None:
        if len(names) == 1:
            shapes = [(dim,)]
        elif len(names) == dim:
            shapes = [()] * dim
        else:
            raise ValueError(
                f"shapes is required: cannot split dim={dim} into {len(names)} variables"
            )
    shapes = [(int(s),) if isinstance(s, int) else tuple(int(k) for k in s) for s in shapes]
    if len(shapes) != len(names):
        raise ValueError(f"names and shapes differ in length: {len(names)} != {len(shapes)}")
    if any(s < 0 for shape in shapes for s in shape):
        raise ValueError(f"shapes must be non-negative, got {shapes}")
    total = sum(math.prod(shape) for shape in shapes)
    if total != dim:
        raise ValueError(f"shapes {shapes} hold {total} values but samples have dim={dim}")
    return names, shapes
