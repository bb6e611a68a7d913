"""The three fitting methods, each returning an :class:`Outcome`, and the fit's InferenceData."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bayesphys.core import results
from bayesphys.gp import _fit, _sparse
from bayesphys.gp._exact import loo_log_predictive
from bayesphys.gp._model import GPModel
from bayesphys.gp._params import HyperSpace
from bayesphys.gp._predict import Predictor

# LOO densities are computed for this many (draws x n x n) float64 numbers at a time.
MAX_BATCH_ELEMENTS = 20_000_000


@dataclasses.dataclass
class Outcome:
    """What a fit produced: point hyperparameters, predictor, draws and their statistics."""

    z_hat: np.ndarray  # unconstrained point estimate (MAP, or posterior medians)
    predictor: object  # Predictor or SparseGP
    posterior: dict  # original-unit values, (chain, draw[, size])
    log_marginal: float
    sample_stats: dict | None = None
    log_likelihood: np.ndarray | None = None


def fit_map(model: GPModel, rng: np.random.Generator, *, n_restarts: int) -> Outcome:
    """Type-II MAP of the exact GP."""
    space = model.space
    z_hat, _ = _fit.maximise(
        lambda z: model.log_marginal(z, safe=True)[0] + space.log_prior(z, jacobian=False),
        space,
        n_restarts=n_restarts,
        rng=rng,
    )
    return Outcome(
        z_hat, Predictor(model, z_hat[None, :]), _point(space, z_hat), _exact_lml(model, z_hat)
    )


def fit_sparse(model, rng, *, n_restarts: int, n_inducing: int, inducing: str) -> Outcome:
    """SGPR: MAP hyperparameters on the collapsed bound."""
    sparse = _sparse.fit_sparse(
        model, rng, n_inducing=n_inducing, inducing=inducing, n_restarts=n_restarts
    )
    return Outcome(sparse.z, sparse, _point(model.space, sparse.z), sparse.bound)


def fit_nuts(
    model: GPModel,
    rng: np.random.Generator,
    *,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    progressbar: bool,
    max_predict_draws: int,
) -> Outcome:
    """HMC over the unconstrained hyperparameters (log density with its Jacobian)."""
    space = model.space
    flat = [p.name for p in space.free if p.prior is None]
    if flat:
        raise ValueError(
            f"method='nuts' needs proper priors; {flat} have flat (None) priors: give them "
            "priors, or use method='map'"
        )
    if space.dim == 0:
        raise ValueError("method='nuts' needs at least one free hyperparameter; all are fixed")

    def log_prob(z):
        return model.log_marginal(z, safe=True)[0] + space.log_prior(z, jacobian=True)

    # Chains start around the mode of the unconstrained density, so tuning starts in the bulk.
    z_mode, _ = _fit.maximise(log_prob, space, n_restarts=0, rng=rng)
    result = _fit.run_hmc(
        log_prob,
        z_mode,
        chains=chains,
        draws=draws,
        tune=tune,
        seed=int(rng.integers(2**31 - 1)),
        target_accept=target_accept,
        progressbar=progressbar,
    )
    z = result.samples.detach().numpy()
    posterior = values(space, z)
    idata = result.to_inference_data()
    stats = {k: idata.sample_stats[k].values for k in idata.sample_stats.data_vars}
    flat_z = z.reshape(-1, z.shape[-1])
    step = max(1, -(-len(flat_z) // max_predict_draws))  # ceil: at most max_predict_draws
    medians = {k: np.median(v.reshape(-1, *v.shape[2:]), axis=0) for k, v in posterior.items()}
    z_hat = space.pack(medians)
    return Outcome(
        z_hat,
        Predictor(model, flat_z[::step]),
        posterior,
        _exact_lml(model, z_hat),
        sample_stats=stats,
        log_likelihood=loo_pointwise(model, z),
    )


def _exact_lml(model: GPModel, z_hat: np.ndarray) -> float:
    with torch.no_grad():
        lml, _, _ = model.log_marginal(torch.as_tensor(z_hat[None, :]), safe=False)
    return float(lml[0])


def loo_pointwise(model: GPModel, z: np.ndarray) -> np.ndarray:
    """``log p(y_i | y_-i, theta)`` per draw, in original units, shaped (chain, draw, n)."""
    flat = z.reshape(-1, z.shape[-1])
    out = []
    chunk = max(1, MAX_BATCH_ELEMENTS // max(model.n**2, 1))
    with torch.no_grad():
        for start in range(0, len(flat), chunk):
            batch = torch.as_tensor(flat[start : start + chunk])
            _, L, alpha = model.log_marginal(batch, safe=False)
            out.append(loo_log_predictive(L, alpha).numpy())
    log_lik = np.concatenate(out) - np.log(model.space.y_scale)
    return log_lik.reshape(*z.shape[:2], model.n)


def values(space: HyperSpace, z: np.ndarray) -> dict[str, np.ndarray]:
    """Original-unit values of every hyperparameter, shaped ``(chain, draw[, size])``."""
    chains, draws, dim = z.shape
    with torch.no_grad():
        vals = space.values(torch.as_tensor(z.reshape(chains * draws, dim)))
    out = {}
    for p in space.params:
        v = vals[p.name].numpy().reshape(chains, draws, p.size)
        out[p.name] = v[..., 0] if p.size == 1 else v
    return out


def _point(space: HyperSpace, z_hat: np.ndarray) -> dict[str, np.ndarray]:
    return values(space, z_hat[None, None, :])


def point_values(space: HyperSpace, z_hat: np.ndarray) -> dict:
    """``hyperparameters_``: floats for scalars, arrays for per-feature values."""
    return {
        k: (float(v[0, 0]) if v.ndim == 2 else v[0, 0].copy())
        for k, v in _point(space, z_hat).items()
    }


def build_idata(outcome: Outcome, y, y_err, method: str, n_features: int):
    """The fit's InferenceData: hyperparameters, observed y, known errors, HMC statistics."""
    posterior = outcome.posterior
    dims = {k: ["feature"] for k, v in posterior.items() if v.ndim == 3}
    dims["y"] = ["obs"]
    coords = {"obs": np.arange(len(y))}
    if len(dims) > 1:
        coords["feature"] = [f"x{j}" for j in range(n_features)]
    log_lik = outcome.log_likelihood
    return results.to_inference_data(
        posterior,
        sample_stats=outcome.sample_stats,
        log_likelihood=None if log_lik is None else {"y": log_lik},
        observed_data={"y": y},
        constant_data=None if y_err is None else {"y_err": y_err},
        coords=coords,
        dims=dims,
        attrs={"inference_method": method, "model": "GPRegression"},
    )
