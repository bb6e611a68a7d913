"""Noise models for real-valued data: Gaussian (with known per-point errors) and StudentT."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from scipy import special

from bayesphys.core.likelihoods.base import (
    NoiseModel,
    check_f,
    check_y_err,
    scale_spec,
    to_tensor,
    torch_dtype,
)
from bayesphys.core.priors import HalfNormal, Prior
from bayesphys.core.validation import check_random_state

__all__ = ["Gaussian", "StudentT"]

_LOG_2PI = math.log(2.0 * math.pi)


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
