"""Draws of new observations at new inputs: from the fitted GP, or from the prior.

Both return draws of the latent ``f`` and of ``y = f + noise`` (plus known errors ``y_err``) in
original units. A draw of ``f`` is joint over the inputs (one factorisation of its ``m x m``
covariance per hyperparameter value), unlike the marginal replicates at the training inputs
that a NUTS fit stores (see :mod:`bayesphys.gp.inference.nuts_target`).
"""

from __future__ import annotations

import numpy as np
import torch

from bayesphys.gp.linalg import psd_factor
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import MAX_BATCH_ELEMENTS, InducingPredictor, Predictor


def _standardised_moments(predictor, z: np.ndarray, X: np.ndarray):
    """Latent mean ``(b, m)``, covariance ``(b, m, m)`` and noise variance ``(b,)`` per row of
    ``z`` (standardised units); an inducing-point predictor has one row, its own."""
    if isinstance(predictor, InducingPredictor):
        mean, cov, noise = predictor._predict_std(X, full_cov=True)
        yield mean[None], cov[None], np.array([noise])
        return
    model: GPModel = predictor.model
    size = max(1, MAX_BATCH_ELEMENTS // max(model.n**2, len(X) ** 2, 1))
    for start in range(0, len(z), size):
        yield model.predict_std(z[start : start + size], X, full_cov=True)


def posterior_draws(
    predictor: Predictor | InducingPredictor,
    z: np.ndarray,
    X: np.ndarray,
    y_err: np.ndarray | None,
    per_row: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``per_row`` joint draws of ``f`` and ``y`` at ``X`` for each hyperparameter row of ``z``.

    Returns
    -------
    f, y : ndarray (rows, per_row, m)
        Original units; ``y`` adds the learned noise and ``y_err`` to ``f``.
    """
    model: GPModel = predictor.model
    m = len(X)
    base, _ = model.to_original(X, np.zeros(m), np.zeros(m))
    s = model.space.y_scale
    err2 = 0.0 if y_err is None else y_err**2
    fs, ys = [], []
    for mean, cov, noise in _standardised_moments(predictor, z, X):
        for b in range(len(mean)):
            A = psd_factor(cov[b])
            f = base + s * (mean[b] + (A @ rng.standard_normal((m, per_row))).T)
            sd = np.sqrt(s**2 * noise[b] + err2)
            fs.append(f)
            ys.append(f + sd * rng.standard_normal((per_row, m)))
    return np.stack(fs), np.stack(ys)


def prior_draws(
    model: GPModel,
    X: np.ndarray,
    y_err: np.ndarray | None,
    draws: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Hyperparameters from their priors, ``f`` from the GP prior at ``X``, ``y = f + noise``.

    Fixed hyperparameters keep their values. The priors are those of the fit (the defaults are
    scaled to its training data).

    Returns
    -------
    values : dict of str to ndarray (draws, size)
        Original units.
    f, y : ndarray (draws, m)

    Raises
    ------
    ValueError
        If a hyperparameter has a flat (``None``) prior: it is improper, nothing to draw from.
    """
    space = model.space
    flat = [p.name for p in space.free if p.prior is None]
    if flat:
        raise ValueError(
            f"sample_prior_predictive needs a proper prior on every hyperparameter; {flat} "
            "have flat (None) priors, which are improper: give them priors or fixed values"
        )
    values = {}
    for p in space.params:
        if p.fixed:
            v = np.asarray(p.prior.value, dtype=np.float64)
        else:
            v = p.sample_prior(draws, rng)
        values[p.name] = np.broadcast_to(v, (draws, p.size)).copy()
    m = len(X)
    Xt = torch.as_tensor(X)
    base, _ = model.to_original(X, np.zeros(m), np.zeros(m))
    s = model.space.y_scale
    f = np.empty((draws, m))
    size = max(1, MAX_BATCH_ELEMENTS // max(m * m, 1))
    with torch.no_grad():
        for start in range(0, draws, size):
            chunk = slice(start, min(draws, start + size))
            std = space.standardise({k: torch.as_tensor(v[chunk]) for k, v in values.items()})
            K = model.kernel(std, Xt).numpy()
            mean = model.mean_std(std, Xt).numpy()
            for i, row in enumerate(range(chunk.start, chunk.stop)):
                f[row] = mean[i] + psd_factor(K[i]) @ rng.standard_normal(m)
    f = base + s * f
    err2 = 0.0 if y_err is None else y_err**2
    sd = np.sqrt(values["noise"] ** 2 + err2)  # (draws, 1) + (m,)
    return values, f, f + sd * rng.standard_normal((draws, m))
