"""Sparse GP regression (SGPR): the collapsed bound of Titsias (2009), inducing inputs learned.

With inducing inputs ``Z`` (m points), ``P = Lm^{-1} K_mn`` (``Lm Lm^T = K_mm``) and
``D = diag(y_err^2 + noise^2)``, the bound is ``log N(y | mu, P^T P + D) - tr(D^{-1} (K_nn -
P^T P)) / 2``. It costs ``O(n m^2)``. The hyperparameters start from an exact MAP fit on a random
subset, ``Z`` from k-means centres or a random subset of the data; then L-BFGS-B maximises the
bound plus the log prior over both (``Z`` stays fixed with ``learn_inducing=False``, or when
``m >= n``, where ``Z = X`` makes the bound exact).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import SGPR
from bayesphys.gp.inducing import CrossKernel, inducing_cholesky, select_inducing
from bayesphys.gp.inference import optimizer
from bayesphys.gp.inference.map_objective import subset_map
from bayesphys.gp.inference.result import point_result
from bayesphys.gp.linalg import NotPositiveDefiniteError
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import InducingPredictor

__all__ = ["fit", "select_inducing", "train"]

# L-BFGS-B iterations of the joint search over inducing inputs and hyperparameters: on the test
# problem (n = 2000, m = 64) 50 gave 2.5 of the 2.75 nats that 200 gained over k-means.
DEFAULT_MAX_ITER = 100
# Points per chunk of the bound's sums: (m, CHUNK) temporaries of a few MB are recycled by the
# allocator, where (m, n) ones were mapped afresh (and page-faulted) at every evaluation.
CHUNK = 4096
# Points the joint search sees (at least 4 m): its cost is O(size m^2) per iteration.
INDUCING_SUBSET = 5000


def collapsed_bound(model: GPModel, cross: CrossKernel, std: dict, Z: torch.Tensor):
    """The bound in original y units and ``(Lm, mu, S_half)`` of the optimal ``q(v)``.

    ``v = Lm^{-1} u`` are whitened inducing values; the optimal ``q(v)`` has mean
    ``mu = B^{-1} P D^{-1} r`` and covariance ``B^{-1} = S_half^T S_half`` with
    ``B = I + P D^{-1} P^T``. Returns None when ``K_mm`` or ``B`` is numerically singular. The data
    enter through sums over points only, accumulated over chunks of ``CHUNK`` points.
    """
    Lm = inducing_cholesky(cross(std, Z, Z))
    if Lm is None:
        return None
    D = model.noise_var(std)[0]
    resid = model.r - model.mean_std(std, model.X)[0]
    eye = torch.eye(len(Z), dtype=Lm.dtype)
    B, Wr, trace = eye, 0.0, 0.0
    for chunk in _chunks(model.n):
        P = torch.linalg.solve_triangular(Lm, cross(std, Z, model.X[chunk]), upper=False)
        W = P / D[chunk]
        B = B + W @ P.T
        Wr = Wr + W @ resid[chunk]
        trace = trace + (W * P).sum()
    LB, info = torch.linalg.cholesky_ex(B)
    if bool(info):  # a noise so small that B = I + P D^-1 P^T overflows its precision
        return None
    c = torch.linalg.solve_triangular(LB, Wr[:, None], upper=False)[:, 0]
    n = model.n
    bound = (
        -0.5 * n * math.log(2 * math.pi)
        - torch.log(LB.diagonal()).sum()
        - 0.5 * torch.log(D).sum()
        - 0.5 * (resid**2 / D).sum()
        + 0.5 * (c**2).sum()
        - 0.5 * ((cross.diag(std, model.X) / D).sum() - trace)
    ) - n * math.log(model.space.y_scale)
    with torch.no_grad():
        mu = torch.linalg.solve_triangular(LB.T, c[:, None], upper=True)[:, 0]
        S_half = torch.linalg.solve_triangular(LB, eye, upper=False)
    return bound, (Lm, mu, S_half)


def _chunks(n: int) -> list[slice]:
    return [slice(start, min(n, start + CHUNK)) for start in range(0, n, CHUNK)]


class SGPRObjective:
    """``[z, vec(Z / x_scale)] -> (-(bound + log prior), gradient)`` by autograd, for L-BFGS-B.

    Inducing inputs are searched in units of each feature's spread, which keeps the problem
    well scaled whatever the units of X.
    """

    def __init__(self, model: GPModel, Z0: np.ndarray, learn_inducing: bool):
        self.model, self.Z0, self.learn = model, Z0, learn_inducing
        self.cross = CrossKernel(model)
        spread = model.X_np.std(axis=0)
        self.x_scale = np.where(spread > 0, spread, 1.0)

    def start(self, z0: np.ndarray) -> np.ndarray:
        """The flat starting vector from hyperparameters ``z0`` and the initial ``Z0``."""
        return np.concatenate([z0, (self.Z0 / self.x_scale).ravel()]) if self.learn else z0

    def split(self, flat: np.ndarray, *, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        dim = self.model.space.dim
        z = torch.tensor(flat[None, :dim], dtype=torch.float64, requires_grad=grad)
        if not self.learn:
            return z, torch.as_tensor(self.Z0)
        Zs = torch.tensor(flat[dim:].reshape(self.Z0.shape), requires_grad=grad)
        self._Zs = Zs
        return z, Zs * torch.as_tensor(self.x_scale)

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        z, Z = self.split(flat, grad=True)
        space = self.model.space
        out = collapsed_bound(self.model, self.cross, space.standardise(space.values(z)), Z)
        if out is None:
            return optimizer.INVALID_OBJECTIVE, np.zeros_like(flat)
        value = -(out[0] + space.log_prior(z, jacobian=False)[0])
        if not torch.isfinite(value):
            return optimizer.INVALID_OBJECTIVE, np.zeros_like(flat)
        inputs = [z, self._Zs] if self.learn else [z]
        grads = torch.autograd.grad(value, inputs, allow_unused=True)
        flat_grad = np.concatenate(
            [
                np.zeros(t.numel()) if g is None else g.reshape(-1).numpy()
                for g, t in zip(grads, inputs, strict=True)
            ]
        )
        if not np.all(np.isfinite(flat_grad)):
            return optimizer.INVALID_OBJECTIVE, np.zeros_like(flat)
        return float(value.detach()), flat_grad

    def result(self, flat: np.ndarray) -> InducingPredictor:
        """The fitted predictor at the optimum (its bound without the prior)."""
        z, Z = self.split(flat, grad=False)
        space = self.model.space
        with torch.no_grad():
            std = space.standardise(space.values(z))
            out = collapsed_bound(self.model, self.cross, std, Z)
        if out is None:
            raise NotPositiveDefiniteError(
                "the sparse GP's inducing-point covariance (or I + P D^-1 P^T) is numerically "
                "singular at the optimum: set a larger noise (or pass y_err), use fewer "
                "inducing points (n_inducing) or remove duplicate inputs"
            )
        return InducingPredictor(
            self.model, Z.detach().numpy().copy(), flat[: space.dim].copy(), float(out[0]), out[1]
        )


def initial_state(model: GPModel, rng: np.random.Generator, *, n_inducing, inducing, n_restarts):
    """Starting hyperparameters (exact MAP on a random subset) and inducing inputs."""
    z0 = subset_map(model, rng, n_restarts=n_restarts)
    return z0, select_inducing(model.X_np, n_inducing, inducing, rng)


def train(
    model: GPModel,
    rng: np.random.Generator,
    *,
    n_inducing: int,
    inducing: str,
    n_restarts: int,
    learn_inducing: bool = True,
    max_iter: int = DEFAULT_MAX_ITER,
) -> InducingPredictor:
    """Maximise the bound plus the log prior: inducing inputs, then the hyperparameters.

    Stage one searches the inducing inputs and hyperparameters together, on a random subset of
    ``INDUCING_SUBSET`` points when n is larger, for at most ``max_iter`` L-BFGS-B iterations
    (a budget: the bound is flat in many directions of ``Z`` and full convergence took
    thousands of evaluations for little gain). Stage two fits the hyperparameters on all the
    data with the inducing inputs fixed, to convergence.
    """
    z0, Z = initial_state(
        model, rng, n_inducing=n_inducing, inducing=inducing, n_restarts=n_restarts
    )
    bounds = [
        (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
        for lo, hi in model.space.bounds()
    ]
    if learn_inducing and n_inducing < model.n:
        size = max(INDUCING_SUBSET, 4 * n_inducing)
        sub = model
        if model.n > size:
            sub = model.subset(np.sort(rng.choice(model.n, size, replace=False)))
        joint = SGPRObjective(sub, Z, True)
        res = optimizer.lbfgsb(
            joint,
            joint.start(z0),
            bounds + [(None, None)] * Z.size,
            maxiter=max_iter,
            options=optimizer.map_options(sub.n),
            warn=False,
        )
        z0 = res.x[: model.space.dim]
        Z = res.x[model.space.dim :].reshape(Z.shape) * joint.x_scale
    objective = SGPRObjective(model, Z, False)
    if model.space.dim:
        z0 = optimizer.lbfgsb(
            objective, z0, bounds, maxiter=1000, options=optimizer.map_options(model.n)
        ).x
    return objective.result(z0)


def fit(model: GPModel, rng: np.random.Generator, method: SGPR) -> FitResult:
    """SGPR fit; ``extras`` hold ``z_hat`` and the ``InducingPredictor``, whose bound is the
    ``log_evidence``."""
    predictor = train(
        model,
        rng,
        n_inducing=method.n_inducing,
        inducing=method.inducing,
        n_restarts=method.n_restarts,
        learn_inducing=method.learn_inducing,
        max_iter=method.max_iter or DEFAULT_MAX_ITER,
    )
    return point_result(model, predictor.z, predictor, predictor.bound)
