"""From flat draws to predictions: latent and noise draws, prior draws, InferenceData dims."""

from __future__ import annotations

import numpy as np
import torch

from bayesphys.bnn.network import Network
from bayesphys.bnn.posterior import HYPERPRIOR
from bayesphys.bnn.spec import REGRESSION, Scaling
from bayesphys.core.likelihoods import Categorical, Likelihood
from bayesphys.core.priors import Prior
from bayesphys.core.schema import FEATURE_DIM, OBS_DIM

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


def unit_dims(net: Network, classes: np.ndarray | None) -> tuple[list[str], dict]:
    """Names of the unit dimensions, input to output, and their coordinates.

    The inputs are the shared ``feature`` dimension (named after the features by the schema),
    hidden layer ``k`` is ``hidden{k}``, the output is ``class`` for Categorical (coordinates
    ``classes_``) and ``output`` otherwise.
    """
    hidden = [f"hidden{k}" for k in range(len(net.hidden))]
    out = "class" if net.n_out > 1 else "output"
    coords = {name: np.arange(width) for name, width in zip(hidden, net.hidden, strict=True)}
    coords[out] = np.arange(net.n_out) if classes is None or net.n_out == 1 else classes
    return [FEATURE_DIM, *hidden, out], coords


def posterior_dims(net: Network, classes: np.ndarray | None) -> tuple[dict, dict]:
    """Dims and coords of the weights: ``W{l}`` on (units in, units out), ``b{l}`` on units out.

    Hyper- and noise parameters (``tau_*``, ``sigma``, ``nu``) are scalars per draw.
    """
    units, coords = unit_dims(net, classes)
    dims = {}
    for layer in range(len(units) - 1):
        dims[f"W{layer}"] = [units[layer], units[layer + 1]]
        dims[f"b{layer}"] = [units[layer + 1]]
    return dims, coords


def latent_dims(f: np.ndarray, net: Network, classes: np.ndarray | None):
    """Dims and coords of predictive ``y`` and latent ``f`` (``f`` has ``class`` if K > 1)."""
    units, coords = unit_dims(net, classes)
    if f.ndim == 4:
        return {"y": [OBS_DIM], "f": [OBS_DIM, units[-1]]}, {units[-1]: coords[units[-1]]}
    return {"y": [OBS_DIM], "f": [OBS_DIM]}, {}


def prior_draws(
    net: Network,
    weight_prior: Prior | str,
    likelihood: Likelihood,
    draws: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draws of every parameter from its prior: named arrays ``(1, draws, ...)`` and the flat
    weights ``(1, draws, n_params)`` that :func:`latent_draws` evaluates.

    Weights are on the standardised scale of the network (as in the posterior); hierarchical
    precisions ``tau_*`` come from the Gamma hyperprior and the weights of their group from
    ``N(0, 1/tau)``; noise parameters from their priors, in the units of y.
    """
    out, taus = {}, {}
    for name, shape in net.groups:
        if isinstance(weight_prior, str):  # "hierarchical"
            tau = HYPERPRIOR.sample(draws, rng)
            taus[f"tau_{name}"] = tau
            scale = 1.0 / np.sqrt(tau).reshape(draws, *(1,) * len(shape))
            out[name] = scale * rng.standard_normal((draws, *shape))
        else:
            out[name] = weight_prior.sample((draws, *shape), rng)
    flat = np.concatenate([out[name].reshape(draws, -1) for name, _ in net.groups], axis=1)
    out.update(taus)
    for name, prior in likelihood.free_params.items():
        out[name] = prior.sample(draws, rng)
    return {k: v[None] for k, v in out.items()}, flat[None]
