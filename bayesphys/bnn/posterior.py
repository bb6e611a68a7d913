"""The BNN log posterior over one flat, unconstrained vector per chain.

Layout of ``theta`` (shape ``(chains, dim)``): the network weights (``Network`` order), then, for
the hierarchical prior, one log-precision per parameter group (``W0, b0, W1, ...``), then the
likelihood's free parameters (e.g. the noise ``sigma``) in the unconstrained space of their
priors. Priors and likelihood terms are evaluated by the core specs (``to_torch``,
``log_prob_unconstrained``, ``Likelihood.log_prob``); this module only assembles them.

Units: the network sees standardised inputs and (for regression) standardised targets, while
noise priors and fixed noise values are in the units of ``y``; they are rescaled here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bayesphys.bnn.network import Network
from bayesphys.core.likelihoods import Categorical, Gaussian, Likelihood
from bayesphys.core.priors import Gamma, Normal, Prior
from bayesphys.core.priors.positive import PositivePrior, unconstrained_terms
from bayesphys.core.transforms import Exp

#: Hyperprior on the precision of each parameter group for ``weight_prior="hierarchical"``:
#: mean precision 1 (weights of order 1 on standardised data), but broad enough (shape 2) that
#: the data can shrink a layer towards zero or let it grow.
HYPERPRIOR = Gamma(2.0, 2.0)

# How a noise parameter scales with the standard deviation of y.
_UNIT_POWER = {"sigma": 1, "variance": 2, "nu": 0}
_LOG_2PI = math.log(2.0 * math.pi)


class Posterior:
    """Unnormalised log posterior of a BNN, batched over chains.

    Parameters
    ----------
    net : Network
        Network layout.
    weight_prior : Prior or "hierarchical"
        Prior of every weight and bias (real support), or the per-group Gaussian prior with a
        Gamma hyperprior on its precision.
    likelihood : Likelihood
        Observation model (Gaussian/StudentT on standardised y, Bernoulli, Categorical).
    X : Tensor
        Standardised inputs ``(n, n_in)``.
    y : ndarray
        Standardised targets or integer labels ``(n,)``.
    y_err : ndarray or None
        Standardised measurement errors ``(n,)``.
    y_scale : float
        Standard deviation of the raw targets (1 for classification).
    """

    def __init__(
        self,
        net: Network,
        weight_prior: Prior | str,
        likelihood: Likelihood,
        X: Tensor,
        y: np.ndarray,
        y_err: np.ndarray | None,
        y_scale: float,
    ) -> None:
        self.net = net
        self.likelihood = likelihood
        self.X, self.y, self.y_err = X, y, y_err
        self.n = int(X.shape[0])
        self.y_scale = float(y_scale)
        self.hierarchical = isinstance(weight_prior, str)
        self.weight_prior = weight_prior
        if not self.hierarchical:
            self._weight_dist = weight_prior.to_torch(X.dtype, validate_args=False)
        self.group_slices = net.group_slices()
        self.n_weights = net.n_params
        self.n_hyper = len(self.group_slices) if self.hierarchical else 0
        self.free = dict(likelihood.free_params)
        self.fixed = {
            k: v / self.y_scale ** _UNIT_POWER[k] for k, v in likelihood.fixed_params.items()
        }
        self.dim = self.n_weights + self.n_hyper + len(self.free)
        self.closed_form = _closed_form_applies(weight_prior, likelihood)
        if self.closed_form:
            self._w_mu, self._w_sigma = float(weight_prior.mu), float(weight_prior.sigma)
            # Prior and likelihood constants: they shift H, not its gradient, but keep the
            # closed form's value equal to the autograd path's.
            self._w_const = -self.n_weights * (math.log(self._w_sigma) + 0.5 * _LOG_2PI)
            self._noise_args = _noise_prior_args(next(iter(self.free.values()), None))
            self._y_t = torch.as_tensor(np.asarray(y), dtype=X.dtype)
            self._y_err_sq = (
                None if y_err is None else torch.as_tensor(np.asarray(y_err), dtype=X.dtype) ** 2
            )

    # ------------------------------------------------------------------------ components
    def noise_params(self, theta: Tensor) -> dict[str, Tensor]:
        """Likelihood parameters in the units of y, ``(chains,)`` each (free ones only)."""
        start = self.n_weights + self.n_hyper
        return {
            name: prior.transform.forward(theta[:, start + k])
            for k, (name, prior) in enumerate(self.free.items())
        }

    def log_prior(self, theta: Tensor) -> Tensor:
        """Log prior density (unconstrained coordinates) of every chain, ``(chains,)``."""
        w = theta[:, : self.n_weights]
        if self.hierarchical:
            lp = theta.new_zeros(theta.shape[0])
            for k, (_, sl) in enumerate(self.group_slices):
                z = theta[:, self.n_weights + k]  # log precision of the group
                size = sl.stop - sl.start
                sq = w[:, sl].square().sum(-1)
                lp = lp + 0.5 * size * (z - _LOG_2PI) - 0.5 * torch.exp(z) * sq
                lp = lp + HYPERPRIOR.log_prob_unconstrained(z)
        else:
            lp = self._weight_dist.log_prob(w).sum(-1)
        start = self.n_weights + self.n_hyper
        for k, prior in enumerate(self.free.values()):
            lp = lp + prior.log_prob_unconstrained(theta[:, start + k])
        return lp

    def latent(self, theta: Tensor, X: Tensor) -> Tensor:
        """Latent predictor ``f``: ``(chains, n)``, or ``(chains, n, K)`` for Categorical."""
        out = self.net.forward(theta, X)
        return out if isinstance(self.likelihood, Categorical) else out[..., 0]

    def _batch(self, idx: np.ndarray | None):
        if idx is None:
            return self.X, self.y, self.y_err
        X = self.X[torch.as_tensor(idx)]
        return X, self.y[idx], None if self.y_err is None else self.y_err[idx]

    def _log_lik_terms(self, theta: Tensor, f: Tensor, y, y_err) -> Tensor:
        """Summed core log likelihood of ``y`` given latent ``f``, ``(chains,)``."""
        params = dict(self.fixed)
        for name, value in self.noise_params(theta).items():
            params[name] = (value / self.y_scale ** _UNIT_POWER[name]).unsqueeze(-1)
        return self.likelihood.log_prob(y, f, y_err=y_err, **params).sum(-1)

    def log_likelihood(self, theta: Tensor, idx: np.ndarray | None = None) -> Tensor:
        """Summed log likelihood of the data (or the minibatch ``idx``, ``(chains, b)``)."""
        X, y, y_err = self._batch(idx)
        return self._log_lik_terms(theta, self.latent(theta, X), y, y_err)

    def value_and_grad(self, theta: Tensor, idx: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
        """``log prior + (n/b) log lik(batch)`` and its gradient, without autograd on the net.

        Normal weight priors with Gaussian noise (the defaults) take
        :meth:`closed_form_value_and_grad` (no autograd at all, full batch).

        The network is run forward and backpropagated by hand (``Network.backward``); autograd
        only sees the small graph of the core prior and likelihood terms, from ``f`` and the
        hyper/noise parameters on.
        """
        if self.closed_form and idx is None:
            return self.closed_form_value_and_grad(theta)
        X, y, y_err = self._batch(idx)
        scale = 1.0 if idx is None else self.n / idx.shape[-1]
        theta = theta.detach()
        with torch.no_grad():
            out, inputs = self.net.forward(theta, X, keep=True)
        with torch.enable_grad():
            t = theta.requires_grad_(True)
            f = out.requires_grad_(True)
            f_lik = f if isinstance(self.likelihood, Categorical) else f[..., 0]
            lp = self.log_prior(t) + scale * self._log_lik_terms(t, f_lik, y, y_err)
            grad_t, grad_f = torch.autograd.grad(lp.sum(), (t, f), allow_unused=True)
        grad = torch.zeros_like(theta) if grad_t is None else grad_t
        with torch.no_grad():
            grad[:, : self.n_weights] += self.net.backward(theta, inputs, grad_f)
        return lp.detach(), grad

    def closed_form_value_and_grad(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Full-batch log posterior and gradient by hand: Normal weight prior, Gaussian noise.

        Every term's derivative is written out (the network's by :meth:`Network.backward`), so
        a gradient costs a few batched matmuls and no autograd bookkeeping, which dominates
        for small networks. The noise prior, on ``z = log(noise)``, is the core closed form of
        the positive priors (:func:`~bayesphys.core.priors.positive.unconstrained_terms`) and
        goes through autograd on ``z`` alone for any other prior.
        """
        with torch.no_grad():
            theta = theta.detach()
            n_w = self.n_weights
            w = theta[:, :n_w]
            if self.net.single_hidden_scalar_output:
                f, hidden = self.net.forward_single_hidden(theta, self.X)
            else:
                out, inputs = self.net.forward(theta, self.X, keep=True)
                f = out[..., 0]
            resid = self._y_t - f  # (chains, n)
            if self.free:
                (name, prior), z = next(iter(self.free.items())), theta[:, n_w]
                # z is log sigma or log variance (units of y); var0 in standardised units.
                power = 2.0 if name == "sigma" else 1.0
                log_var0 = power * z - 2.0 * math.log(self.y_scale)
                var0 = torch.exp(log_var0).unsqueeze(-1)
            else:
                var0 = theta.new_tensor(self.fixed[self.likelihood.param_name])
                if self.likelihood.param_name == "sigma":
                    var0 = var0 * var0
            if self._y_err_sq is None:
                var = var0
                log_var = log_var0 if self.free else torch.log(var0)
                sum_log_var = self.n * log_var
            else:
                var = var0 + self._y_err_sq
                sum_log_var = torch.log(var).sum(-1)
            r_over_var = resid / var
            centred = w if self._w_mu == 0.0 else w - self._w_mu
            inv_var_w = 1.0 / self._w_sigma**2
            rss = (resid * r_over_var).sum(-1)  # sum of squared residuals over the variance
            lp = (self._w_const - 0.5 * self.n * _LOG_2PI) - 0.5 * (
                inv_var_w * (centred * centred).sum(-1) + sum_log_var + rss
            )
            if self.net.single_hidden_scalar_output:
                grad_w = self.net.backward_single_hidden(theta, self.X, hidden, r_over_var)
            else:
                grad_w = self.net.backward(theta, inputs, r_over_var.unsqueeze(-1))
            grad_w = grad_w.sub_(centred, alpha=inv_var_w)
            if not self.free:
                return lp, grad_w
            lp_noise, dlp_noise = _noise_prior_terms(prior, z, self._noise_args)
            # d loglik / d var0 = sum(r^2/var^2 - 1/var) / 2 and d var0 / dz = power * var0;
            # without y_err, var = var0 and the product is (rss - n) / 2.
            if self._y_err_sq is None:
                d_z = torch.add(dlp_noise, rss - self.n, alpha=0.5 * power)
            else:
                d_var = 0.5 * (r_over_var * r_over_var - 1.0 / var).sum(-1)
                d_z = d_var * (power * var0[:, 0]) + dlp_noise
            grad = torch.cat((grad_w, d_z.unsqueeze(-1)), 1)
        return lp + lp_noise, grad

    # --------------------------------------------------------------------------- targets
    def log_prob(self, theta: Tensor) -> Tensor:
        """Full-batch unnormalised log posterior, ``(chains,)`` (differentiable)."""
        return _FusedLogProb.apply(theta, self, None)

    def minibatch_log_prob(self, theta: Tensor, idx: np.ndarray | None) -> Tensor:
        """Unbiased minibatch estimate ``log prior + (n / b) * log lik(batch)`` (full if None)."""
        return _FusedLogProb.apply(theta, self, idx)

    def log_prob_autograd(self, theta: Tensor, idx: np.ndarray | None = None) -> Tensor:
        """The same density through plain autograd (reference for tests)."""
        scale = 1.0 if idx is None else self.n / idx.shape[-1]
        return self.log_prior(theta) + scale * self.log_likelihood(theta, idx)

    # ----------------------------------------------------------------------------- output
    def constrained(self, draws: Tensor) -> dict[str, np.ndarray]:
        """Named posterior arrays ``(chain, draw, ...)`` from flat draws ``(chain, draw, dim)``.

        Weights are on the standardised scale of the network; precisions ``tau_*`` and noise
        parameters (in the units of y) are on their natural scale.
        """
        chains, n_draws = draws.shape[:2]
        flat = draws.reshape(chains * n_draws, -1)
        out = {}
        for (name, shape), (_, sl) in zip(self.net.groups, self.group_slices, strict=True):
            out[name] = flat[:, sl].reshape(chains, n_draws, *shape)
        for k, (name, _) in enumerate(self.group_slices[: self.n_hyper]):
            out[f"tau_{name}"] = torch.exp(flat[:, self.n_weights + k]).reshape(chains, n_draws)
        for name, value in self.noise_params(flat).items():
            out[name] = value.reshape(chains, n_draws)
        return {k: v.detach().cpu().numpy() for k, v in out.items()}


def _closed_form_applies(weight_prior: Prior | str, likelihood: Likelihood) -> bool:
    """Whether :meth:`Posterior.closed_form_value_and_grad` covers this model."""
    if not isinstance(weight_prior, Normal) or not isinstance(likelihood, Gaussian):
        return False
    if np.ndim(weight_prior.mu) or np.ndim(weight_prior.sigma):
        return False
    free = list(likelihood.free_params.values())
    return len(free) == 0 or (len(free) == 1 and isinstance(free[0].transform, Exp))


def _noise_prior_args(prior: Prior) -> tuple | None:
    """The core closed form's arguments of a noise prior (once per posterior), or None."""
    if isinstance(prior, PositivePrior) and not prior.batch_shape:
        return prior.unconstrained_args()
    return None


def _noise_prior_terms(prior: Prior, z: Tensor, args: tuple | None) -> tuple[Tensor, Tensor]:
    """Log prior of the noise at ``z = log(noise)`` (Jacobian included) and its derivative:
    the core closed form (``args`` from :func:`_noise_prior_args`) for the positive priors
    that have one, autograd otherwise."""
    if args is not None:
        kind, a, b, const = args
        # A diverging leapfrog trajectory can reach any z; exp(2z) overflowing to inf gives
        # lp = -inf, which the sampler rejects as a divergence: not a warning for the user.
        with np.errstate(over="ignore", invalid="ignore"):
            lp, dz = unconstrained_terms(kind, a, b, z.numpy())
        return torch.from_numpy(const + lp).to(z.dtype), torch.from_numpy(dz).to(z.dtype)
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        lp = prior.log_prob_unconstrained(z)
        (dz,) = torch.autograd.grad(lp.sum(), z)
    return lp.detach(), dz


class FullBatchTarget:
    """The full-batch log posterior as a sampler target: ``target(theta)`` is
    :meth:`Posterior.log_prob`, and ``target.value_and_grad`` lets the core gradient kernels
    (:func:`~bayesphys.core.samplers.base.evaluate`) take the hand-written gradient directly,
    without an autograd pass around it."""

    def __init__(self, post: Posterior) -> None:
        self.post = post
        self._compiled: tuple | bool | None = False  # not built yet

    @property
    def compiled_target(self) -> tuple | None:
        """The compiled density for :class:`~bayesphys.core.samplers.compiled_nuts.CompiledNUTS`
        (``(function, fdata, idata)``), or None where the closed form does not apply."""
        if self._compiled is False:
            from bayesphys.bnn._numba_target import compiled_target

            self._compiled = compiled_target(self.post)
        return self._compiled

    def __call__(self, theta: Tensor) -> Tensor:
        return self.post.log_prob(theta)

    def value_and_grad(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Log posterior ``(chains,)`` and its gradient ``(chains, dim)``."""
        return self.post.value_and_grad(theta)


class _FusedLogProb(torch.autograd.Function):
    """One autograd node for the whole log posterior; its gradient comes from value_and_grad."""

    @staticmethod
    def forward(ctx, theta: Tensor, post: Posterior, idx: np.ndarray | None) -> Tensor:
        lp, grad = post.value_and_grad(theta, idx)
        ctx.save_for_backward(grad)
        return lp

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * grad, None, None
