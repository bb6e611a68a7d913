"""The :class:`Likelihood` base class and input checks shared by the concrete likelihoods."""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import numpy as np
import torch

from bayesphys.core.priors import Fixed, Prior
from bayesphys.core.validation import is_complex

__all__ = [
    "Likelihood",
    "NoiseModel",
    "as_array",
    "broadcast_y_f",
    "check_f",
    "check_labels",
    "check_y",
    "check_y_err",
    "reject_y_err",
    "scale_spec",
    "to_tensor",
    "torch_dtype",
]


# --------------------------------------------------------------------------- input helpers
def as_array(value, name: str, owner: str) -> np.ndarray:
    """``value`` (array-like or tensor) as a float64 array, or ``TypeError`` naming it."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if is_complex(value):  # float64 conversion would drop the imaginary part
        raise TypeError(f"{owner}: {name} must be real, got complex values")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{owner}: {name} must be numeric, got {type(value).__name__}") from exc
    return arr


def check_f(f, owner: str) -> np.ndarray:
    """The latent predictor of the numpy paths: finite floats (NaN would give NaN densities)."""
    arr = as_array(f, "f", owner)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: f contains NaN or infinite values")
    return arr


def broadcast_y_f(y_shape: tuple[int, ...], f_shape: tuple[int, ...], owner: str):
    """The broadcast shape of ``y`` and ``f``, or a ValueError naming both."""
    try:
        return np.broadcast_shapes(y_shape, f_shape)
    except ValueError:
        raise ValueError(
            f"{owner}: y of shape {y_shape} and f of shape {f_shape} do not broadcast"
        ) from None


def check_y(y, owner: str) -> np.ndarray:
    """Continuous observations: finite floats."""
    arr = as_array(y, "y", owner)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: y contains NaN or infinite values")
    return arr


def check_y_err(y_err, shape: tuple[int, ...], owner: str) -> np.ndarray | None:
    """Known measurement standard deviations: finite, > 0, broadcastable to ``shape``."""
    if y_err is None:
        return None
    err = as_array(y_err, "y_err", owner)
    if not np.all(np.isfinite(err) & (err > 0)):
        bad = err[~(np.isfinite(err) & (err > 0))].flat[0]
        raise ValueError(f"{owner}: y_err must be finite and > 0, got {float(bad)!r}")
    try:
        ok = np.broadcast_shapes(err.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{owner}: y_err of shape {err.shape} does not broadcast to y {shape}")
    return err


def check_labels(y, owner: str, *, upper: int | None = None, what: str) -> np.ndarray:
    """Integer-valued labels (``0 <= y < upper`` if given) as an int64 array."""
    arr = as_array(y, "y", owner)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < 0):
        raise ValueError(f"{owner}: y must be {what}")
    if upper is not None and np.any(arr >= upper):
        raise ValueError(f"{owner}: y must be {what}; got label {int(arr.max())}")
    return arr.astype(np.int64)


def reject_y_err(y_err, owner: str) -> None:
    """Discrete likelihoods have no notion of a measurement error on ``y``."""
    if y_err is not None:
        raise ValueError(f"{owner}: y_err is only supported by Gaussian and StudentT")


def torch_dtype(*values) -> torch.dtype:
    """dtype of the first floating tensor among ``values`` (float64 if none)."""
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.dtype
    return torch.float64


def to_tensor(value, dtype: torch.dtype) -> torch.Tensor:
    """Tensor of ``dtype``; tensors keep their autograd graph."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype)
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype)


def scale_spec(value, owner: str, name: str, *, allow_zero: bool) -> float | Prior:
    """A noise-like parameter: a Prior, or a finite float > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, Fixed) and not value.batch_shape:
        value = value.value
    if isinstance(value, Prior):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{owner}: {name} must be a float or a Prior, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be finite and {bound}, got {value!r}")
    return value


class Likelihood(abc.ABC):
    """Base class: maps a latent predictor ``f`` to a distribution over observations ``y``."""

    #: whether ``y_err`` (known measurement errors) is accepted
    accepts_y_err: ClassVar[bool] = False

    def _spec(self) -> dict[str, float | Prior]:
        """Every parameter by name: a float if fixed, a Prior if free."""
        return {}

    @property
    def free_params(self) -> dict[str, Prior]:
        """Parameters to infer, with their priors (e.g. ``{"sigma": HalfNormal(1)}``)."""
        return {k: v for k, v in self._spec().items() if isinstance(v, Prior)}

    @property
    def fixed_params(self) -> dict[str, float]:
        """Parameters held fixed, with their values."""
        return {k: v for k, v in self._spec().items() if not isinstance(v, Prior)}

    def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameter values for a call: given ones, else fixed ones; free ones are required."""
        owner, spec = type(self).__name__, self._spec()
        unknown = sorted(set(params) - set(spec))
        if unknown:
            raise TypeError(f"{owner}: unknown parameter(s) {unknown}; expected {sorted(spec)}")
        out = {}
        for key, value in spec.items():
            if params.get(key) is not None:
                out[key] = params[key]
            elif isinstance(value, Prior):
                raise ValueError(
                    f"{owner}: {key} is a free parameter (prior {value!r}); pass {key}=... "
                    "(e.g. posterior draws)"
                )
            else:
                out[key] = value
        return out

    @abc.abstractmethod
    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        """Pointwise log likelihood ``log p(y | f, params)`` (numpy, broadcasting)."""

    @abc.abstractmethod
    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        """Pointwise log likelihood in torch, differentiable in ``f`` and tensor params."""

    @abc.abstractmethod
    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        """Draw ``y`` given ``f`` (posterior predictive); ``rng``: None, seed or Generator."""

    @abc.abstractmethod
    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        """Create the observed PyMC variable ``name`` (and RVs ``{name}_{param}``); return it."""

    def _pymc_params(self, name: str, param_rvs: dict[str, Any]) -> dict[str, Any]:
        owner, spec = type(self).__name__, self._spec()
        unknown = sorted(set(param_rvs) - set(spec))
        if unknown:
            raise TypeError(f"{owner}: unknown parameter(s) {unknown}; expected {sorted(spec)}")
        out = {}
        for key, value in spec.items():
            given = param_rvs.get(key)
            if isinstance(given, int | float | np.number | np.ndarray | list):
                # float64 arrays, not Python floats: pytensor autocasts 0.3 to float32.
                out[key] = np.asarray(given, dtype=np.float64)
            elif given is not None:  # a PyMC/pytensor variable
                out[key] = given
            elif isinstance(value, Prior):
                out[key] = value.to_pymc(f"{name}_{key}")
            else:
                out[key] = np.float64(value)
        return out


class NoiseModel(Likelihood):
    """Shared total-scale handling for Gaussian and StudentT: ``y_err**2 + sigma**2``."""

    accepts_y_err = True
    _noise_key: str = "sigma"

    def _zero_noise_check(self, y_err) -> None:
        fixed = self.fixed_params.get(self._noise_key)
        if y_err is None and fixed == 0.0:
            raise ValueError(
                f"{type(self).__name__}: noise=0 needs y_err (the total variance "
                "y_err**2 + sigma**2 would be 0)"
            )

    def _noise_var(self, p, square):
        """Noise variance from the resolved parameters (``square``: backend's square)."""
        return p["variance"] if self._noise_key == "variance" else square(p["sigma"])

    def _total_var_np(self, y_err, p) -> np.ndarray:
        self._zero_noise_check(y_err)
        var = self._noise_var(p, lambda s: np.square(np.asarray(s, dtype=np.float64)))
        var = np.asarray(var, dtype=np.float64)
        if y_err is not None:
            var = var + np.square(y_err)
        if np.any(var <= 0):
            raise ValueError(f"{type(self).__name__}: total noise variance must be > 0")
        return var

    def _total_var_torch(self, y_err, p, dtype) -> torch.Tensor:
        self._zero_noise_check(y_err)
        key = self._noise_key
        var = self._noise_var({key: to_tensor(p[key], dtype)}, torch.square)
        if y_err is not None:
            var = var + to_tensor(np.square(y_err), dtype)
        return var

    def _total_scale_pymc(self, y_err, p):
        import pytensor.tensor as pt

        self._zero_noise_check(y_err)
        if y_err is None:
            return pt.sqrt(p["variance"]) if self._noise_key == "variance" else p["sigma"]
        return pt.sqrt(self._noise_var(p, pt.square) + np.square(y_err))

    def _prepare(self, y, f, y_err, params):
        owner = type(self).__name__
        y = check_y(y, owner)
        if not isinstance(f, torch.Tensor):  # torch paths keep f's graph and device
            f = check_f(f, owner)
        shape = broadcast_y_f(y.shape, tuple(f.shape), owner)
        return y, check_y_err(y_err, shape, owner), self._resolve(params)
