"""Checkpoint files of :func:`bayesphys.vmc.optimize`: everything needed to resume exactly."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import torch

from bayesphys.vmc.samplers import Walkers
from bayesphys.vmc.wavefunctions.base import WaveFunction

FORMAT = "bayesphys.vmc.optimize/1"


def save_checkpoint(
    path: Path,
    wf: WaveFunction,
    opt: torch.optim.Optimizer | None,
    generator: torch.Generator,
    walkers: Walkers,
    history: list[dict],
) -> None:
    """Write atomically (temporary file + rename), so an interruption never truncates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "wavefunction": wf.state_dict(),
        "optimizer": None if opt is None else opt.state_dict(),
        "generator": generator.get_state(),
        "positions": walkers.positions.detach().clone(),
        "step_size": walkers.state.step_size.detach().clone(),
        "history": list(history),
    }
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(
    path: Path,
    wf: WaveFunction,
    opt: torch.optim.Optimizer | None,
    generator: torch.Generator,
) -> dict:
    """Restore parameters, optimiser and RNG in place; return positions, steps and history."""
    payload = torch.load(path, weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a bayesphys.vmc.optimize checkpoint")
    try:
        wf.load_state_dict(payload["wavefunction"])
    except RuntimeError as err:
        raise ValueError(
            f"checkpoint {path} holds parameters of another wave function; delete it or pass "
            "a different checkpoint path"
        ) from err
    if opt is not None and payload["optimizer"] is not None:
        opt.load_state_dict(payload["optimizer"])
    generator.set_state(payload["generator"])
    return payload
