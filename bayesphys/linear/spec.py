"""The linear model as a spec: priors + likelihood, and which closed forms it admits."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bayesphys.core.likelihoods import Gaussian, Likelihood, StudentT
from bayesphys.core.priors import HalfNormal, InverseGamma, Normal, Prior
from bayesphys.core.validation import check_bool

#: Constructor default of ``coef_prior`` and ``noise``: a string, so that the default is an
#: immutable value as scikit-learn requires; it stands for the priors below.
DEFAULT_NOISE = HalfNormal(1.0)
DEFAULT_COEF_PRIOR = Normal(0.0, 10.0)


@dataclass(frozen=True)
class LinearModelSpec:
    coef_prior: Prior
    intercept_prior: Prior | None
    fit_intercept: bool
    likelihood: Likelihood
    coef_prior_scaled_by_noise: bool

    @property
    def flat_intercept(self) -> bool:
        return self.fit_intercept and self.intercept_prior is None

    @property
    def augmented(self) -> bool:
        """The intercept is a design column with a proper prior."""
        return self.fit_intercept and self.intercept_prior is not None

    @property
    def noise_kind(self) -> str:
        if isinstance(self.likelihood, Gaussian):
            return self.likelihood.noise_kind
        return "studentt"

    def check_data(self, n_features: int, y_err, *, noise: bool = True) -> None:
        """Raise if the priors (or, with ``noise``, the noise) do not fit the data."""
        for name, prior in (
            ("coef_prior", self.coef_prior),
            ("intercept_prior", self.intercept_prior),
        ):
            shape = () if prior is None else prior.batch_shape
            allowed = ((), (1,)) if name == "intercept_prior" else ((), (1,), (n_features,))
            if shape not in allowed:
                raise ValueError(
                    f"{name} has parameter shape {shape}; use scalars or one value per feature "
                    f"({n_features},)"
                )
        if not noise:
            return
        fixed = self.likelihood.fixed_params
        zero_noise = fixed.get("sigma", fixed.get("variance", 1.0)) == 0.0
        if zero_noise and y_err is None:
            raise ValueError("noise=0 puts all the scatter in y_err: pass y_err, or a noise > 0")

    def conjugacy(self, y_err) -> str | None:
        """``"fixed"`` or ``"nig"`` when a closed form exists, else ``None``."""
        normal_priors = isinstance(self.coef_prior, Normal) and (
            self.intercept_prior is None or isinstance(self.intercept_prior, Normal)
        )
        if not normal_priors:
            return None
        if self.noise_kind == "fixed":
            return "fixed"
        if (
            self.noise_kind == "variance"
            and isinstance(self.likelihood.free_params["variance"], InverseGamma)
            and self.coef_prior_scaled_by_noise
            and y_err is None
        ):
            return "nig"
        return None

    def why_not_conjugate(self, y_err) -> str:
        if not isinstance(self.coef_prior, Normal):
            return f"coef_prior is {type(self.coef_prior).__name__}, not Normal"
        if self.intercept_prior is not None and not isinstance(self.intercept_prior, Normal):
            return "intercept_prior is not Normal"
        if self.noise_kind == "studentt":
            return "the likelihood is Student-t"
        if self.noise_kind == "sigma":
            return (
                "the noise has a prior on sigma; closed forms need a fixed noise or "
                "likelihood=Gaussian(variance=InverseGamma(a, b)) with "
                "coef_prior_scaled_by_noise=True"
            )
        if y_err is not None:
            return "y_err with an unknown noise variance has no conjugate form"
        return "the Normal-Inverse-Gamma form needs coef_prior_scaled_by_noise=True"

    def prior_arrays(self, p: int, noise_var: float | None):
        """Prior means and precisions of the (possibly augmented) coefficient vector.

        For NIG (``noise_var=None`` with scaling) precisions are per unit noise variance.
        """
        prior: Normal = self.coef_prior
        mean = np.broadcast_to(np.asarray(prior.mu, float), (p,)).astype(float)
        var = np.broadcast_to(np.asarray(prior.sigma, float) ** 2, (p,)).astype(float)
        if self.augmented:
            ip: Normal = self.intercept_prior
            mean = np.concatenate([[float(ip.mu)], mean])
            var = np.concatenate([[float(ip.sigma) ** 2], var])
        if self.coef_prior_scaled_by_noise and noise_var is not None:
            var = var * noise_var
        return mean, 1.0 / var


def resolve_spec(coef_prior, noise, fit_intercept, intercept_prior, likelihood, scaled):
    """Validate the constructor arguments and build the spec."""
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    scaled = check_bool(scaled, "coef_prior_scaled_by_noise")
    if coef_prior is None:
        coef_prior = DEFAULT_COEF_PRIOR
    if not isinstance(coef_prior, Prior):
        raise TypeError(
            "coef_prior must be a bayesphys Prior or None (the default Normal(0, 10)), "
            f"got {type(coef_prior).__name__}"
        )
    if intercept_prior is not None and not isinstance(intercept_prior, Prior):
        raise TypeError("intercept_prior must be a Prior or None (flat)")
    if likelihood is not None:
        if not isinstance(likelihood, Gaussian | StudentT):
            raise TypeError(
                "likelihood must be Gaussian or StudentT for linear regression, "
                f"got {type(likelihood).__name__}"
            )
        if noise is not None:
            raise ValueError("give the noise inside likelihood=..., not both noise and likelihood")
    elif noise is None:
        likelihood = Gaussian(noise=DEFAULT_NOISE)
    elif isinstance(noise, Prior):
        likelihood = Gaussian(noise=noise)
    elif isinstance(noise, numbers.Real) and not isinstance(noise, bool | np.bool_):
        likelihood = Gaussian(noise=float(noise))
    else:
        raise TypeError(
            "noise must be a float (fixed sigma), a Prior on sigma or None (the default "
            f"HalfNormal(1)), got {noise!r}"
        )
    if scaled and not isinstance(coef_prior, Normal):
        raise ValueError("coef_prior_scaled_by_noise=True needs a Normal coef_prior")
    if scaled and fit_intercept and not isinstance(intercept_prior, Normal | None):
        # The Normal-Inverse-Gamma model scales every weight's prior by the noise; only a
        # Normal has a scale that means the same in every backend.
        raise ValueError(
            "coef_prior_scaled_by_noise=True scales the intercept prior by the noise too, which "
            f"needs a Normal intercept_prior (or None, flat); got {intercept_prior!r}"
        )
    return LinearModelSpec(coef_prior, intercept_prior, fit_intercept, likelihood, scaled)


def noise_variance(lik, params):
    """Variance of the observation noise (Student-t: sigma^2 nu/(nu-2), inf for nu <= 2)."""
    values = {**lik.fixed_params, **params}
    var = values["variance"] if "variance" in values else values["sigma"] ** 2
    if "nu" in values:
        nu = values["nu"]
        var = np.where(nu > 2, var * nu / np.maximum(nu - 2, 1e-300), np.inf)
    return var
