"""What a fitted linear model knows about ``f(x) = intercept + x coef`` and the noise.

Each inference path leaves one of these behind; ``predict`` and the posterior predictive only talk
to this interface: ``mean(X)`` and ``moments(X, include_noise)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesphys.linear.gaussian import GaussianPosterior, latent_variance


@dataclass(frozen=True)
class ClosedForm:
    """Exact Gaussian posterior at fixed noise, or Normal-Inverse-Gamma (``nig=(a_N, b_N)``)."""

    post: GaussianPosterior
    augmented: bool  # an intercept column (proper prior) was prepended to X
    noise_var: float | None  # fixed-noise model: sigma^2 (without y_err)
    nig: tuple[float, float] | None = None

    def design(self, X):
        return np.column_stack([np.ones(len(X)), X]) if self.augmented else X

    def mean(self, X):
        return self.post.intercept_mean() + self.design(X) @ self.post.mean

    def moments(self, X, include_noise):
        mean = self.mean(X)
        var = latent_variance(self.post, self.design(X))
        if self.nig is None:
            return mean, var + (self.noise_var if include_noise else 0.0)
        a_n, b_n = self.nig
        if a_n <= 1.0:
            raise ValueError("the predictive Student-t has no finite variance (a_N <= 1): add data")
        # Marginal over s2 ~ IG(a_N, b_N): E[s2] = b_N/(a_N - 1) multiplies the unit-noise variance.
        return mean, (var + (1.0 if include_noise else 0.0)) * b_n / (a_n - 1.0)


@dataclass(frozen=True)
class Draws:
    """Posterior draws: ``intercept (S,)``, ``coef (S, p)``, noise variance ``(S,)`` or scalar."""

    intercept: np.ndarray
    coef: np.ndarray
    noise_var: np.ndarray | float

    def latent(self, X):
        return self.intercept[:, None] + self.coef @ X.T

    def mean(self, X):
        return self.intercept.mean() + X @ self.coef.mean(axis=0)

    def moments(self, X, include_noise):
        f = self.latent(X)
        var = f.var(axis=0)
        if include_noise:
            if not np.all(np.isfinite(self.noise_var)):
                raise ValueError("the noise has infinite variance (Student-t with nu <= 2)")
            var = var + np.mean(self.noise_var)
        return f.mean(axis=0), var


@dataclass(frozen=True)
class PointEstimate:
    """A MAP fit: a point, with a Gaussian approximation of the posterior of ``f`` around it.

    ``closed_form``: a Normal coefficient prior, where the posterior at the noise mode is exact.
    ``cov``: otherwise the Laplace approximation, the covariance of ``[intercept, coef]``
    (``None`` where the log posterior has no positive curvature at the mode).
    """

    intercept: float
    coef: np.ndarray
    noise_var: float
    closed_form: ClosedForm | None = None
    cov: np.ndarray | None = None

    def mean(self, X):
        return self.intercept + X @ self.coef

    def moments(self, X, include_noise):
        mean = self.mean(X)
        if self.closed_form is not None:
            _, var = self.closed_form.moments(X, include_noise)
            return mean, var
        if self.cov is None:
            raise ValueError(
                "this MAP fit has no posterior covariance (the log posterior is not curved at "
                "the mode), so it has no std: fit with method='nuts' for uncertainties"
            )
        design = np.column_stack([np.ones(len(X)), X])
        var = np.einsum("ij,jk,ik->i", design, self.cov, design)
        if include_noise:
            var = var + self.noise_var
        return mean, var
