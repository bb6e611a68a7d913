"""The NUTS target of a small exact GP in closed form, all chains of a lockstep batch at once.

At small n one evaluation of :class:`~bayesphys.gp.inference.map_objective.DenseObjective` is
almost all fixed cost: a row-by-row LAPACK loop and an autograd pass over the parameter maps
and priors, two orders of magnitude more than the arithmetic at n = 11.
Here the common case (one RBF or Matérn kernel with its outputscale, Gaussian noise, zero or
callable mean, every free hyperparameter positive with a log transform and a prior with a
closed form, :class:`~bayesphys.core.priors.positive.PositivePrior`) is evaluated for the whole
batch in a few array operations: one batched Cholesky factorisation and inverse, and the
closed-form gradient

``d log p(y | theta) / d theta = tr((alpha alpha^T - K^{-1}) dK/dtheta) / 2``

with the priors' log densities of ``z = log theta`` differentiated by hand. Anything else, and
any row whose covariance needs jitter, goes to ``DenseObjective`` (the reference path).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesphys.core.priors.positive import PositivePrior, unconstrained_terms
from bayesphys.core.transforms import Exp
from bayesphys.gp.model import GPModel
from bayesphys.gp.stationary import MIN_LOG_CORRELATION, fast_term

# Above this size a batch has one chain (nuts.SEPARATE_CHAINS_MIN_N) and the n x n x p array of
# squared coordinate differences grows: the row-by-row LAPACK path is as fast there.
MAX_POINTS = 200
ELIGIBLE_KINDS = ("outputscale", "lengthscale", "noise")


def _block_terms(prior: PositivePrior, size: int):
    """``(const, f, df)`` of a block's prior on ``z = log theta``: the core closed form
    (:func:`~bayesphys.core.priors.positive.unconstrained_terms`), parameters broadcast to the
    block, constant equal to the prior's own ``log_prob_unconstrained``."""
    kind, a, b, const = prior.unconstrained_args(size)
    return (
        const,
        lambda z: unconstrained_terms(kind, a, b, z)[0],
        lambda z: unconstrained_terms(kind, a, b, z)[1],
    )


class BatchedEvidence:
    """``z (batch, dim) -> (log p(z | y), gradient, LOO statistics)`` for eligible models.

    Build it with :meth:`build`, which returns None for a model outside the closed form.
    :meth:`evaluate` returns, like ``DenseObjective.evaluate`` with ``jacobian=True``, the log
    density of ``z`` (original y units), its gradient and per row ``(alpha, diag(K^{-1}))``
    in standardised units, and the rows that the caller must evaluate on the reference path
    (covariance not positive definite without jitter).
    """

    def __init__(self, model: GPModel, label: str, blocks: list):
        self.model, self.label, self.blocks = model, label, blocks
        space = model.space
        X = model.X_np - model.X_np.mean(axis=0)
        # (p, n, n): the squared coordinate differences of every feature (small n only).
        diff = X.T[:, :, None] - X.T[:, None, :]
        self.sq_diff = np.ascontiguousarray(diff**2)
        self.r = model.r.numpy()
        self.err2 = None if model.err2 is None else model.err2.numpy()
        self.y_scale = space.y_scale
        self.constant = -0.5 * model.n * math.log(2 * math.pi) - model.n * math.log(self.y_scale)
        self.evaluations = 0

    @classmethod
    def build(cls, model: GPModel) -> BatchedEvidence | None:
        """The closed-form target of ``model``, or None where it does not apply."""
        term = fast_term(model.kernel, model.X_np)
        if term is None or model.n > MAX_POINTS:
            return None
        blocks, offset = [], 0
        for p in model.space.params:
            if p.kind not in ELIGIBLE_KINDS:
                return None
            if p.fixed:
                fixed = np.broadcast_to(np.asarray(p.prior.value, float), (p.size,))
                blocks.append((p, None, fixed, None, None))
                continue
            if not isinstance(p.prior, PositivePrior) or not isinstance(p.transform, Exp):
                return None
            const, f, df = _block_terms(p.prior, p.size)
            blocks.append((p, slice(offset, offset + p.size), const, f, df))
            offset += p.size
        return cls(model, term.label, blocks)

    def _correlation(self, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``k(r)`` and the gradient weights ``w(r) = -k'(r) / r`` from ``r^2``."""
        if self.label == "rbf":
            k = np.exp(np.maximum(-0.5 * r2, MIN_LOG_CORRELATION))
            return k, k
        r = np.sqrt(r2)
        if self.label == "matern12":
            k = np.exp(-r)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(r > 0, k / r, 0.0)
            return k, w
        c = math.sqrt(3.0) if self.label == "matern32" else math.sqrt(5.0)
        e = np.exp(-c * r)
        if self.label == "matern32":
            return (1.0 + c * r) * e, 3.0 * e
        poly = 1.0 + c * r
        return (poly + (5.0 / 3.0) * r2) * e, (5.0 / 3.0) * poly * e

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
        """Log densities ``(b,)``, gradients ``(b, dim)``, LOO statistics per row (None where
        invalid) and the mask of rows left to the reference path (their other outputs are
        meaningless)."""
        self.evaluations += len(z)
        b, s = len(z), self.y_scale
        values = np.zeros(b)
        grads = np.zeros_like(z)
        theta = {}
        for p, block, const, f, df in self.blocks:
            if block is None:
                theta[p.kind] = np.broadcast_to(const, (b, p.size))
                continue
            zb = z[:, block]
            theta[p.kind] = np.exp(zb)
            values += (const + f(zb)).sum(-1)
            grads[:, block] += df(zb)
        outputscale = theta["outputscale"][:, 0] / s**2  # standardised units
        lengthscale = theta["lengthscale"]  # (b, 1) or (b, p)
        noise_var = (theta["noise"][:, 0] / s) ** 2
        inv_sq = np.broadcast_to(1.0 / lengthscale**2, (b, self.sq_diff.shape[0]))
        r2 = np.einsum("bd,dij->bij", inv_sq, self.sq_diff)
        k, w = self._correlation(r2)
        K = outputscale[:, None, None] * k
        diag = np.einsum("bii->bi", K)
        diag += noise_var[:, None]
        if self.err2 is not None:
            diag += self.err2
        L, info = torch.linalg.cholesky_ex(torch.from_numpy(K))
        ok = (info == 0).numpy()
        if not ok.all():  # an identity in place of a failed factor keeps the batch finite
            eye = torch.eye(K.shape[-1], dtype=L.dtype)
            L = torch.where(torch.from_numpy(ok)[:, None, None], L, eye)
        r = torch.from_numpy(np.broadcast_to(self.r, (b, len(self.r))).copy())
        alpha = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1).numpy()
        K_inv = torch.cholesky_inverse(L).numpy()
        with np.errstate(invalid="ignore", divide="ignore"):  # failed rows: reference path
            log_det = 2.0 * np.log(np.einsum("bii->bi", L.numpy())).sum(-1)
        lml = -0.5 * np.einsum("bi,bi->b", alpha, self.r[None, :]) - 0.5 * log_det
        values += lml + self.constant
        # G = alpha alpha^T - K^{-1}; d lml / d(entry of K) weighted by dK/dtheta, halved.
        G = alpha[:, :, None] * alpha[:, None, :] - K_inv
        g_outputscale = 0.5 * np.einsum("bij,bij->b", G, k)
        g_noise_var = 0.5 * np.einsum("bii->b", G)
        per_feature = np.einsum("bij,dij->bd", G * w, self.sq_diff)
        g_lengthscale = 0.5 * outputscale[:, None] * per_feature / lengthscale**3
        if lengthscale.shape[1] == 1:
            g_lengthscale = g_lengthscale.sum(-1, keepdims=True)
        # Chain rule to z = log theta (original units): d theta_std / dz = theta_std.
        for p, block, _, _, _ in self.blocks:
            if block is None:
                continue
            if p.kind == "outputscale":
                grads[:, block] += (g_outputscale * outputscale)[:, None]
            elif p.kind == "lengthscale":
                grads[:, block] += g_lengthscale * lengthscale
            else:  # noise: the variance is exp(2 z) / s^2
                grads[:, block] += (2.0 * g_noise_var * noise_var)[:, None]
        bad = ~(np.isfinite(values) & np.isfinite(grads).all(axis=1))
        values[bad], grads[bad] = -np.inf, 0.0
        inv_diag = np.einsum("bii->bi", K_inv)
        loo = [None if bad[i] else (alpha[i].copy(), inv_diag[i].copy()) for i in range(b)]
        return values, grads, loo, ~ok
