"""Priors on positive parameters (support ``x > 0``, sampled as ``z = log x``).

Re-exported by :mod:`bayesphys.core.priors`, which documents the common interface.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch import distributions as td

from bayesphys.core.priors.base import LOG_2, LOG_2PI, LOG_PI, Prior, prior_spec, softplus

__all__ = ["Exponential", "Gamma", "HalfCauchy", "HalfNormal", "InverseGamma", "LogNormal"]


@prior_spec
class HalfNormal(Prior):
    """Half-normal prior on ``x >= 0`` with scale ``sigma``."""

    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)
    support = "positive"

    def _logpdf(self, x):
        u = x / self.sigma
        out = LOG_2 - 0.5 * LOG_2PI - np.log(self.sigma) - 0.5 * u * u
        return np.where(x >= 0, out, -np.inf)

    def _sample(self, shape, rng):
        return np.abs(rng.normal(0.0, self.sigma, size=shape))

    def _torch(self, p, validate_args):
        return td.HalfNormal(p["sigma"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        log_sigma = torch.log(p["sigma"])
        return LOG_2 - 0.5 * LOG_2PI - log_sigma - 0.5 * torch.exp(2 * (z - log_sigma)) + z

    def _mean(self):
        return np.asarray(self.sigma) * math.sqrt(2.0 / math.pi)

    def _variance(self):
        return np.square(self.sigma) * (1.0 - 2.0 / math.pi)


@prior_spec
class HalfCauchy(Prior):
    """Half-Cauchy prior on ``x >= 0`` with scale ``beta`` (no mean or variance)."""

    beta: float | np.ndarray = 1.0
    _positive = ("beta",)
    support = "positive"

    def _logpdf(self, x):
        u = x / self.beta
        out = LOG_2 - LOG_PI - np.log(self.beta) - np.log1p(u * u)
        return np.where(x >= 0, out, -np.inf)

    def _sample(self, shape, rng):
        return np.asarray(self.beta) * np.abs(rng.standard_cauchy(size=shape))

    def _torch(self, p, validate_args):
        return td.HalfCauchy(p["beta"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        log_beta = torch.log(p["beta"])
        return LOG_2 - LOG_PI - log_beta - softplus(2 * (z - log_beta)) + z

    def _mean(self):
        self._undefined("mean", "infinite for the half-Cauchy distribution")

    def _variance(self):
        self._undefined("variance", "infinite for the half-Cauchy distribution")


@prior_spec
class Gamma(Prior):
    """Gamma prior with shape ``alpha`` and rate ``beta`` (mean ``alpha / beta``)."""

    alpha: float | np.ndarray
    beta: float | np.ndarray
    _positive = ("alpha", "beta")
    support = "positive"

    def _logpdf(self, x):
        alpha, beta = np.asarray(self.alpha), np.asarray(self.beta)
        out = alpha * np.log(beta) - special.gammaln(alpha) + special.xlogy(alpha - 1, x) - beta * x
        return np.where(x >= 0, out, -np.inf)

    def _sample(self, shape, rng):
        return rng.gamma(self.alpha, 1.0 / np.asarray(self.beta), size=shape)

    def _torch(self, p, validate_args):
        return td.Gamma(p["alpha"], p["beta"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        a, b = p["alpha"], p["beta"]
        return a * torch.log(b) - torch.lgamma(a) + a * z - b * torch.exp(z)

    def _mean(self):
        return np.asarray(self.alpha) / self.beta

    def _variance(self):
        return np.asarray(self.alpha) / np.square(self.beta)


@prior_spec
class InverseGamma(Prior):
    """Inverse-gamma prior with shape ``alpha`` and scale ``beta``: ``1/x ~ Gamma(alpha, beta)``."""

    alpha: float | np.ndarray
    beta: float | np.ndarray
    _positive = ("alpha", "beta")
    support = "positive"

    def _logpdf(self, x):
        alpha, beta = np.asarray(self.alpha), np.asarray(self.beta)
        out = alpha * np.log(beta) - special.gammaln(alpha) - (alpha + 1) * np.log(x) - beta / x
        return np.where(x > 0, out, -np.inf)

    def _sample(self, shape, rng):
        return np.asarray(self.beta) / rng.gamma(self.alpha, 1.0, size=shape)

    def _torch(self, p, validate_args):
        return td.InverseGamma(p["alpha"], p["beta"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        a, b = p["alpha"], p["beta"]
        return a * torch.log(b) - torch.lgamma(a) - a * z - b * torch.exp(-z)

    def _mean(self):
        alpha = np.asarray(self.alpha)
        if np.any(alpha <= 1):
            self._undefined("mean", "infinite for alpha <= 1")
        return self.beta / (alpha - 1.0)

    def _variance(self):
        alpha = np.asarray(self.alpha)
        if np.any(alpha <= 2):
            self._undefined("variance", "infinite for alpha <= 2")
        return np.square(self.beta) / ((alpha - 1.0) ** 2 * (alpha - 2.0))


@prior_spec
class LogNormal(Prior):
    """Log-normal prior: ``log x ~ N(mu, sigma^2)``."""

    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)
    support = "positive"

    def _logpdf(self, x):
        log_x = np.log(x)
        u = (log_x - self.mu) / self.sigma
        out = -log_x - np.log(self.sigma) - 0.5 * LOG_2PI - 0.5 * u * u
        return np.where(x > 0, out, -np.inf)

    def _sample(self, shape, rng):
        return rng.lognormal(self.mu, self.sigma, size=shape)

    def _torch(self, p, validate_args):
        return td.LogNormal(p["mu"], p["sigma"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        # With x = exp(z) the density of z is exactly N(mu, sigma^2).
        return td.Normal(p["mu"], p["sigma"], validate_args=False).log_prob(z)

    def _mean(self):
        return np.exp(self.mu + 0.5 * np.square(self.sigma))

    def _variance(self):
        s2 = np.square(self.sigma)
        return np.expm1(s2) * np.exp(2.0 * np.asarray(self.mu) + s2)


@prior_spec
class Exponential(Prior):
    """Exponential prior with rate ``lam`` (mean ``1 / lam``)."""

    lam: float | np.ndarray = 1.0
    _positive = ("lam",)
    support = "positive"

    def _logpdf(self, x):
        return np.where(x >= 0, np.log(self.lam) - self.lam * x, -np.inf)

    def _sample(self, shape, rng):
        return rng.exponential(1.0 / np.asarray(self.lam), size=shape)

    def _torch(self, p, validate_args):
        return td.Exponential(p["lam"], validate_args=validate_args)

    def _log_prob_unconstrained(self, z, p):
        return torch.log(p["lam"]) + z - p["lam"] * torch.exp(z)

    def _mean(self):
        return 1.0 / np.asarray(self.lam)

    def _variance(self):
        return 1.0 / np.square(self.lam)
