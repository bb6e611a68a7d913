"""Priors on the whole real line: Normal, Laplace, StudentT, Cauchy."""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from torch import distributions as td

from bayesphys.core.priors.base import LOG_2PI, LOG_PI, Prior, prior_spec

__all__ = ["Cauchy", "Laplace", "Normal", "StudentT"]


@prior_spec
class Normal(Prior):
    """Normal (Gaussian) prior ``N(mu, sigma^2)``."""

    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)

    def _logpdf(self, x):
        u = (x - self.mu) / self.sigma
        return -0.5 * u * u - np.log(self.sigma) - 0.5 * LOG_2PI

    def _sample(self, shape, rng):
        return rng.normal(self.mu, self.sigma, size=shape)

    def _torch(self, p, validate_args):
        return td.Normal(p["mu"], p["sigma"], validate_args=validate_args)

    def _mean(self):
        return self.mu

    def _variance(self):
        return np.square(self.sigma)


@prior_spec
class Laplace(Prior):
    """Laplace (double-exponential) prior with location ``mu`` and scale ``b``."""

    mu: float | np.ndarray = 0.0
    b: float | np.ndarray = 1.0
    _positive = ("b",)

    def _logpdf(self, x):
        return -np.log(2.0 * np.asarray(self.b)) - np.abs(x - self.mu) / self.b

    def _sample(self, shape, rng):
        return rng.laplace(self.mu, self.b, size=shape)

    def _torch(self, p, validate_args):
        return td.Laplace(p["mu"], p["b"], validate_args=validate_args)

    def _mean(self):
        return self.mu

    def _variance(self):
        return 2.0 * np.square(self.b)


@prior_spec
class StudentT(Prior):
    """Student-t prior with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``."""

    nu: float | np.ndarray
    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("nu", "sigma")

    def _logpdf(self, x):
        nu = np.asarray(self.nu)
        u = (x - self.mu) / self.sigma
        return (
            special.gammaln(0.5 * (nu + 1.0))
            - special.gammaln(0.5 * nu)
            - 0.5 * np.log(nu * math.pi)
            - np.log(self.sigma)
            - 0.5 * (nu + 1.0) * np.log1p(u * u / nu)
        )

    def _sample(self, shape, rng):
        return self.mu + np.asarray(self.sigma) * rng.standard_t(self.nu, size=shape)

    def _torch(self, p, validate_args):
        return td.StudentT(p["nu"], p["mu"], p["sigma"], validate_args=validate_args)

    def _mean(self):
        if np.any(np.asarray(self.nu) <= 1):
            self._undefined("mean", "needs nu > 1")
        return self.mu

    def _variance(self):
        nu = np.asarray(self.nu)
        if np.any(nu <= 2):
            self._undefined("variance", "infinite for nu <= 2")
        return np.square(self.sigma) * nu / (nu - 2.0)


@prior_spec
class Cauchy(Prior):
    """Cauchy prior with location ``alpha`` and scale ``beta`` (no mean or variance)."""

    alpha: float | np.ndarray = 0.0
    beta: float | np.ndarray = 1.0
    _positive = ("beta",)

    def _logpdf(self, x):
        u = (x - self.alpha) / self.beta
        return -LOG_PI - np.log(self.beta) - np.log1p(u * u)

    def _sample(self, shape, rng):
        return self.alpha + np.asarray(self.beta) * rng.standard_cauchy(size=shape)

    def _torch(self, p, validate_args):
        return td.Cauchy(p["alpha"], p["beta"], validate_args=validate_args)

    def _mean(self):
        self._undefined("mean", "the Cauchy distribution has none")

    def _variance(self):
        self._undefined("variance", "the Cauchy distribution has none")
