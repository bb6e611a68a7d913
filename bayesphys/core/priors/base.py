"""The :class:`Prior` base class and parameter handling shared by every prior spec.

Concrete priors (the other modules of ``bayesphys.core.priors``) only declare their
parameters and supply the distribution-specific pieces (``_logpdf``, ``_sample``,
``_torch``, moments); validation, broadcasting, equality, hashing, pickling and the
unconstrained density live here.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
from typing import Any, ClassVar

import numpy as np
import torch

from bayesphys.core.transforms import Exp, Identity, Transform
from bayesphys.core.validation import MAX_MAGNITUDE, check_array, check_random_state

__all__ = ["LOG_2", "LOG_2PI", "LOG_PI", "Prior", "SizeLike", "prior_spec", "softplus"]

SizeLike = int | tuple[int, ...] | None
# The decorator of every concrete prior: immutable; equality, hashing and repr come from Prior.
prior_spec = dataclasses.dataclass(frozen=True, eq=False, repr=False)
LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)
LOG_PI = math.log(math.pi)

_SUPPORTS = ("real", "positive", "interval")


def softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))``, exact everywhere.

    torch's softplus switches to the identity above x = 20 (error ~2e-9).
    """
    return -torch.nn.functional.logsigmoid(-x)


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return np.array2string(np.asarray(value), separator=", ")


def _convert_param(owner: str, name: str, value) -> float | np.ndarray:
    """Validate one numeric parameter: a float for scalars, a read-only float array otherwise."""
    if isinstance(value, bool | np.bool_ | str | bytes) or value is None:
        raise TypeError(f"{owner}: {name} must be a real number or array, got {value!r}")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences and the like
        raise TypeError(f"{owner}: {name} must be a real number or array, got {value!r}") from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{owner}: {name} must be a real number or array, got {type(value).__name__} "
            f"of dtype {arr.dtype}"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].flat[0]
        raise ValueError(f"{owner}: {name} must be finite, got {_bad(bad, arr)}")
    if np.any(np.abs(arr) > MAX_MAGNITUDE):  # densities would under/overflow to -inf or NaN
        bad = arr[np.abs(arr) > MAX_MAGNITUDE].flat[0]
        raise ValueError(
            f"{owner}: {name} must be at most {MAX_MAGNITUDE:.0e} in magnitude (as the data: "
            f"rescale them), got {_bad(bad, arr)}"
        )
    if arr.ndim == 0:
        return float(arr)
    arr.setflags(write=False)
    return arr


def _bad(bad_value: float, arr: np.ndarray) -> str:
    where = f" (in an array of shape {arr.shape})" if arr.ndim else ""
    return f"{float(bad_value)!r}{where}"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Prior(abc.ABC):
    """Backend-neutral, immutable prior specification.

    Subclasses are frozen dataclasses whose fields are the (PyMC-named) parameters. Scalar
    parameters are stored as ``float``, array parameters as read-only ``float64`` arrays that
    broadcast against each other (``batch_shape``).

    Class attributes for subclasses: ``support`` (``"real"``, ``"positive"``, ``"interval"``),
    ``_positive`` (names of parameters that must be > 0) and ``_pymc_name`` (the PyMC class).
    """

    support: ClassVar[str] = "real"
    _positive: ClassVar[tuple[str, ...]] = ()
    _pymc_name: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for field in dataclasses.fields(self):
            value = _convert_param(owner, field.name, getattr(self, field.name))
            if field.name in self._positive and np.any(np.asarray(value) <= 0):
                arr = np.asarray(value)
                raise ValueError(
                    f"{owner}: {field.name} must be > 0, got {_bad(arr[arr <= 0].flat[0], arr)}"
                )
            object.__setattr__(self, field.name, value)
        try:
            np.broadcast_shapes(*(np.shape(v) for v in self.params.values()))
        except ValueError as exc:
            shapes = {k: np.shape(v) for k, v in self.params.items()}
            raise ValueError(f"{owner}: parameter shapes do not broadcast: {shapes}") from exc
        self._check()

    def _check(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Hook for checks involving several parameters (e.g. ``lower < upper``)."""

    # ----------------------------------------------------------------- parameters and identity
    @property
    def params(self) -> dict[str, float | np.ndarray]:
        """The parameters by (PyMC) name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the parameters (``()`` for scalar parameters)."""
        return tuple(np.broadcast_shapes(*(np.shape(v) for v in self.params.values())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(
            np.shape(a) == np.shape(b) and np.array_equal(a, b)
            for a, b in zip(self.params.values(), other.params.values(), strict=True)
        )

    def __hash__(self) -> int:
        key = tuple(
            (k, v) if isinstance(v, float) else (k, v.shape, (v + 0.0).tobytes())  # -0.0 == 0.0
            for k, v in self.params.items()
        )
        return hash((type(self).__name__, key))

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Re-run __init__ so that unpickled arrays are validated and read-only again.
        self.__init__(**state)

    # ---------------------------------------------------------------------------- support
    @property
    def transform(self) -> Transform:
        """Bijection from the real line onto ``support``."""
        return Exp() if self.support == "positive" else Identity()

    # ------------------------------------------------------------------------------ numpy
    def logpdf(self, x) -> np.ndarray:
        """Elementwise log density, broadcasting ``x`` against the parameters.

        ``-inf`` outside the support (and at ``x = ±inf``).
        """
        x = self._check_x(x)
        with np.errstate(all="ignore"):
            out = np.asarray(self._logpdf(x), dtype=np.float64)
        out = np.broadcast_to(out, np.broadcast_shapes(x.shape, self.batch_shape)).copy()
        out[np.broadcast_to(np.isinf(x), out.shape)] = -math.inf
        return out

    def _check_x(self, x) -> np.ndarray:
        """``x`` as float64, or a ValueError/TypeError naming it (NaN has no density)."""
        owner = f"{type(self).__name__}.logpdf"
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = check_array(x, f"{owner}: x", min_rows=0, allow_inf=True)
        try:
            np.broadcast_shapes(x.shape, self.batch_shape)
        except ValueError:
            raise ValueError(
                f"{owner}: x of shape {x.shape} does not broadcast against the parameters' "
                f"shape {self.batch_shape}"
            ) from None
        return x

    def sample(self, size: SizeLike = None, rng=None) -> np.ndarray:
        """Draw samples of shape ``size + batch_shape``.

        Parameters
        ----------
        size : int or tuple of int, optional
            Leading sample shape.
        rng : None, int or numpy.random.Generator
            Random source or seed.
        """
        shape = _check_size(size, f"{type(self).__name__}.sample") + self.batch_shape
        return np.asarray(self._sample(shape, check_random_state(rng, "rng")), dtype=np.float64)

    @property
    def mean(self) -> np.ndarray:
        """Mean (numpy scalar or array of ``batch_shape``); ``ValueError`` if undefined."""
        return np.broadcast_to(np.asarray(self._mean(), np.float64), self.batch_shape).copy()[()]

    @property
    def variance(self) -> np.ndarray:
        """Variance; ``ValueError`` if undefined or infinite."""
        var = np.asarray(self._variance(), np.float64)
        return np.broadcast_to(var, self.batch_shape).copy()[()]

    def _undefined(self, what: str, why: str):
        raise ValueError(f"{type(self).__name__}: {what} is not finite/defined ({why})")

    # -------------------------------------------------------------------------- backends
    def to_pymc(self, name: str, **shape_kw):
        """Create the PyMC random variable ``name`` (call inside a ``pm.Model`` context).

        ``shape_kw`` (``shape=``, ``dims=``, ...) is passed through to PyMC.

        Examples
        --------
        >>> import pymc as pm
        >>> from bayesphys.priors import Normal
        >>> with pm.Model():
        ...     w = Normal(0.0, 10.0).to_pymc("w", shape=3)
        """
        import pymc as pm

        dist = getattr(pm, self._pymc_name or type(self).__name__)
        return dist(name, **self._pymc_constants(), **shape_kw)

    def _pymc_constants(self) -> dict[str, np.ndarray]:
        # float64 arrays, not Python floats: pytensor autocasts a float like 1.5 to float32,
        # which costs ~1e-8 relative accuracy in every logp term.
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}

    def to_torch(
        self, dtype: torch.dtype = torch.float64, validate_args: bool | None = None
    ) -> torch.distributions.Distribution:
        """The equivalent ``torch.distributions.Distribution`` (``log_prob`` equals ``logpdf``)."""
        return self._torch(self._tensors(dtype), validate_args)

    def log_prob_unconstrained(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(forward(z)) + log|d forward/dz|`` elementwise, for unconstrained samplers.

        Differentiable in ``z``; broadcasts ``z`` against ``batch_shape``.
        """
        z = _as_float_tensor(z)
        params = self._tensors(z.dtype, z.device)
        log_p = self._log_prob_unconstrained(z, params)
        if log_p is not None:
            return log_p
        x = self.transform.forward(z)
        dist = self._torch(params, validate_args=False)
        return dist.log_prob(x) + self.transform.log_abs_det_jacobian(z)

    def _tensors(self, dtype: torch.dtype, device=None) -> dict[str, torch.Tensor]:
        return {
            k: torch.as_tensor(np.array(v), dtype=dtype, device=device)
            for k, v in self.params.items()
        }

    def _log_prob_unconstrained(self, z, params) -> torch.Tensor | None:
        """Closed form of the unconstrained density where it is more stable; None: generic."""
        return None

    # ------------------------------------------------------------- subclass responsibilities
    @abc.abstractmethod
    def _logpdf(self, x: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray: ...

    @abc.abstractmethod
    def _torch(
        self, p: dict[str, torch.Tensor], validate_args
    ) -> torch.distributions.Distribution: ...

    @abc.abstractmethod
    def _mean(self): ...

    @abc.abstractmethod
    def _variance(self): ...


def _check_size(size, owner: str) -> tuple[int, ...]:
    """``size`` (None, an int or a sequence of ints, all >= 0) as a shape tuple."""
    if size is None:
        return ()
    dims = (size,) if isinstance(size, numbers.Integral) else size
    if isinstance(dims, str | bytes) or not isinstance(dims, tuple | list):
        raise TypeError(f"{owner}: size must be None, an int or a tuple of ints, got {size!r}")
    for dim in dims:
        if isinstance(dim, bool | np.bool_) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"{owner}: size must hold integers, got {size!r}")
        if dim < 0:
            raise ValueError(f"{owner}: size must hold integers >= 0, got {size!r}")
    return tuple(int(dim) for dim in dims)


def _as_float_tensor(z) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        return torch.as_tensor(np.asarray(z, dtype=np.float64))
    return z if z.is_floating_point() else z.to(torch.float64)
