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

from bayesphys.core.likelihoods.base import Likelihood, NoiseModel
from bayesphys.core.likelihoods.continuous import Gaussian, StudentT
from bayesphys.core.likelihoods.discrete import Bernoulli, Categorical, Poisson

__all__ = [
    "Bernoulli",
    "Categorical",
    "Gaussian",
    "Likelihood",
    "NoiseModel",
    "Poisson",
    "StudentT",
]
