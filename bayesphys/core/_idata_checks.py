"""Validation and conversion behind :func:`bayesphys.core.results.to_inference_data`.

Pure numpy, kept apart from ``results.py`` so that the one module importing ArviZ stays short.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["bayesphys_version", "check_dims", "clean_attrs", "draw_shape", "to_numpy"]

_DRAW_GROUPS = (
    "posterior",
    "sample_stats",
    "log_likelihood",
    "posterior_predictive",
    "prior",
    "prior_predictive",
)
_OWN_DRAWS = ("prior", "prior_predictive")  # drawn apart from the posterior


def to_numpy(value: Any, label: str) -> np.ndarray:
    """Numeric numpy array from array-likes and torch tensors (detached, moved to the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch, without importing it here
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            value = value.float()
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{label}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def draw_shape(arrays: dict[str, np.ndarray], group: str, finite: str | None) -> tuple:
    """Common (chain, draw) of a group's arrays; ``finite`` "all" rejects NaN/inf, "nan" NaN."""
    shape = None
    for name, arr in arrays.items():
        if arr.ndim < 2:
            raise ValueError(
                f"to_inference_data: {group}[{name!r}] has shape {arr.shape}; draws need "
                "leading (chain, draw) dimensions (use x[None] for a single chain)"
            )
        if shape is not None and arr.shape[:2] != shape:
            raise ValueError(
                f"to_inference_data: {group}[{name!r}] has (chain, draw) = {arr.shape[:2]} but "
                f"other {group} variables have {shape}"
            )
        shape = arr.shape[:2]
        bad = ~np.isfinite(arr) if finite == "all" else np.isnan(arr) if finite else None
        if bad is not None and bad.any():
            kind = "NaN or infinite" if finite == "all" else "NaN"
            raise ValueError(
                f"to_inference_data: {group}[{name!r}] contains {int(bad.sum())} {kind} "
                "value(s); refusing to store a broken sample (check the sampler's divergences "
                "or the model's support)"
            )
    return shape


def check_dims(
    arrays: dict[str, dict[str, np.ndarray]],
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Sequence[Any]],
    shape: tuple,
) -> None:
    """Every named dimension has one length, across variables, groups and ``coords``."""
    lengths: dict[str, tuple[int, str]] = {
        name: (len(values), f"coords[{name!r}]") for name, values in coords.items()
    }
    for group, variables in arrays.items():
        lead = 2 if group in _DRAW_GROUPS else 0
        if group not in _OWN_DRAWS and shape is not None:
            lead_dims = {"chain": shape[0], "draw": shape[1]} if lead else {}
            for dim, size in lead_dims.items():
                if dim in coords and len(coords[dim]) != size:
                    raise ValueError(
                        f"to_inference_data: coords[{dim!r}] has {len(coords[dim])} values but "
                        f"{group} has {size} {dim}s"
                    )
        for name, arr in variables.items():
            if name not in dims:  # ArviZ names them f"{name}_dim_{i}"
                continue
            names = list(dims[name])
            event = arr.shape[lead:]
            if len(names) != len(event):
                raise ValueError(
                    f"to_inference_data: dims[{name!r}] = {names} names {len(names)} "
                    f"dimension(s) but {group}[{name!r}] has event shape {event}"
                )
            for dim, size in zip(names, event, strict=True):
                known = lengths.setdefault(dim, (size, f"{group}[{name!r}]"))
                if known[0] != size:
                    raise ValueError(
                        f"to_inference_data: dimension {dim!r} has length {size} in "
                        f"{group}[{name!r}] but {known[0]} in {known[1]}"
                    )


def bayesphys_version() -> str:
    try:
        return importlib.metadata.version("bayesphys")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


def clean_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Provenance plus user attrs, restricted to types a netCDF attribute can hold."""
    out: dict[str, Any] = {"bayesphys_version": bayesphys_version()}
    for key, value in (attrs or {}).items():
        if isinstance(value, bool | np.bool_):  # netCDF has no boolean attribute type
            value = int(value)
        ok = isinstance(value, str | int | float | np.number) or (
            isinstance(value, list | tuple | np.ndarray)
            and all(isinstance(v, str | int | float | np.number) for v in np.ravel(value))
        )
        if not ok:
            raise TypeError(
                f"to_inference_data: attrs[{key!r}] has type {type(value).__name__}; netCDF "
                "attributes must be strings, numbers or sequences of them"
            )
        out[str(key)] = value
    return out
