"""Bijections from the unconstrained real line to the support of a distribution.

A :class:`Transform` maps an unconstrained ``z`` to ``x = forward(z)`` on the support. Every
method accepts numpy arrays (or Python scalars) and torch tensors; torch inputs stay torch
tensors so that autograd flows through, numpy inputs give numpy arrays.

Examples
--------
>>> import numpy as np
>>> t = Interval(0.0, 2.0)
>>> x = t.forward(np.array([-1.0, 0.0, 1.0]))
>>> np.allclose(t.inverse(x), [-1.0, 0.0, 1.0])
True
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from scipy import special

__all__ = ["Exp", "Identity", "Interval", "Transform"]

ArrayOrTensor = Any  # np.ndarray | torch.Tensor | float


def _is_torch(value) -> bool:
    return isinstance(value, torch.Tensor)


def _as_float_array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _like(param, ref: torch.Tensor) -> torch.Tensor:
    """A constant parameter as a tensor with ``ref``'s dtype and device."""
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    return torch.as_tensor(np.array(param), dtype=dtype, device=ref.device)


def _float_tensor(value: torch.Tensor) -> torch.Tensor:
    return value if value.is_floating_point() else value.to(torch.get_default_dtype())


class Transform(abc.ABC):
    """Bijection ``x = forward(z)`` from the real line onto a support.

    Subclasses set ``support`` (one of ``"real"``, ``"positive"``, ``"interval"``) and implement
    the three methods for numpy and torch inputs.
    """

    support: str = "real"

    @abc.abstractmethod
    def forward(self, z: ArrayOrTensor) -> ArrayOrTensor:
        """Map unconstrained ``z`` to the support."""

    @abc.abstractmethod
    def inverse(self, x: ArrayOrTensor) -> ArrayOrTensor:
        """Map ``x`` on the support back to the real line."""

    @abc.abstractmethod
    def log_abs_det_jacobian(self, z: ArrayOrTensor) -> ArrayOrTensor:
        """Elementwise ``log |d forward(z) / dz|``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self).__name__)


class Identity(Transform):
    """``x = z`` on the whole real line."""

    support = "real"

    def forward(self, z):
        return _float_tensor(z) if _is_torch(z) else _as_float_array(z)

    def inverse(self, x):
        return _float_tensor(x) if _is_torch(x) else _as_float_array(x)

    def log_abs_det_jacobian(self, z):
        if _is_torch(z):
            return torch.zeros_like(_float_tensor(z))
        return np.zeros_like(_as_float_array(z))


class Exp(Transform):
    """``x = exp(z)`` onto the positive half-line; ``log|J| = z``."""

    support = "positive"

    def forward(self, z):
        return torch.exp(z) if _is_torch(z) else np.exp(_as_float_array(z))

    def inverse(self, x):
        if _is_torch(x):
            return torch.log(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(_as_float_array(x))

    def log_abs_det_jacobian(self, z):
        return _float_tensor(z).clone() if _is_torch(z) else _as_float_array(z).copy()


class Interval(Transform):
    """Scaled logistic ``x = lower + (upper - lower) * sigmoid(z)`` onto ``(lower, upper)``.

    Parameters
    ----------
    lower, upper : float or array_like
        Bounds, broadcast against ``z``; ``lower < upper`` elementwise.
    """

    support = "interval"

    def __init__(self, lower=0.0, upper=1.0):
        lo, hi = _as_float_array(lower), _as_float_array(upper)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"Interval: bounds must be finite, got lower={lower}, upper={upper}")
        if not np.all(lo < hi):
            raise ValueError(f"Interval: need lower < upper, got lower={lower}, upper={upper}")
        self.lower = float(lo) if lo.ndim == 0 else lo
        self.upper = float(hi) if hi.ndim == 0 else hi

    def forward(self, z):
        if _is_torch(z):
            lo, hi = _like(self.lower, z), _like(self.upper, z)
            return lo + (hi - lo) * torch.sigmoid(z)
        lo, hi = np.asarray(self.lower), np.asarray(self.upper)
        return lo + (hi - lo) * special.expit(_as_float_array(z))

    def inverse(self, x):
        # log(x - lo) - log(hi - x) keeps full precision near both bounds, unlike logit(u).
        if _is_torch(x):
            lo, hi = _like(self.lower, x), _like(self.upper, x)
            return torch.log(x - lo) - torch.log(hi - x)
        lo, hi = np.asarray(self.lower), np.asarray(self.upper)
        x = _as_float_array(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x - lo) - np.log(hi - x)

    def log_abs_det_jacobian(self, z):
        # log sigmoid(z) + log sigmoid(-z) = -softplus(-z) - softplus(z): finite for any z.
        if _is_torch(z):
            z = _float_tensor(z)
            width = _like(self.upper, z) - _like(self.lower, z)
            return (
                torch.log(width)
                + torch.nn.functional.logsigmoid(z)
                + (torch.nn.functional.logsigmoid(-z))
            )
        z = _as_float_array(z)
        width = np.asarray(self.upper) - np.asarray(self.lower)
        return np.log(width) - np.logaddexp(0.0, z) - np.logaddexp(0.0, -z)

    def __repr__(self) -> str:
        return f"Interval(lower={_fmt(self.lower)}, upper={_fmt(self.upper)})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Interval)
            and np.array_equal(self.lower, other.lower)
            and np.array_equal(self.upper, other.upper)
        )

    def __hash__(self) -> int:
        return hash(
            (
                "Interval",
                _as_float_array(self.lower).tobytes(),
                _as_float_array(self.upper).tobytes(),
            )
        )


def _fmt(value) -> str:
    return repr(value) if isinstance(value, float) else np.array2string(value, separator=", ")
