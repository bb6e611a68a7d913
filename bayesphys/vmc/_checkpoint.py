"""Checkpoint files of :func:`bayesphys.vmc.optimize`: everything needed to resume exactly."""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict
from pathlib import Path

import torch

from bayesphys.vmc._resident import GroupState
from bayesphys.vmc.wavefunctions.base import WaveFunction

FORMAT = "bayesphys.vmc.optimize/2"
# Format 1 (one walker population, no groups) is still read: it is one group.
FORMAT_1 = "bayesphys.vmc.optimize/1"


def save_checkpoint(
    path: Path,
    wf: WaveFunction,
    opt: torch.optim.Optimizer | None,
    groups: list[GroupState],
    history: list[dict],
    optimizer: str | None = None,
) -> None:
    """Write atomically (temporary file + rename), so an interruption never truncates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "wavefunction": wf.state_dict(),
        "optimizer": None if opt is None else opt.state_dict(),
        "optimizer_name": optimizer,
        "groups": [asdict(state) for state in groups],
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
    optimizer: str | None = None,
    learning_rate: float | None = None,
) -> tuple[list[dict], list[GroupState]]:
    """Restore parameters and optimiser in place; return the history and the walker groups.

    With ``optimizer`` given, a checkpoint written by another update rule is refused (Adam's
    moments cannot drive SGD, and SR has none: a KeyError or a silently mixed run before). With
    ``learning_rate`` given, it replaces the one stored in the optimiser state, which
    ``load_state_dict`` restores: a resumed run otherwise ignored its ``learning_rate``.
    """
    payload = torch.load(path, weights_only=False)
    version = payload.get("format") if isinstance(payload, dict) else None
    if version not in (FORMAT, FORMAT_1):
        raise ValueError(f"checkpoint {path} is not a bayesphys.vmc.optimize checkpoint")
    try:
        wf.load_state_dict(payload["wavefunction"])
    except RuntimeError as err:
        raise ValueError(
            f"checkpoint {path} holds parameters of another wave function; delete it or pass "
            "a different checkpoint path"
        ) from err
    saved = payload.get("optimizer_name") or _infer_optimizer(payload["optimizer"])
    if optimizer is not None and saved != optimizer:
        raise ValueError(
            f"checkpoint {path} was written with optimizer={saved!r}, not {optimizer!r}: pass "
            f"optimizer={saved!r} to resume it, or a different checkpoint path to start anew"
        )
    if opt is not None and payload["optimizer"] is not None:
        opt.load_state_dict(payload["optimizer"])
        if learning_rate is not None:
            for group in opt.param_groups:
                group["lr"] = learning_rate
    if version == FORMAT_1:
        groups = [GroupState(0, payload["positions"], payload["step_size"], payload["generator"])]
    else:
        groups = [GroupState(**state) for state in payload["groups"]]
    return list(payload["history"]), groups


def _infer_optimizer(state: dict | None) -> str:
    """Update rule of a checkpoint written before its name was stored."""
    if state is None:
        return "sr"
    return "adam" if "betas" in state["param_groups"][0] else "sgd"
