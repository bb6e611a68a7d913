"""A GP bound to its data: mean function, standardisation and the exact (batched) evidence."""

from __future__ import annotations

import numpy as np
import torch

from bayesphys.core.validation import check_array
from bayesphys.gp import linalg
from bayesphys.gp.hyperparameters import HyperSpace, build_params
from bayesphys.gp.kernels import CompiledKernel

MEAN_NAMES = ("zero", "constant", "linear")
# Cholesky factors kept between predict calls: at most this many float64 numbers (160 MB).
MAX_CACHED = 20_000_000


def physics_mean(mean, X: np.ndarray, name: str = "mean(X)") -> np.ndarray:
    """Evaluate a callable mean and check that it gives one finite value per row."""
    try:
        values = mean(X)
    except (IndexError, KeyError, TypeError, AttributeError) as err:
        # The usual cause: a callable written for the DataFrame passed to fit (mean=lambda df:
        # df["Z"]) fails on the array it gets, with an error that does not say why.
        raise TypeError(
            f"{name} raised {type(err).__name__}: {err}. A callable mean receives X as a float "
            f"ndarray of shape (n, {X.shape[1]}) with the columns in the order given to fit "
            "(feature_names_in_ names them), not a DataFrame: index by position, e.g. X[:, 0]"
        ) from err
    out = check_array(values, name)
    if out.shape != (X.shape[0],):
        raise ValueError(f"{name} must return shape ({X.shape[0]},), got {out.shape}")
    return out


class GPModel:
    """Kernel, hyperparameter space and standardised data of one fit."""

    def __init__(self, kernel: CompiledKernel, mean, priors, noise, X, y, y_err):
        self.kernel, self.mean = kernel, mean
        self.X_np = X
        self.X = torch.as_tensor(X)
        r = y - physics_mean(mean, X) if callable(mean) else y
        # A zero-mean GP means zero: centring the targets would change the model. With a learned
        # constant or linear mean, centring only moves the starting point.
        shift = float(np.mean(r)) if mean in ("constant", "linear") else 0.0
        scale = float(np.sqrt(np.mean((r - shift) ** 2)))
        # Constant targets (to rounding) have nothing to standardise. The test is relative to
        # the targets' own size: an absolute floor (it was 1e-12) left strain-like data
        # (y ~ 1e-21) in raw units, where the default priors and bounds could not reach them and
        # the fit predicted 0 with sds 1e7 times too large, silently.
        if not scale > 1e-12 * abs(shift):
            scale = 1.0
        x_scale = X.std(axis=0)
        x_scale = np.where(x_scale > 0, x_scale, 1.0)
        scales = {
            "x_scale": x_scale,
            "x_mean": X.mean(axis=0),
            "x_sq": float(np.mean(np.sum(X**2, axis=1))) or 1.0,
            "y_scale": scale,
            "y_shift": shift,
        }
        params = build_params(kernel, "zero" if callable(mean) else mean, priors, noise, scales)
        self.space = HyperSpace(params, scale, shift)
        self.r = torch.as_tensor((r - shift) / scale)
        self.err2 = None if y_err is None else torch.as_tensor((y_err / scale) ** 2)
        self.n = len(y)
        self._cache: dict = {}

    # ----------------------------------------------------------------------- building blocks
    def mean_std(self, std: dict, X: torch.Tensor) -> torch.Tensor:
        """Standardised mean ``(batch, m)`` at ``X``."""
        batch = std["noise"].shape[0]
        if "mean_constant" in std:
            return std["mean_constant"].expand(batch, X.shape[0])
        if "mean_intercept" in std:
            return std["mean_intercept"] + std["mean_coef"] @ X.T
        return torch.zeros(batch, X.shape[0], dtype=X.dtype)

    def noise_var(self, std: dict) -> torch.Tensor:
        """Diagonal noise ``(batch, n)``: known errors plus the learned noise."""
        var = std["noise"] ** 2
        return var.expand(-1, self.n) + (0.0 if self.err2 is None else self.err2)

    def train_cov(self, std: dict) -> torch.Tensor:
        K = self.kernel(std, self.X)
        return K + torch.diag_embed(self.noise_var(std))

    def log_marginal(self, z: torch.Tensor, *, safe: bool) -> tuple[torch.Tensor, ...]:
        """Log marginal likelihood in original y units ``(batch,)`` with ``L`` and ``alpha``.

        ``safe``: a non-positive-definite matrix gives ``-inf`` instead of an error.
        """
        std = self.space.standardise(self.space.values(z))
        K = self.train_cov(std)
        resid = self.r - self.mean_std(std, self.X)
        with torch.no_grad():
            if safe:
                L, ok = linalg.cholesky_or_none(K)
            else:
                L, ok = linalg.cholesky(K, context=self._context()), None
            alpha = linalg.solve(L, resid)
        lml = linalg.log_marginal(K, resid, L) - self.n * np.log(self.space.y_scale)
        if ok is not None:
            lml = torch.where(ok, lml, torch.full_like(lml, -np.inf))
        return lml, L, alpha

    def _context(self) -> str:
        return " (exact GP training covariance)"

    # ----------------------------------------------------------------------------- predictions
    def factors(self, z: np.ndarray):
        """``(L, alpha, std)`` for a batch of hyperparameter vectors, cached when small."""
        return self._factors(z)[1:]

    def point_log_marginal(self, z: np.ndarray) -> float:
        """Log marginal likelihood at one hyperparameter vector, caching its factors."""
        return float(self._factors(np.ascontiguousarray(z[None, :], dtype=np.float64))[0][0])

    def _factors(self, z: np.ndarray):
        key = z.tobytes()
        if key in self._cache:
            return self._cache[key]
        zt = torch.as_tensor(z)
        with torch.no_grad():
            lml, L, alpha = self.log_marginal(zt, safe=False)
            std = self.space.standardise(self.space.values(zt))
        out = (lml, L, alpha, std)
        if z.shape[0] * self.n**2 <= MAX_CACHED:
            self._cache = {key: out}
        return out

    def predict_std(self, z: np.ndarray, X_new: np.ndarray, *, full_cov: bool):
        """Standardised latent mean and variance (or covariance) at ``X_new`` per batch row."""
        L, alpha, std = self.factors(z)
        Xt = torch.as_tensor(X_new)
        with torch.no_grad():
            K_cross = self.kernel(std, self.X, Xt)
            k_diag = None if full_cov else self.kernel(std, Xt, diag=True)
            K_test = self.kernel(std, Xt) if full_cov else None
            mean, var = linalg.predict_moments(L, alpha, K_cross, k_diag, K_test=K_test)
            mean = mean + self.mean_std(std, Xt)
        return mean.numpy(), var.numpy(), (std["noise"] ** 2).numpy()[:, 0]

    def to_original(self, X_new, mean_std, var_std):
        """Convert standardised moments to original units (adding a physics mean)."""
        s = self.space.y_scale
        mean = mean_std * s + self.space.y_shift
        if callable(self.mean):
            mean = mean + physics_mean(self.mean, X_new)
        return mean, var_std * s**2

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {}  # factors are recomputed after unpickling
        return state

    def subset(self, index: np.ndarray) -> GPModel:
        """The same model (priors, standardisation) on a subset of the training points."""
        sub = object.__new__(GPModel)
        sub.__dict__.update(self.__dict__)
        sub.X_np = self.X_np[index]
        sub.X, sub.r = self.X[index], self.r[index]
        sub.err2 = None if self.err2 is None else self.err2[index]
        sub.n, sub._cache = len(index), {}
        return sub
