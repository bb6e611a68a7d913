"""The three fitting methods, each returning an :class:`Outcome`, and the fit's InferenceData."""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
import torch

from bayesphys.core import results
from bayesphys.core.validation import check_choice, check_positive_int
from bayesphys.gp import _fit, _nuts, _sparse, _svgp
from bayesphys.gp._dense import DenseObjective, subset_start
from bayesphys.gp._inducing import INDUCING_INITS
from bayesphys.gp._model import GPModel
from bayesphys.gp._params import HyperSpace
from bayesphys.gp._predict import Predictor

SPARSE_METHODS = ("sgpr", "svgp")


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
    """Type-II MAP of the exact GP (LAPACK objective with analytic gradient, L-BFGS-B)."""
    space = model.space
    start, n_restarts = subset_start(model, rng, n_restarts=n_restarts)
    z_hat, _ = _fit.maximise(
        None,
        space,
        objective=DenseObjective(model),
        n_restarts=n_restarts,
        rng=rng,
        start=start,
        options=_fit.map_options(model.n),
    )
    return Outcome(
        z_hat, Predictor(model, z_hat[None, :]), _point(space, z_hat), _exact_lml(model, z_hat)
    )


def sparse_options(
    sparse: str,
    *,
    n_inducing,
    inducing,
    learn_inducing,
    max_iter,
    batch_size,
    learning_rate,
    progressbar,
) -> dict:
    """Check the ``method="sparse"`` arguments; the keywords of the chosen fitting function."""
    check_choice(sparse, "sparse", SPARSE_METHODS)
    options = {
        "n_inducing": check_positive_int(n_inducing, "n_inducing"),
        "inducing": check_choice(inducing, "inducing", INDUCING_INITS),
        "learn_inducing": bool(learn_inducing),
    }
    if max_iter is not None:
        max_iter = check_positive_int(max_iter, "max_iter")
    if sparse == "sgpr":
        options["max_iter"] = max_iter or _sparse.DEFAULT_MAX_ITER
        return options
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(f"learning_rate must be a number, got {type(learning_rate).__name__}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate}")
    options.update(
        steps=max_iter or _svgp.DEFAULT_STEPS,
        batch_size=check_positive_int(batch_size, "batch_size"),
        learning_rate=float(learning_rate),
        progressbar=bool(progressbar),
    )
    return options


def fit_sparse(model: GPModel, rng: np.random.Generator, *, sparse: str, **options) -> Outcome:
    """SGPR (``sparse="sgpr"``) or SVGP (``"svgp"``); ``options`` go to the fitting function."""
    fit = _sparse.fit_sgpr if sparse == "sgpr" else _svgp.fit_svgp
    predictor = fit(model, rng, **options)
    return Outcome(predictor.z, predictor, _point(model.space, predictor.z), predictor.bound)


def fit_nuts(
    model: GPModel, rng: np.random.Generator, *, max_predict_draws: int, **sampling
) -> Outcome:
    """NUTS over the unconstrained hyperparameters (log density with its Jacobian).

    ``sampling`` goes to :func:`bayesphys.gp._nuts.sample_hyperparameters`.
    """
    space = model.space
    flat = [p.name for p in space.free if p.prior is None]
    if flat:
        raise ValueError(
            f"method='nuts' needs proper priors; {flat} have flat (None) priors: give them "
            "priors, or use method='map'"
        )
    if space.dim == 0:
        raise ValueError("method='nuts' needs at least one free hyperparameter; all are fixed")
    result = _nuts.sample_hyperparameters(model, rng, **sampling)
    z = result.z
    posterior = values(space, z)
    flat_z = z.reshape(-1, z.shape[-1])
    step = max(1, -(-len(flat_z) // max_predict_draws))  # ceil: at most max_predict_draws
    medians = {k: np.median(v.reshape(-1, *v.shape[2:]), axis=0) for k, v in posterior.items()}
    z_hat = space.pack(medians)
    return Outcome(
        z_hat,
        Predictor(model, flat_z[::step]),
        posterior,
        _exact_lml(model, z_hat),
        sample_stats=result.stats,
        log_likelihood=result.log_likelihood,
    )


def _exact_lml(model: GPModel, z_hat: np.ndarray) -> float:
    # Through the model's cache: the factorisation is reused by the first prediction.
    return model.point_log_marginal(z_hat)


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
