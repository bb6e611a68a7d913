"""The predictors of a fitted GP: exact (one hyperparameter value, or mixed over posterior
draws) and sparse (from the inducing inputs' ``q(u)`` of SGPR and SVGP)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import blas, lapack

from bayesphys.gp.inducing import CrossKernel
from bayesphys.gp.linalg import psd_factor
from bayesphys.gp.model import GPModel
from bayesphys.gp.stationary import StationaryTerm, fast_term

# Hyperparameter draws per batch of predictions: bounds the (draws, n, n) temporaries.
MAX_BATCH_ELEMENTS = 20_000_000


class Predictor:
    """Mixture of GP predictives over the rows of ``z`` (one row: a plain GP)."""

    def __init__(self, model: GPModel, z: np.ndarray):
        self.model = model
        self.z = np.ascontiguousarray(z, dtype=np.float64)
        self._term: StationaryTerm | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_term"] = None  # rebuilt on demand: it holds an n x n work array
        return state

    def _batches(self):
        n = self.model.n
        size = max(1, MAX_BATCH_ELEMENTS // max(n * n, 1))
        for start in range(0, len(self.z), size):
            yield self.z[start : start + size]

    def moments(self, X: np.ndarray, *, full_cov: bool, include_noise: bool):
        """Mixture mean ``(m,)`` and variance ``(m,)`` or covariance ``(m, m)``, original units."""
        means, second, noise_sum = [], 0.0, 0.0
        fast = None if full_cov or len(self.z) == 1 else self._lapack_moments(X)
        batches = (self.model.predict_std(z, X, full_cov=full_cov) for z in self._batches())
        for mean, var, noise in batches if fast is None else [fast]:
            means.append(mean)
            outer = np.einsum("bi,bj->ij", mean, mean) if full_cov else (mean**2).sum(0)
            second = second + var.sum(0) + outer
            noise_sum += noise.sum()
        means = np.concatenate(means)
        S = len(means)
        mix_mean = means.mean(0)
        # Law of total variance: E[var] + E[mean^2] - E[mean]^2.
        if full_cov:
            cov = second / S - np.outer(mix_mean, mix_mean)
            cov = 0.5 * (cov + cov.T)
            if include_noise:
                cov = cov + np.eye(len(X)) * noise_sum / S
        else:
            cov = np.maximum(second / S - mix_mean**2, 0.0)
            if include_noise:
                cov = cov + noise_sum / S
        return self.model.to_original(X, mix_mean, cov)

    def _lapack_moments(self, X: np.ndarray) -> tuple | None:
        """Standardised means and variances ``(draws, m)`` and noise variances, draw by draw.

        For a mixture over NUTS draws with one RBF or Matérn kernel: LAPACK's Cholesky and a
        triangular solve per draw, and closed-form cross-covariances: several times faster than
        the batched torch path, whose GPyTorch exp and triangular solve are the slow parts
        (timings in benchmarks/README.md). None when there is
        no such kernel or a covariance needs jitter: the batched path then warns or raises.
        """
        model = self.model
        term = getattr(self, "_term", None)  # absent from predictors pickled before it
        if term is None:
            term = self._term = fast_term(model.kernel, model.X_np)
        if term is None:
            return None
        with torch.no_grad():
            std = model.space.standardise(model.space.values(torch.as_tensor(self.z)))
            noise = model.noise_var(std).numpy()
            resid = (model.r - model.mean_std(std, model.X)).numpy()
            shift = model.mean_std(std, torch.as_tensor(X)).numpy()
            means, variances = np.empty((2, len(self.z), len(X)))
            for i, (ls, os) in enumerate(
                zip(std["lengthscale"], std["outputscale"][:, 0].tolist(), strict=True)
            ):
                A = term.correlation(ls)[0].mul(os).numpy()
                A[np.diag_indices_from(A)] += noise[i]
                # Symmetric and C-ordered: its transpose is the same matrix in Fortran order.
                c, info = lapack.dpotrf(A.T, lower=1, clean=0, overwrite_a=1)
                if info != 0:
                    return None
                alpha, _ = lapack.dpotrs(c, resid[i], lower=1)
                cross = term.cross(ls, X, os)  # (n, m), C-ordered
                means[i] = alpha @ cross + shift[i]
                # V^T = cross^T L^{-T} from the right, on the Fortran-ordered transpose: no copy.
                vt = blas.dtrsm(1.0, c, cross.T, side=1, lower=1, trans_a=1)
                variances[i] = np.maximum(os - np.einsum("ij,ij->i", vt, vt), 0.0)
        return means, variances, (std["noise"] ** 2).numpy()[:, 0]

    def sample(self, X: np.ndarray, n: int, rng: np.random.Generator, *, include_noise: bool):
        """``n`` joint draws at ``X``, shape ``(m, n)``; each uses a random hyperparameter row."""
        rows = rng.integers(len(self.z), size=n)
        out = np.empty((len(X), n))
        for row in np.unique(rows):
            cols = np.flatnonzero(rows == row)
            mean, cov, noise = self.model.predict_std(self.z[row : row + 1], X, full_cov=True)
            cov = cov[0] + (noise[0] if include_noise else 0.0) * np.eye(len(X))
            # The latent covariance on a dense grid is singular to rounding: a factor without
            # jitter, as for sample_posterior_predictive (the jittered Cholesky warned to "remove
            # duplicate inputs", which had nothing to do with it).
            eps = rng.standard_normal((len(X), len(cols)))
            draws = mean[0][:, None] + psd_factor(cov) @ eps
            s = self.model.space.y_scale
            base, _ = self.model.to_original(X, np.zeros(len(X)), np.zeros(len(X)))
            out[:, cols] = base[:, None] + s * draws
        return out


class InducingPredictor:
    """Predictions of a sparse GP from ``q(v) = N(mu, S_half^T S_half)`` at inducing inputs ``Z``.

    For a test point with ``a = Lm^{-1} k_m(x)``: mean ``a^T mu`` and variance
    ``k(x, x) - a^T a + |S_half a|^2`` (standardised units).
    """

    def __init__(self, model: GPModel, Z: np.ndarray, z: np.ndarray, bound: float, state):
        self.model, self.Z, self.z, self.bound = model, Z, z, bound
        self.Lm, self.mu, self.S_half = (t.detach() for t in state)

    def _predict_std(self, X: np.ndarray, *, full_cov: bool):
        model = self.model
        cross = CrossKernel(model)
        with torch.no_grad():
            std = model.space.standardise(model.space.values(torch.as_tensor(self.z[None, :])))
            Xt = torch.as_tensor(X)
            A = torch.linalg.solve_triangular(
                self.Lm, cross(std, torch.as_tensor(self.Z), Xt), upper=False
            )
            SA = self.S_half @ A
            mean = A.T @ self.mu + model.mean_std(std, Xt)[0]
            if full_cov:
                cov = cross(std, Xt, Xt) - A.T @ A + SA.T @ SA
            else:
                cov = (cross.diag(std, Xt) - (A**2).sum(0) + (SA**2).sum(0)).clamp_min(0.0)
        return mean.numpy(), cov.numpy(), float(std["noise"][0, 0] ** 2)

    def moments(self, X: np.ndarray, *, full_cov: bool, include_noise: bool):
        """Predictive mean and variance (or covariance) in original units."""
        mean, cov, noise = self._predict_std(X, full_cov=full_cov)
        if include_noise:
            cov = cov + (noise * np.eye(len(X)) if full_cov else noise)
        return self.model.to_original(X, mean, cov)

    def sample(self, X: np.ndarray, n: int, rng: np.random.Generator, *, include_noise: bool):
        """``n`` joint draws at ``X``, shape ``(m, n)``."""
        mean, cov = self.moments(X, full_cov=True, include_noise=include_noise)
        return mean[:, None] + psd_factor(cov) @ rng.standard_normal((len(X), n))
