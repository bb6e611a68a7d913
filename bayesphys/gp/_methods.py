"""The four fitting methods, each returning an :class:`Outcome`, and the fit's InferenceData."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bayesphys.core.inference import MAP, NUTS, SGPR, SVGP
from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted
from bayesphys.core.schema import FEATURE_DIM, fit_inference_data
from bayesphys.gp import _fit, _nuts, _sparse, _svgp
from bayesphys.gp._dense import DenseObjective, subset_start
from bayesphys.gp._model import GPModel
from bayesphys.gp._params import HyperSpace
from bayesphys.gp._predict import Predictor

# L-BFGS-B iterations of each MAP search when ``MAP.max_iter`` is None.
DEFAULT_MAP_MAX_ITER = 1000


@dataclasses.dataclass
class Outcome:
    """What a fit produced: point hyperparameters, predictor, draws and their statistics."""

    z_hat: np.ndarray  # unconstrained point estimate (MAP, or posterior medians)
    predictor: object  # Predictor or InducingPredictor
    posterior: dict  # original-unit values, (chain, draw[, size])
    log_marginal: float
    sample_stats: dict | None = None
    log_likelihood: np.ndarray | None = None
    posterior_predictive: np.ndarray | None = None
    draws_z: np.ndarray | None = None  # unconstrained draws (chain, draw, dim) of NUTS
    progress: str | None = None  # None if complete, else how far Ctrl-C let the fit get

    @property
    def interrupted(self) -> bool:
        """The fit was stopped by Ctrl-C and keeps what it completed (marked)."""
        return self.progress is not None


def fit_map(model: GPModel, rng: np.random.Generator, method: MAP) -> Outcome:
    """Type-II MAP of the exact GP (LAPACK objective with analytic gradient, L-BFGS-B)."""
    space = model.space
    max_iter = method.max_iter or DEFAULT_MAP_MAX_ITER
    start, n_restarts = subset_start(model, rng, n_restarts=method.n_restarts, max_iter=max_iter)
    z_hat, _ = _fit.maximise(
        None,
        space,
        objective=DenseObjective(model),
        n_restarts=n_restarts,
        rng=rng,
        maxiter=max_iter,
        start=start,
        options=_fit.map_options(model.n),
    )
    return Outcome(
        z_hat, Predictor(model, z_hat[None, :]), _point(space, z_hat), _exact_lml(model, z_hat)
    )


def fit_sgpr(model: GPModel, rng: np.random.Generator, method: SGPR) -> Outcome:
    """SGPR: the collapsed bound of Titsias (2009) by L-BFGS-B (see :mod:`._sparse`)."""
    predictor = _sparse.fit_sgpr(
        model,
        rng,
        n_inducing=method.n_inducing,
        inducing=method.inducing,
        n_restarts=method.n_restarts,
        learn_inducing=method.learn_inducing,
        max_iter=method.max_iter or _sparse.DEFAULT_MAX_ITER,
    )
    return _sparse_outcome(model, predictor)


def fit_svgp(
    model: GPModel, rng: np.random.Generator, method: SVGP, *, progressbar: bool
) -> Outcome:
    """SVGP: the minibatch ELBO of Hensman et al. (2013) (see :mod:`._svgp`)."""
    predictor, progress = _svgp.fit_svgp(
        model,
        rng,
        n_inducing=method.n_inducing,
        inducing=method.inducing,
        n_restarts=method.n_restarts,
        learn_inducing=method.learn_inducing,
        steps=method.steps,
        batch_size=method.batch_size,
        learning_rate=method.learning_rate,
        progressbar=progressbar,
    )
    outcome = _sparse_outcome(model, predictor)
    if progress is not None:
        outcome.progress = progress
        # stacklevel: the user's call of GPRegression.fit
        warn_interrupted("GPRegression.fit (SVGP training)", progress, stacklevel=4)
    return outcome


def _sparse_outcome(model: GPModel, predictor) -> Outcome:
    return Outcome(predictor.z, predictor, _point(model.space, predictor.z), predictor.bound)


def fit_nuts(
    model: GPModel,
    rng: np.random.Generator,
    method: NUTS,
    *,
    max_predict_draws: int,
    **environment,
) -> Outcome:
    """NUTS over the unconstrained hyperparameters (log density with its Jacobian).

    ``environment`` (progressbar, chain_threads, client, num_threads) goes to
    :func:`bayesphys.gp._nuts.sample_hyperparameters`.
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
    result = _nuts.sample_hyperparameters(
        model,
        rng,
        chains=method.chains,
        draws=method.draws,
        tune=method.tune,
        target_accept=method.target_accept,
        max_treedepth=method.max_treedepth,
        chain_groups=method.chain_groups,
        **environment,
    )
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
        posterior_predictive=result.posterior_predictive,
        draws_z=z,
        progress=result.progress,
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


def feature_dims(parameters: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Vector hyperparameters (ARD lengthscales, linear-mean coefficients) are per feature."""
    return {k: [FEATURE_DIM] for k, v in parameters.items() if np.ndim(v) == 3}


def build_idata(outcome: Outcome, X, y, y_err, method: str, feature_names: list[str]):
    """The fit's InferenceData in the shared schema (:mod:`bayesphys.core.schema`)."""
    return fit_inference_data(
        outcome.posterior,
        X=X,
        y=y,
        y_err=y_err,
        feature_names=feature_names,
        method=method,
        model="GPRegression",
        sample_stats=outcome.sample_stats,
        log_likelihood=outcome.log_likelihood,
        posterior_predictive=outcome.posterior_predictive,
        dims=feature_dims(outcome.posterior),
        attrs=interrupted_attrs(outcome.progress),
    )
