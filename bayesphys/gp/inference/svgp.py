"""Stochastic variational GP (SVGP; Hensman, Fusi & Lawrence 2013) trained on minibatches.

The inducing values are whitened, ``v = Lm^{-1} u`` with prior ``N(0, I)``, and
``q(v) = N(mu, Lambda^{-1})``. For a minibatch ``B`` of ``b`` of the ``n`` points the ELBO
estimate is ``(n / b) sum_{i in B} E_q[log N(y_i | f_i, D_i)] - KL(q || p)``: the likelihood
sum is scaled up, the KL term enters once, so that its average over the batches of an epoch is
the full-data ELBO. Each step takes a natural-gradient step on ``q`` (for a Gaussian likelihood
it moves the natural parameters a fraction ``gamma`` of the way to the batch's optimum,
Salimbeni, Eleftheriadis & Hensman 2018) and an Adam step on the hyperparameters and inducing
inputs. A last natural-gradient step of size one over all the data (in chunks, ``O(n m^2)``)
sets ``q`` to its optimum for the final hyperparameters, removing the minibatch noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import SVGP as SVGPSettings
from bayesphys.core.interrupts import warn_interrupted
from bayesphys.core.progress import progress_bar
from bayesphys.gp.inducing import CrossKernel, inducing_cholesky
from bayesphys.gp.inference.result import point_result
from bayesphys.gp.inference.sgpr import initial_state
from bayesphys.gp.model import GPModel
from bayesphys.gp.predictors import InducingPredictor

# Defaults chosen at n = 5000 (m = 128) of the benchmark data: 1000 steps of 512 points at
# learning rate 0.02 matched 2000 steps of 1024 at 0.01 (test RMSE 0.0158 against 0.0156, ELBO
# per point 0.8185 against 0.8195) in a quarter of the time.
DEFAULT_STEPS = 1000
DEFAULT_BATCH = 512
DEFAULT_LEARNING_RATE = 0.02
# Natural-gradient step on q(v) with minibatches (a full batch takes the exact step, 1).
NGD_STEP = 0.1
# Points per chunk in full-data passes (bounds the (m, chunk) temporaries).
CHUNK = 8192
# The learning rate stays constant for this fraction of the steps, then falls linearly to 10%:
# a smaller final step leaves less minibatch noise in the hyperparameters.
CONSTANT_FRACTION = 0.5


def _eye(m: int) -> torch.Tensor:
    return torch.eye(m, dtype=torch.float64)


class SVGP:
    """Parameters of an SVGP fit and its (minibatch) ELBO.

    Parameters
    ----------
    model : GPModel
    z0 : ndarray (dim,)
        Initial unconstrained hyperparameters.
    Z0 : ndarray (m, p)
        Initial inducing inputs.
    learn_inducing : bool
    """

    def __init__(self, model: GPModel, z0: np.ndarray, Z0: np.ndarray, learn_inducing: bool):
        self.model, self.cross = model, CrossKernel(model)
        # Inducing inputs are optimised in units of each feature's spread, so that one learning
        # rate suits every feature.
        self.x_scale = torch.as_tensor(np.where(model.X_np.std(0) > 0, model.X_np.std(0), 1.0))
        self.z = torch.tensor(z0[None], dtype=torch.float64, requires_grad=True)
        self.Zs = torch.tensor(Z0 / self.x_scale.numpy(), requires_grad=learn_inducing)
        self._Z_fixed = None if learn_inducing else torch.as_tensor(Z0)  # exact, not rescaled
        m = len(Z0)
        self.eta = torch.zeros(m, dtype=torch.float64)  # Lambda mu
        self.Lam = torch.eye(m, dtype=torch.float64)  # precision of q(v)

    @property
    def Z(self) -> torch.Tensor:
        return self.Zs * self.x_scale if self._Z_fixed is None else self._Z_fixed

    def parameters(self) -> list[torch.Tensor]:
        return [t for t in (self.z, self.Zs) if t.requires_grad and t.numel()]

    def _std(self):
        space = self.model.space
        return space.standardise(space.values(self.z))

    def _inducing_factor(self, std) -> torch.Tensor:
        Lm = inducing_cholesky(self.cross(std, self.Z, self.Z))
        if Lm is None:
            raise np.linalg.LinAlgError("the inducing-point covariance is numerically singular")
        return Lm

    def _q(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``mu``, ``S_half`` (``S = S_half^T S_half``) and ``log det S`` of ``q(v)``."""
        with torch.no_grad():
            L_lam = torch.linalg.cholesky(self.Lam)
            S_half = torch.linalg.solve_triangular(L_lam, _eye(len(self.Lam)), upper=False)
            mu = torch.cholesky_solve(self.eta[:, None], L_lam)[:, 0]
        return mu, S_half, -2.0 * torch.log(L_lam.diagonal()).sum()

    def _batch_terms(self, std, Lm, idx):
        """``A = Lm^{-1} K_mb``, noise variances and residuals of the points ``idx``."""
        model = self.model
        X = model.X[idx]
        A = torch.linalg.solve_triangular(Lm, self.cross(std, self.Z, X), upper=False)
        D = model.noise_var(std)[0, idx]
        resid = model.r[idx] - model.mean_std(std, X)[0]
        return X, A, D, resid

    def _expected_loglik(self, std, q, X, A, D, resid) -> torch.Tensor:
        mu, S_half, _ = q
        fvar = self.cross.diag(std, X) - (A**2).sum(0) + ((S_half @ A) ** 2).sum(0)
        return (
            -0.5 * torch.log(2 * math.pi * D) - 0.5 * ((resid - A.T @ mu) ** 2 + fvar) / D
        ).sum()

    def _kl(self, q) -> torch.Tensor:
        mu, S_half, log_det = q
        return 0.5 * ((S_half**2).sum() + mu @ mu - len(mu) - log_det)

    def _chunks(self) -> list[np.ndarray]:
        n = self.model.n
        return np.array_split(np.arange(n), max(1, -(-n // CHUNK)))

    def elbo(self, idx: np.ndarray | None = None) -> torch.Tensor:
        """ELBO estimate from the points ``idx`` (all points if None), original y units.

        The expected log-likelihood of the batch is scaled by ``n / len(idx)``; the KL term of
        ``q`` from the prior enters once.
        """
        std = self._std()
        Lm, q = self._inducing_factor(std), self._q()
        chunks = self._chunks() if idx is None else [idx]
        ell = sum(
            self._expected_loglik(std, q, *self._batch_terms(std, Lm, chunk)) for chunk in chunks
        )
        return self._scaled(ell, sum(len(c) for c in chunks), q)

    def _scaled(self, ell, batch: int, q) -> torch.Tensor:
        n = self.model.n
        return (n / batch) * ell - self._kl(q) - n * math.log(self.model.space.y_scale)

    def step(self, idx: np.ndarray, gamma: float) -> torch.Tensor:
        """Minibatch ELBO (for the Adam step) and a natural-gradient step on ``q``.

        Both use the same kernel evaluations: the ELBO at the current ``q``, then ``q`` moves
        towards the batch optimum for the current hyperparameters.
        """
        std = self._std()
        Lm = self._inducing_factor(std)
        X, A, D, resid = self._batch_terms(std, Lm, idx)
        q = self._q()
        elbo = self._scaled(self._expected_loglik(std, q, X, A, D, resid), len(idx), q)
        with torch.no_grad():
            W = A / D
            self._natural_update(W @ A.T, W @ resid, self.model.n / len(idx), gamma)
        return elbo

    def _natural_update(self, prec, lin, scale: float, gamma: float) -> None:
        target = _eye(len(self.eta)) + scale * prec
        # One assignment, so that an interrupt leaves a consistent pair.
        self.eta, self.Lam = (
            (1 - gamma) * self.eta + gamma * scale * lin,
            (1 - gamma) * self.Lam + gamma * target,
        )

    @torch.no_grad()
    def natural_step(self, idx: np.ndarray | None, gamma: float) -> None:
        """Move q's natural parameters ``gamma`` of the way to the optimum for batch ``idx``."""
        std = self._std()
        Lm = self._inducing_factor(std)
        chunks = self._chunks() if idx is None else [idx]
        m = len(self.eta)
        prec, lin = torch.zeros(m, m, dtype=torch.float64), torch.zeros(m, dtype=torch.float64)
        for chunk in chunks:
            _, A, D, resid = self._batch_terms(std, Lm, chunk)
            W = A / D
            prec += W @ A.T
            lin += W @ resid
        self._natural_update(prec, lin, self.model.n / sum(len(c) for c in chunks), gamma)

    def predictor(self, bound: float) -> InducingPredictor:
        """An :class:`InducingPredictor` of the current state."""
        with torch.no_grad():
            Lm = self._inducing_factor(self._std())
        mu, S_half, _ = self._q()
        z = self.z.detach()[0].numpy().copy()
        return InducingPredictor(
            self.model, self.Z.detach().numpy().copy(), z, bound, (Lm, mu, S_half)
        )


def train_steps(
    svgp: SVGP,
    rng: np.random.Generator,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    progressbar: bool,
) -> int:
    """Minibatch training; returns the number of steps done (fewer after Ctrl-C, which
    re-raises ``KeyboardInterrupt`` before the first step is done)."""
    model = svgp.model
    n = model.n
    full = batch_size >= n
    gamma = 1.0 if full else NGD_STEP
    params = svgp.parameters()
    optimiser = torch.optim.Adam(params, lr=learning_rate) if params else None
    order, pos = rng.permutation(n), 0
    done = 0
    bar = progress_bar(steps, "SVGP", disable=not progressbar)
    try:
        for step in range(steps):
            if pos + batch_size > n:  # a new epoch: reshuffle
                order, pos = rng.permutation(n), 0
            idx = np.sort(order[pos : pos + batch_size])
            pos += batch_size
            elbo = svgp.step(idx, gamma)
            if optimiser is not None:
                frac = max(0.0, (step / steps - CONSTANT_FRACTION) / (1 - CONSTANT_FRACTION))
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate * (1.0 - 0.9 * frac)
                optimiser.zero_grad()
                loss = -(elbo + model.space.log_prior(svgp.z, jacobian=False)[0]) / n
                loss.backward()
                optimiser.step()
            if step % 50 == 0:
                bar.set_postfix(elbo_per_point=f"{elbo.item() / n:.4f}", refresh=False)
            done = step + 1
            bar.update(1)
    except KeyboardInterrupt:
        if done == 0:
            raise  # still the initial state: nothing to keep
    finally:
        bar.close()
    return done


def train_from_start(
    model: GPModel,
    rng: np.random.Generator,
    *,
    n_inducing: int,
    inducing: str,
    n_restarts: int,
    learn_inducing: bool = True,
    steps: int = DEFAULT_STEPS,
    batch_size: int = DEFAULT_BATCH,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    progressbar: bool = False,
) -> tuple[InducingPredictor, str | None]:
    """Initialise (subset MAP, k-means, optimal q), train on minibatches, set q optimal.

    Returns the predictor and ``None``, or, if Ctrl-C stopped the training, how far it got
    (the state then is that after the completed steps, with ``q(u)`` set to its optimum for
    the current hyperparameters). Ctrl-C before the first step re-raises ``KeyboardInterrupt``.
    """
    z0, Z0 = initial_state(
        model, rng, n_inducing=n_inducing, inducing=inducing, n_restarts=n_restarts
    )
    svgp = SVGP(model, z0, Z0, learn_inducing and n_inducing < model.n)
    svgp.natural_step(None, 1.0)
    done = train_steps(
        svgp,
        rng,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        progressbar=progressbar,
    )
    svgp.natural_step(None, 1.0)
    with torch.no_grad():
        bound = float(svgp.elbo())
    progress = None if done == steps else f"the state after {done} of {steps} steps"
    return svgp.predictor(bound), progress


def fit(
    model: GPModel, rng: np.random.Generator, method: SVGPSettings, *, progressbar: bool
) -> FitResult:
    """SVGP fit; ``extras`` hold ``z_hat`` and the ``InducingPredictor``, whose ELBO is the
    ``log_evidence``. Ctrl-C keeps the state after the completed steps, marked."""
    predictor, progress = train_from_start(
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
    if progress is not None:
        # stacklevel: the user's call of GPRegression.fit
        warn_interrupted("GPRegression.fit (SVGP training)", progress, stacklevel=4)
    return point_result(model, predictor.z, predictor, predictor.bound, progress)
