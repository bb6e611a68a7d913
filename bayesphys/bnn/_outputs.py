"""From flat draws to predictions and InferenceData: latent draws, noise draws, idata groups."""

from __future__ import annotations

import numpy as np
import torch

from bayesphys.bnn._network import Network
from bayesphys.bnn._spec import REGRESSION, Scaling
from bayesphys.core import results
from bayesphys.core.likelihoods import Categorical, Likelihood

# Draws evaluated per forward call when predicting: bounds the hidden activations held at once.
_CHUNK = 256


def latent_draws(
    net: Network, theta: np.ndarray, X: np.ndarray, scaling: Scaling, likelihood: Likelihood
) -> np.ndarray:
    """Latent ``f`` for every draw at raw inputs ``X``: ``(chain, draw, n[, K])``.

    Regression outputs are returned in the units of y; classification outputs are logits.
    """
    chains, n_draws, dim = theta.shape
    flat = torch.as_tensor(theta.reshape(-1, dim))
    x = torch.as_tensor(scaling.x(X))
    with torch.no_grad():
        out = torch.cat([net.forward(chunk, x) for chunk in torch.split(flat, _CHUNK)])
    f = out.numpy()
    f = f if isinstance(likelihood, Categorical) else f[..., 0]
    if isinstance(likelihood, REGRESSION):
        f = scaling.y_mean + scaling.y_scale * f
    return f.reshape(chains, n_draws, *f.shape[1:])


def noise_draws(likelihood: Likelihood, posterior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Likelihood parameters per draw, ``(chain, draw, 1)`` to broadcast over points."""
    return {name: posterior[name][..., None] for name in likelihood.free_params}


def noise_variance(likelihood: Likelihood, params: dict[str, np.ndarray]) -> np.ndarray:
    """Variance of the observation noise per draw (without ``y_err``), in the units of y**2."""
    spec = {**likelihood.fixed_params, **params}
    var = spec["variance"] if "variance" in spec else np.square(spec["sigma"])
    if "nu" in spec:
        nu = np.asarray(spec["nu"], dtype=np.float64)
        # A Student-t with nu <= 2 has infinite variance; report it rather than hide it.
        var = np.where(nu > 2, var * nu / np.maximum(nu - 2.0, 1e-300), np.inf)
    return np.asarray(var, dtype=np.float64)


def probabilities(likelihood: Likelihood, f: np.ndarray) -> np.ndarray:
    """Class probabilities ``(..., n, K)`` from logits (``K = 2`` for Bernoulli)."""
    if isinstance(likelihood, Categorical):
        z = f - f.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    p1 = 0.5 * (1.0 + np.tanh(0.5 * f))  # numerically stable sigmoid
    return np.stack([1.0 - p1, p1], axis=-1)


def build_idata(
    *,
    posterior: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    log_lik: np.ndarray,
    y_observed: np.ndarray,
    y_rep: np.ndarray,
    y_err: np.ndarray | None,
    attrs: dict[str, object],
):
    """InferenceData with posterior, sample_stats, log_likelihood, posterior_predictive, data."""
    dims: dict[str, list[str]] = {"y": ["obs"]}
    for name, value in posterior.items():
        if value.ndim > 2:
            dims[name] = [f"{name}_dim_{k}" for k in range(value.ndim - 2)]
    return results.to_inference_data(
        posterior,
        sample_stats=stats,
        log_likelihood={"y": log_lik},
        posterior_predictive={"y": y_rep},
        observed_data={"y": y_observed},
        constant_data=None if y_err is None else {"y_err": y_err},
        coords={"obs": np.arange(len(y_observed))},
        dims=dims,
        attrs=attrs,
    )
