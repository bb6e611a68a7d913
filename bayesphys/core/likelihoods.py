"""Backend-neutral observation models: how a latent predictor ``f`` generates data ``y``.

Every likelihood evaluates pointwise in numpy (``logpdf``) and torch (``log_prob``), draws
posterior-predictive samples (``sample``) and renders itself into a PyMC model (``to_pymc``).
Noise parameters are either fixed floats or :class:`~bayesphys.core.priors.Prior` specs to be
inferred; ``free_params``/``fixed_params`` list them by name.

Parameters passed to ``logpdf``/``log_prob``/``sample`` broadcast against ``f`` with the usual
(trailing-axis) numpy rules: for ``f`` of shape ``(draws, n)`` pass ``sigma[:, None]``.

Examples
--------
>>> import numpy as np
>>> lik = Gaussian(noise=0.5)
>>> lik.logpdf(np.array([1.0, 2.0]), np.array([1.0, 1.5]), y_err=0.1).shape
(2,)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import torch
from scipy import special

from bayesphys.core._likelihood_base import (
    Likelihood,
    NoiseModel,
    broadcast_y_f,
    check_f,
    check_labels,
    check_y_err,
    reject_y_err,
    scale_spec,
    to_tensor,
    torch_dtype,
)
from bayesphys.core.priors import HalfNormal, Prior
from bayesphys.core.validation import check_random_state

__all__ = ["Bernoulli", "Categorical", "Gaussian", "Likelihood", "Poisson", "StudentT"]

_LOG_2PI = math.log(2.0 * math.pi)
# numpy draws Poisson counts up to a rate of about 9.2e18 (int64); exp(43) = 4.7e18.
MAX_LOG_RATE = 43.0


class _DefaultNoise:
    """Marks ``noise`` as not given, so ``Gaussian(variance=...)`` is told from a clash."""

    def __repr__(self) -> str:
        return "HalfNormal(sigma=1.0)"


_DEFAULT_NOISE: Any = _DefaultNoise()


# ---------------------------------------------------------------------- continuous outcomes
@dataclasses.dataclass(frozen=True)
class Gaussian(NoiseModel):
    """Normal noise around ``f`` with known per-point errors ``y_err`` and unknown ``sigma``.

    Total variance ``y_err**2 + sigma**2``.

    Parameters
    ----------
    noise : float or Prior, default HalfNormal(1)
        The noise standard deviation ``sigma``: a float ``>= 0`` (``0`` only if every call
        passes ``y_err``) or a Prior on ``sigma``. Not together with ``variance``.
    variance : float or Prior, optional
        Alternatively the noise variance ``sigma**2`` (e.g. ``InverseGamma`` for the
        conjugate Normal-Inverse-Gamma model); the parameter is then named ``"variance"``.

    Examples
    --------
    >>> Gaussian(variance=1.0).noise_kind
    'fixed'
    >>> Gaussian().free_params
    {'sigma': HalfNormal(sigma=1.0)}
    """

    noise: float | Prior | None = _DEFAULT_NOISE
    variance: float | Prior | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.variance is not None:
            if self.noise is not _DEFAULT_NOISE:
                raise ValueError("Gaussian: give either noise (sigma) or variance, not both")
            object.__setattr__(self, "noise", None)
            spec = scale_spec(self.variance, "Gaussian", "variance", allow_zero=True)
            object.__setattr__(self, "variance", spec)
        else:
            noise = HalfNormal(1.0) if self.noise is _DEFAULT_NOISE else self.noise
            if noise is None:
                raise TypeError("Gaussian: noise must be a float >= 0 or a Prior, got None")
            object.__setattr__(
                self, "noise", scale_spec(noise, "Gaussian", "noise", allow_zero=True)
            )

    @property
    def _noise_key(self) -> str:  # type: ignore[override]
        return "sigma" if self.variance is None else "variance"

    @property
    def param_name(self) -> str:
        """Name of the noise parameter: ``"sigma"``, or ``"variance"`` if given as variance."""
        return self._noise_key

    @property
    def noise_kind(self) -> str:
        """``"fixed"`` (a float), ``"sigma"`` (Prior on sigma) or ``"variance"`` (on sigma**2)."""
        spec = self.noise if self.variance is None else self.variance
        return self._noise_key if isinstance(spec, Prior) else "fixed"

    @property
    def fixed_variance(self) -> float | None:
        """The fixed noise variance ``sigma**2`` (``None`` if the noise is inferred)."""
        if self.noise_kind != "fixed":
            return None
        return self.variance if self.variance is not None else self.noise**2

    def _spec(self):
        return {self._noise_key: self.noise if self.variance is None else self.variance}

    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        y, y_err, p = self._prepare(y, f, y_err, params)
        var = self._total_var_np(y_err, p)
        r = y - np.asarray(f, dtype=np.float64)
        return -0.5 * (_LOG_2PI + np.log(var) + r * r / var)

    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        y, y_err, p = self._prepare(y, f, y_err, params)
        dtype = torch_dtype(f, *p.values())
        var = self._total_var_torch(y_err, p, dtype)
        r = to_tensor(y, dtype) - to_tensor(f, dtype)
        return -0.5 * (_LOG_2PI + torch.log(var) + r * r / var)

    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        f = check_f(f, "Gaussian")
        y_err = check_y_err(y_err, f.shape, "Gaussian")
        var = self._total_var_np(y_err, self._resolve(params))
        shape = np.broadcast_shapes(f.shape, var.shape)
        return check_random_state(rng, "rng").normal(f, np.sqrt(var), size=shape)

    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        import pymc as pm

        y_err = check_y_err(y_err, np.shape(observed), "Gaussian")
        p = self._pymc_params(name, param_rvs)
        sd = self._total_scale_pymc(y_err, p)
        return pm.Normal(name, mu=f, sigma=sd, observed=observed, dims=dims)


@dataclasses.dataclass(frozen=True)
class StudentT(NoiseModel):
    """Student-t noise around ``f`` (robust regression).

    With ``y_err`` the scale is ``sqrt(y_err**2 + sigma**2)``: an approximation, since a sum of
    Gaussian measurement error and t-distributed noise is not itself t-distributed.

    Parameters
    ----------
    nu : float or Prior, default 4.0
        Degrees of freedom (> 0), fixed or inferred.
    noise : float or Prior, default HalfNormal(1)
        Scale ``sigma`` (float >= 0 or a Prior).
    """

    nu: float | Prior = 4.0
    noise: float | Prior = dataclasses.field(default_factory=lambda: HalfNormal(1.0))

    def __post_init__(self) -> None:
        object.__setattr__(self, "nu", scale_spec(self.nu, "StudentT", "nu", allow_zero=False))
        noise = scale_spec(self.noise, "StudentT", "noise", allow_zero=True)
        object.__setattr__(self, "noise", noise)

    def _spec(self):
        return {"nu": self.nu, "sigma": self.noise}

    @staticmethod
    def _logpdf_terms(r, scale, nu, lgamma, log, log1p):
        u = r / scale
        return (
            lgamma(0.5 * (nu + 1.0))
            - lgamma(0.5 * nu)
            - 0.5 * log(nu * math.pi)
            - log(scale)
            - 0.5 * (nu + 1.0) * log1p(u * u / nu)
        )

    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        y, y_err, p = self._prepare(y, f, y_err, params)
        scale = np.sqrt(self._total_var_np(y_err, p))
        nu = np.asarray(p["nu"], dtype=np.float64)
        r = y - np.asarray(f, dtype=np.float64)
        return self._logpdf_terms(r, scale, nu, special.gammaln, np.log, np.log1p)

    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        y, y_err, p = self._prepare(y, f, y_err, params)
        dtype = torch_dtype(f, *p.values())
        scale = torch.sqrt(self._total_var_torch(y_err, p, dtype))
        r = to_tensor(y, dtype) - to_tensor(f, dtype)
        nu = to_tensor(p["nu"], dtype)
        return self._logpdf_terms(r, scale, nu, torch.lgamma, torch.log, torch.log1p)

    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        f = check_f(f, "StudentT")
        y_err = check_y_err(y_err, f.shape, "StudentT")
        p = self._resolve(params)
        scale = np.sqrt(self._total_var_np(y_err, p))
        nu = np.asarray(p["nu"], dtype=np.float64)
        shape = np.broadcast_shapes(f.shape, scale.shape, nu.shape)
        return f + scale * check_random_state(rng, "rng").standard_t(nu, size=shape)

    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        import pymc as pm

        y_err = check_y_err(y_err, np.shape(observed), "StudentT")
        p = self._pymc_params(name, param_rvs)
        sd = self._total_scale_pymc(y_err, p)
        return pm.StudentT(name, nu=p["nu"], mu=f, sigma=sd, observed=observed, dims=dims)


# ------------------------------------------------------------------------ discrete outcomes
@dataclasses.dataclass(frozen=True)
class Bernoulli(Likelihood):
    """Binary outcomes ``y`` in {0, 1} with ``f`` the logit of ``P(y = 1)``."""

    _WHAT: ClassVar[str] = "0 or 1 (binary outcomes)"

    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Bernoulli")
        self._resolve(params)
        y = check_labels(y, "Bernoulli", upper=2, what=self._WHAT)
        f = check_f(f, "Bernoulli")
        broadcast_y_f(y.shape, f.shape, "Bernoulli")
        return y * f - np.logaddexp(0.0, f)  # log sigmoid(f) if y = 1, log sigmoid(-f) if 0

    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        reject_y_err(y_err, "Bernoulli")
        self._resolve(params)
        y = check_labels(y, "Bernoulli", upper=2, what=self._WHAT)
        dtype = torch_dtype(f)
        f = to_tensor(f, dtype)
        return to_tensor(y, dtype) * f + torch.nn.functional.logsigmoid(-f)

    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Bernoulli")
        self._resolve(params)
        p = special.expit(check_f(f, "Bernoulli"))
        return (check_random_state(rng, "rng").random(p.shape) < p).astype(np.int64)

    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        import pymc as pm

        reject_y_err(y_err, "Bernoulli")
        self._pymc_params(name, param_rvs)
        observed = check_labels(observed, "Bernoulli", upper=2, what=self._WHAT)
        return pm.Bernoulli(name, logit_p=f, observed=observed, dims=dims)


@dataclasses.dataclass(frozen=True)
class Categorical(Likelihood):
    """Class labels ``y`` in {0, ..., K-1} with ``f`` the logits, shape ``(..., n, K)``."""

    @staticmethod
    def _labels(y, f_shape) -> np.ndarray:
        if len(f_shape) == 0:
            raise ValueError("Categorical: f must have a trailing class axis of length K")
        k = f_shape[-1]
        return check_labels(y, "Categorical", upper=k, what=f"integer labels in [0, {k})")

    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Categorical")
        self._resolve(params)
        f = check_f(f, "Categorical")
        y = self._labels(y, f.shape)
        log_p = f - special.logsumexp(f, axis=-1, keepdims=True)
        batch = broadcast_y_f(y.shape, log_p.shape[:-1], "Categorical")
        log_p = np.broadcast_to(log_p, (*batch, log_p.shape[-1]))
        idx = np.broadcast_to(y, batch)[..., None]
        return np.take_along_axis(log_p, idx, axis=-1)[..., 0]

    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        reject_y_err(y_err, "Categorical")
        self._resolve(params)
        f = to_tensor(f, torch_dtype(f))
        y = torch.as_tensor(self._labels(y, tuple(f.shape)), device=f.device)
        log_p = torch.log_softmax(f, dim=-1)
        batch = torch.broadcast_shapes(y.shape, log_p.shape[:-1])
        log_p = log_p.expand(*batch, log_p.shape[-1])
        return log_p.gather(-1, y.expand(batch).unsqueeze(-1)).squeeze(-1)

    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Categorical")
        self._resolve(params)
        f = check_f(f, "Categorical")
        # Gumbel-max trick: argmax(f + Gumbel noise) is a draw from softmax(f).
        return np.argmax(f + check_random_state(rng, "rng").gumbel(size=f.shape), axis=-1)

    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        import pymc as pm

        reject_y_err(y_err, "Categorical")
        self._pymc_params(name, param_rvs)
        k = _static_k(f)
        what = "integer labels" + (f" in [0, {k})" if k is not None else " >= 0")
        observed = check_labels(observed, "Categorical", upper=k, what=what)
        return pm.Categorical(name, logit_p=f, observed=observed, dims=dims)


def _static_k(f) -> int | None:
    """Number of classes (last axis of ``f``) if known without evaluating a PyMC graph."""
    shape = getattr(getattr(f, "type", None), "shape", None)  # pytensor variables
    if shape is None:
        shape = np.shape(f)
    return shape[-1] if len(shape) and shape[-1] is not None else None


@dataclasses.dataclass(frozen=True)
class Poisson(Likelihood):
    """Counts ``y`` in {0, 1, 2, ...} with ``f`` the log rate."""

    _WHAT: ClassVar[str] = "non-negative integer counts"

    def logpdf(self, y, f, *, y_err=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Poisson")
        self._resolve(params)
        y = check_labels(y, "Poisson", what=self._WHAT).astype(np.float64)
        f = check_f(f, "Poisson")
        broadcast_y_f(y.shape, f.shape, "Poisson")
        return y * f - np.exp(f) - special.gammaln(y + 1.0)

    def log_prob(self, y, f, *, y_err=None, **params) -> torch.Tensor:
        reject_y_err(y_err, "Poisson")
        self._resolve(params)
        dtype = torch_dtype(f)
        y = to_tensor(check_labels(y, "Poisson", what=self._WHAT), dtype)
        f = to_tensor(f, dtype)
        return y * f - torch.exp(f) - torch.lgamma(y + 1.0)

    def sample(self, f, *, y_err=None, rng=None, **params) -> np.ndarray:
        reject_y_err(y_err, "Poisson")
        self._resolve(params)
        f = check_f(f, "Poisson")
        if np.any(f > MAX_LOG_RATE):
            raise ValueError(
                f"Poisson: f (the log rate) reaches {float(np.max(f)):.3g}; rates above "
                f"exp({MAX_LOG_RATE}) cannot be drawn as int64 counts"
            )
        return check_random_state(rng, "rng").poisson(np.exp(f))

    def to_pymc(self, name: str, f, observed, *, y_err=None, dims=None, **param_rvs):
        import pymc as pm
        import pytensor.tensor as pt

        reject_y_err(y_err, "Poisson")
        self._pymc_params(name, param_rvs)
        observed = check_labels(observed, "Poisson", what=self._WHAT)
        return pm.Poisson(name, mu=pt.exp(f), observed=observed, dims=dims)
