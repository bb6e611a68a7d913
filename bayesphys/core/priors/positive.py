"""Priors on positive parameters (support ``x > 0``, sampled as ``z = log x``).

Re-exported by :mod:`bayesphys.core.priors`, which documents the common interface.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from scipy import special
from torch import distributions as td

from bayesphys.core.priors.base import LOG_2, LOG_2PI, LOG_PI, Prior, prior_spec, softplus

__all__ = [
    "Exponential",
    "Gamma",
    "HalfCauchy",
    "HalfNormal",
    "InverseGamma",
    "LogNormal",
    "PositivePrior",
    "unconstrained_terms",
]

# Kind codes of :func:`unconstrained_terms` (plain ints, so that compiled code can branch on them).
HALF_NORMAL, HALF_CAUCHY, GAMMA, INVERSE_GAMMA, LOG_NORMAL, EXPONENTIAL = range(6)


def unconstrained_terms(kind, a, b, z):
    """The ``z``-dependent part of ``log p(exp(z)) + z`` and its derivative in ``z``.

    The one written-out form of the positive priors' unconstrained densities, used by the
    closed-form fast paths (GP batched target, BNN posterior, compiled BNN NUTS target). Plain
    numpy on scalars or arrays (broadcasting ``a``, ``b``, ``z``), and numba-compilable as is
    (``numba.njit(unconstrained_terms)`` with an int ``kind`` and float scalars).

    Parameters
    ----------
    kind : int
        One of the kind codes (``HALF_NORMAL`` ... ``EXPONENTIAL``), see
        :attr:`PositivePrior.kind`.
    a, b : float or ndarray
        The prior's parameters in the order of :meth:`PositivePrior.unconstrained_args`.
    z : float or ndarray
        Log of the parameter.

    Returns
    -------
    f, df : float or ndarray
        ``log p(exp(z)) + z`` up to an additive constant (the prior's ``const`` of
        :meth:`PositivePrior.unconstrained_args`), and ``df/dz``.
    """
    if kind == HALF_NORMAL:  # a = sigma
        x_over_a_sq = np.exp(2.0 * z) / (a * a)
        return z - 0.5 * x_over_a_sq, 1.0 - x_over_a_sq
    if kind == HALF_CAUCHY:  # a = beta: log p + z = z - log1p((x / beta)^2) + const
        u = 2.0 * (z - np.log(a))
        softplus_u = np.maximum(u, 0.0) + np.log1p(np.exp(-np.abs(u)))
        sigmoid_u = 0.5 * (1.0 + np.tanh(0.5 * u))
        return z - softplus_u, 1.0 - 2.0 * sigmoid_u
    if kind == GAMMA:  # a = alpha, b = rate
        bx = b * np.exp(z)
        return a * z - bx, a - bx
    if kind == INVERSE_GAMMA:  # a = alpha, b = scale
        b_over_x = b * np.exp(-z)
        return -a * z - b_over_x, b_over_x - a
    if kind == LOG_NORMAL:  # a = mu, b = sigma: z ~ N(mu, sigma^2)
        u = (z - a) / (b * b)
        return -0.5 * (z - a) * u, -u
    # EXPONENTIAL, a = rate
    ax = a * np.exp(z)
    return z - ax, 1.0 - ax


class PositivePrior(Prior):
    """A prior on ``x > 0`` sampled as ``z = log x`` whose unconstrained density has the closed
    form :func:`unconstrained_terms` (value and gradient without autograd)."""

    support = "positive"
    kind: ClassVar[int]
    _term_params: ClassVar[tuple[str, ...]]

    def unconstrained_args(self, size: int | None = None) -> tuple[int, np.ndarray, ...]:
        """``(kind, a, b, const)`` for :func:`unconstrained_terms`: the parameters as float
        arrays (broadcast to ``(size,)`` if given) and the constant that makes
        ``const + f(z)`` equal :meth:`log_prob_unconstrained`."""
        names = (*self._term_params, self._term_params[-1])[:2]
        a, b = (np.asarray(getattr(self, name), dtype=float) for name in names)
        if size is not None:
            a, b = np.broadcast_to(a, (size,)), np.broadcast_to(b, (size,))
        zero = torch.zeros(() if size is None else (size,), dtype=torch.float64)
        with torch.no_grad():
            at_zero = self.log_prob_unconstrained(zero).numpy()
        f_zero, _ = unconstrained_terms(self.kind, a, b, np.zeros_like(at_zero))
        return self.kind, a, b, at_zero - f_zero

    def log_prob_unconstrained_and_grad(self, z) -> tuple[np.ndarray, np.ndarray]:
        """``log p(exp(z)) + z`` (as :meth:`log_prob_unconstrained`, in numpy) and its
        derivative in ``z``, elementwise, broadcasting ``z`` against ``batch_shape``."""
        kind, a, b, const = self.unconstrained_args()
        # Far out in z (a diverging trajectory) exp overflows: f = -inf is the right answer.
        with np.errstate(over="ignore", invalid="ignore"):
            f, df = unconstrained_terms(kind, a, b, np.asarray(z, dtype=float))
        return const + f, df + np.zeros_like(f)


@prior_spec
class HalfNormal(PositivePrior):
    """Half-normal prior on ``x >= 0`` with scale ``sigma``."""

    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)
    support = "positive"
    kind = HALF_NORMAL
    _term_params = ("sigma",)

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
class HalfCauchy(PositivePrior):
    """Half-Cauchy prior on ``x >= 0`` with scale ``beta`` (no mean or variance)."""

    beta: float | np.ndarray = 1.0
    _positive = ("beta",)
    support = "positive"
    kind = HALF_CAUCHY
    _term_params = ("beta",)

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
class Gamma(PositivePrior):
    """Gamma prior with shape ``alpha`` and rate ``beta`` (mean ``alpha / beta``)."""

    alpha: float | np.ndarray
    beta: float | np.ndarray
    _positive = ("alpha", "beta")
    support = "positive"
    kind = GAMMA
    _term_params = ("alpha", "beta")

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
class InverseGamma(PositivePrior):
    """Inverse-gamma prior with shape ``alpha`` and scale ``beta``: ``1/x ~ Gamma(alpha, beta)``."""

    alpha: float | np.ndarray
    beta: float | np.ndarray
    _positive = ("alpha", "beta")
    support = "positive"
    kind = INVERSE_GAMMA
    _term_params = ("alpha", "beta")

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
class LogNormal(PositivePrior):
    """Log-normal prior: ``log x ~ N(mu, sigma^2)``."""

    mu: float | np.ndarray = 0.0
    sigma: float | np.ndarray = 1.0
    _positive = ("sigma",)
    support = "positive"
    kind = LOG_NORMAL
    _term_params = ("mu", "sigma")

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
class Exponential(PositivePrior):
    """Exponential prior with rate ``lam`` (mean ``1 / lam``)."""

    lam: float | np.ndarray = 1.0
    _positive = ("lam",)
    support = "positive"
    kind = EXPONENTIAL
    _term_params = ("lam",)

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
