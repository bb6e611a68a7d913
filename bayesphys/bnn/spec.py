"""Validation of the BNN's constructor arguments and data preparation (standardisation, labels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesphys.core.likelihoods import Bernoulli, Categorical, Gaussian, Likelihood, StudentT
from bayesphys.core.priors import HalfNormal, Normal, Prior

REGRESSION = (Gaussian, StudentT)
CLASSIFICATION = (Bernoulli, Categorical)
#: What ``weight_prior=None`` and ``likelihood=None`` stand for. The constructor defaults are
#: None (scikit-learn accepts only immutable builtins as defaults), resolved here in ``fit``.
DEFAULT_WEIGHT_PRIOR = Normal(0.0, 1.0)
DEFAULT_LIKELIHOOD = Gaussian(noise=HalfNormal(1.0))


def check_weight_prior(weight_prior: object) -> Prior | str:
    """A scalar Prior with real support, or ``"hierarchical"`` (None: ``Normal(0, 1)``)."""
    if weight_prior is None:
        return DEFAULT_WEIGHT_PRIOR
    if isinstance(weight_prior, str):
        if weight_prior != "hierarchical":
            raise ValueError(
                f"weight_prior must be a Prior or 'hierarchical', got {weight_prior!r}"
            )
        return weight_prior
    if not isinstance(weight_prior, Prior):
        raise TypeError(
            "weight_prior must be a bayesphys.priors.Prior (e.g. Normal(0, 1)) or "
            f"'hierarchical', got {type(weight_prior).__name__}"
        )
    if weight_prior.support != "real" or weight_prior.batch_shape != ():
        raise ValueError(
            "weight_prior must be a scalar prior on the real line (Normal, Laplace, StudentT, "
            f"Cauchy, Horseshoe), got {weight_prior!r}"
        )
    return weight_prior


def check_likelihood(likelihood: object) -> Likelihood:
    """Gaussian/StudentT (regression) or Bernoulli/Categorical (classification).

    None is ``Gaussian(noise=HalfNormal(1.0))``.
    """
    if likelihood is None:
        return DEFAULT_LIKELIHOOD
    if not isinstance(likelihood, REGRESSION + CLASSIFICATION):
        raise TypeError(
            "likelihood must be Gaussian, StudentT, Bernoulli or Categorical from "
            f"bayesphys.likelihoods, got {likelihood!r}"
        )
    return likelihood


def check_noise_with_y_err(likelihood: Likelihood, y_err: np.ndarray | None) -> None:
    """A fixed noise of 0 leaves only ``y_err`` in the noise variance: it needs one.

    The closed-form density of the default model never reaches the core likelihood's own
    check, and a variance of 0 made the warm start diverge with a misleading message.
    """
    if y_err is not None or not isinstance(likelihood, REGRESSION):
        return
    fixed = likelihood.fixed_params
    key = "variance" if "variance" in fixed else "sigma"
    if key in fixed and float(fixed[key]) == 0.0:
        kind = type(likelihood).__name__
        raise ValueError(
            f"likelihood {kind}({'variance' if key == 'variance' else 'noise'}=0) leaves no "
            "noise: pass the measurement errors as fit(..., y_err=...), or give the likelihood "
            f"a noise > 0 or a prior (e.g. {kind}(noise=HalfNormal(1.0)))"
        )


@dataclass(frozen=True)
class Scaling:
    """Affine standardisation ``(v - mean) / scale`` of the inputs and of regression targets."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0

    def x(self, X: np.ndarray) -> np.ndarray:
        """Standardised inputs."""
        return (X - self.x_mean) / self.x_scale


#: Spread, in float64 roundings of a column's magnitude, up to which the column counts as
#: constant: values equal but for rounding (0.3 and 0.1 + 0.2) carry no information, and
#: dividing by their spread (~1e-17) made the last bit of an input a feature of unit scale.
_ROUNDING_SPREAD = 100 * np.finfo(np.float64).eps


def _scale(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    magnitude = np.max(np.abs(values), axis=0)
    # A constant column (or target) carries no scale; dividing by 1 keeps it finite.
    return np.where(std > _ROUNDING_SPREAD * magnitude, std, 1.0)


def prepare(X: np.ndarray, y: np.ndarray, likelihood: Likelihood):
    """Standardise X (and y for regression); encode class labels as ``0..K-1``.

    Returns
    -------
    scaling : Scaling
    y_fit : ndarray
        Standardised targets or label indices.
    classes : ndarray or None
        Sorted distinct labels (classification).
    n_out : int
        Network outputs: 1, or K for Categorical.
    """
    x_mean, x_scale = X.mean(axis=0), _scale(X)
    if isinstance(likelihood, REGRESSION):
        y_mean, y_scale = float(y.mean()), float(_scale(y))
        return Scaling(x_mean, x_scale, y_mean, y_scale), (y - y_mean) / y_scale, None, 1
    classes, index = np.unique(y, return_inverse=True)
    kind = type(likelihood).__name__
    if len(classes) < 2:
        raise ValueError(f"y must hold at least two classes for {kind}, got {classes.tolist()}")
    if isinstance(likelihood, Bernoulli) and len(classes) != 2:
        raise ValueError(
            f"y holds {len(classes)} classes but Bernoulli() is binary; use Categorical()"
        )
    n_out = 1 if isinstance(likelihood, Bernoulli) else len(classes)
    return Scaling(x_mean, x_scale), index.astype(np.int64), classes, n_out
