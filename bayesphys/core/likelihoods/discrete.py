"""Likelihoods for labels and counts: Bernoulli, Categorical, Poisson."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch
from scipy import special

from bayesphys.core.likelihoods.base import (
    Likelihood,
    broadcast_y_f,
    check_f,
    check_labels,
    reject_y_err,
    to_tensor,
    torch_dtype,
)
from bayesphys.core.validation import check_random_state

__all__ = ["Bernoulli", "Categorical", "Poisson"]

# numpy draws Poisson counts up to a rate of about 9.2e18 (int64); exp(43) = 4.7e18.
MAX_LOG_RATE = 43.0


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
