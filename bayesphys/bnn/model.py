"""Bayesian neural networks: full-batch NUTS/HMC, minibatch SGHMC and mean-field VI on torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from bayesphys.bnn import _outputs, _run, _spec
from bayesphys.bnn._network import Network, check_activation, check_hidden
from bayesphys.bnn._posterior import Posterior
from bayesphys.core import results
from bayesphys.core.base import Estimator
from bayesphys.core.distributed import (
    check_client,
    check_groups,
    group_seeds,
    run_groups,
    split_sizes,
)
from bayesphys.core.likelihoods import Gaussian, Likelihood
from bayesphys.core.priors import HalfNormal, Normal, Prior
from bayesphys.core.samplers import warn_transitions
from bayesphys.core.validation import (
    check_choice,
    check_positive_int,
    check_random_state,
    check_X_y,
)

METHODS = ("nuts", "hmc", "sghmc", "vi")
DEFAULT_WEIGHT_PRIOR = Normal(0.0, 1.0)
DEFAULT_LIKELIHOOD = Gaussian(noise=HalfNormal(1.0))
_DEFAULT_TUNE = {"nuts": 1000, "hmc": 1000, "sghmc": 2000, "vi": 3000}
_DEFAULT_THIN = {"nuts": 1, "hmc": 1, "sghmc": 10, "vi": 1}
_DEFAULT_LR = {"sghmc": 0.01, "vi": 0.01}


class BayesianNeuralNetwork(Estimator):
    """Fully connected Bayesian neural network for regression or classification.

    Inputs (and regression targets) are standardised internally; predictions, noise
    parameters, ``log_likelihood`` and posterior-predictive draws are in the original units.
    Weight priors act on the standardised network.

    Parameters
    ----------
    hidden : tuple of int
        Hidden-layer widths.
    activation : {"tanh", "relu", "sigmoid", "softplus"}
        Hidden-layer nonlinearity.
    weight_prior : Prior or "hierarchical"
        Prior of every weight and bias (a scalar prior on the real line), or
        ``"hierarchical"``: each weight matrix and each bias vector gets its own Gaussian prior
        ``N(0, 1/tau)`` with ``tau ~ Gamma(2, 2)`` (Neal 1996; as used for nuclear masses by
        Utama, Piekarewicz & Prosper, PRC 93, 014311 (2016)), sampled jointly with the weights.
    likelihood : Gaussian, StudentT, Bernoulli or Categorical
        Observation model; noise values and priors are in the units of y. ``y_err`` passed to
        ``fit`` adds to the noise variance (``y_err**2 + sigma**2``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesphys.bnn import BayesianNeuralNetwork
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(40, 1)); y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=40)
    >>> bnn = BayesianNeuralNetwork(hidden=(8,)).fit(
    ...     X, y, method="sghmc", chains=2, draws=50, tune=300, random_seed=0, progressbar=False)
    >>> mean, std = bnn.predict([[0.5]], return_std=True)
    >>> bool(abs(mean[0] - np.sin(1.0)) < 0.3)
    True
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (20,),
        activation: str = "tanh",
        weight_prior: Prior | str = DEFAULT_WEIGHT_PRIOR,
        likelihood: Likelihood = DEFAULT_LIKELIHOOD,
    ):
        self.hidden = hidden
        self.activation = activation
        self.weight_prior = weight_prior
        self.likelihood = likelihood

    def fit(
        self,
        X,
        y,
        y_err=None,
        method: str = "nuts",
        chains: int = 4,
        draws: int = 1000,
        tune: int | None = None,
        random_seed=None,
        *,
        thin: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        target_accept: float = 0.8,
        progressbar: bool = True,
        chain_groups: int | None = None,
        client=None,
    ) -> BayesianNeuralNetwork:
        """Infer the posterior over the weights.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
            Targets, or class labels for Bernoulli/Categorical.
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations) of y; Gaussian/StudentT only.
        method : {"nuts", "hmc", "sghmc", "vi"}
            ``"nuts"``: the No-U-Turn sampler over all weights, full batch (core vectorised
            ``NUTS``: all chains in one batched forward pass, trees doubled in lockstep), with
            the tree depth capped at 7, i.e. at most 127 leapfrog steps per transition (BNN
            posteriors tend to use the whole budget). ``"hmc"``: the same but static HMC with
            20 leapfrog steps (jittered), cheaper per transition and slower to mix.
            ``"sghmc"``: stochastic-gradient HMC on minibatches. ``"vi"``: mean-field Bayes by
            backprop (known to under-estimate uncertainty).
        chains : int
            Independent chains (independent VI fits for ``"vi"``).
        draws : int
            Kept draws per chain (independent draws from q for ``"vi"``).
        tune : int, optional
            Tuning iterations (hmc/nuts, default 1000), burn-in steps (sghmc, default 2000) or
            optimisation steps (vi, default 3000).
        random_seed : int, Generator or None
        thin : int, optional
            Transitions per kept draw (default 10 for sghmc, else 1).
        batch_size : int, optional
            Minibatch size for sghmc/vi (default ``min(n, 64)``).
        learning_rate : float, optional
            SGHMC step parameter (default 0.01) or VI Adam rate (default 0.01).
        target_accept : float
            Target of the hmc/nuts step-size adaptation (for nuts: the mean acceptance
            statistic over each tree, as in Stan).
        progressbar : bool
            Show progress; Ctrl-C keeps the draws made so far.
        chain_groups : int, optional
            Run the chains in this many groups of (almost) equal size, each with its own seed
            (spawned from ``random_seed``), starting weights and, for hmc/nuts, tuning. The
            draws depend on ``chain_groups``, not on where the groups run: the same value gives
            the same draws in-process and on any number of Dask workers. Default: 1 (all chains
            in lockstep) without a client, one group per chain with one.
        client : dask.distributed.Client, optional
            Run the chain groups as tasks on this Dask cluster (one torch thread each).

        Returns
        -------
        self
        """
        hidden = check_hidden(self.hidden)
        activation = check_activation(self.activation)
        weight_prior = _spec.check_weight_prior(self.weight_prior)
        likelihood = _spec.check_likelihood(self.likelihood)
        check_choice(method, "method", METHODS)
        chains = check_positive_int(chains, "chains")
        draws = check_positive_int(draws, "draws")
        tune = check_positive_int(
            _DEFAULT_TUNE[method] if tune is None else tune, "tune", minimum=0
        )
        thin = check_positive_int(_DEFAULT_THIN[method] if thin is None else thin, "thin")
        lr = _run.check_rate(
            _DEFAULT_LR.get(method, 0.01) if learning_rate is None else learning_rate
        )
        if not 0.0 < float(target_accept) < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")
        X, y, y_err = check_X_y(X, y, y_err, min_samples=2)
        if y_err is not None and not likelihood.accepts_y_err:
            raise ValueError(f"y_err is not supported by {type(likelihood).__name__}: drop it")
        batch_size = check_positive_int(
            min(len(y), 64) if batch_size is None else batch_size, "batch_size"
        )

        scaling, y_fit, classes, n_out = _spec.prepare(X, y, likelihood)
        net = Network(X.shape[1], hidden, n_out, activation)
        y_err_s = None if y_err is None else y_err / scaling.y_scale
        x_t = torch.as_tensor(scaling.x(X))
        post = Posterior(net, weight_prior, likelihood, x_t, y_fit, y_err_s, scaling.y_scale)

        rng = check_random_state(random_seed)
        seed = int(rng.integers(2**31 - 1))
        client = check_client(client)
        default_groups = 1 if client is None else chains
        n_groups = check_groups(
            chain_groups, chains, default_groups, name="chain_groups", unit="chains"
        )
        options = {
            "draws": draws,
            "tune": tune,
            "thin": thin,
            "lr": lr,
            "batch_size": batch_size,
            "target_accept": target_accept,
            "progressbar": progressbar and client is None,
        }
        tasks = [
            _run.ChainGroup(post, size, method, group_seed, options)
            for size, group_seed in zip(
                split_sizes(chains, n_groups), group_seeds(seed, n_groups), strict=True
            )
        ]
        fits = run_groups(
            _run.run_group,
            tasks,
            client,
            finished=_run.group_finished,
            name=f"bnn-{method}",
            progress=f"bnn {method} chain groups" if progressbar else None,
        )
        fit = _run.concatenate(fits)
        # Divergences only: NUTS trees are capped at depth 7 on purpose (see _fitting).
        divergences = {k: v for k, v in fit.stats.items() if k == "diverging"}
        warn_transitions(divergences, f"BayesianNeuralNetwork.fit(method={method!r})")
        self._net, self._scaling, self.classes_ = net, scaling, classes
        self._theta = fit.samples.detach().cpu().numpy()
        self._posterior = post.constrained(fit.samples)
        self.method_ = method
        self.n_features_in_ = X.shape[1]
        self.n_weights_ = net.n_params
        self.idata_ = self._build_idata(fit, X, y, y_fit, y_err, rng)
        return self

    # ------------------------------------------------------------------------- internals
    def _build_idata(self, fit, X, y, y_fit, y_err, rng):
        f = _outputs.latent_draws(self._net, self._theta, X, self._scaling, self.likelihood)
        params = _outputs.noise_draws(self.likelihood, self._posterior)
        log_lik = self.likelihood.logpdf(
            y if self.classes_ is None else y_fit, f, y_err=y_err, **params
        )
        y_rep = self._draw_y(f, params, y_err, rng)
        attrs = {
            "inference_method": self.method_,
            "model": "BayesianNeuralNetwork",
            "hidden": list(self._net.hidden),
            "activation": self._net.activation,
        }
        attrs.update({k: v for k, v in fit.attrs.items() if v is not None})
        return _outputs.build_idata(
            posterior=self._posterior,
            stats=fit.stats,
            log_lik=log_lik,
            y_observed=y,
            y_rep=y_rep,
            y_err=y_err,
            attrs=attrs,
        )

    def _draw_y(self, f, params, y_err, rng):
        y_rep = self.likelihood.sample(f, y_err=y_err, rng=rng, **params)
        return y_rep if self.classes_ is None else self.classes_[y_rep]

    def _latent(self, X) -> np.ndarray:
        with _run.single_thread():
            return _outputs.latent_draws(self._net, self._theta, X, self._scaling, self.likelihood)

    # ---------------------------------------------------------------------------- public
    def predict(
        self, X, return_std: bool = False, include_noise: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior predictive mean (and std) at ``X``; class labels for classification.

        ``include_noise=False`` gives the epistemic std of the latent ``f(x)``; ``True`` adds
        the posterior mean of the noise variance (without any ``y_err``).
        """
        X = self._check_new_X(X)
        if self.classes_ is not None:
            if return_std:
                raise ValueError("return_std is for regression; use predict_proba(X) instead")
            return self.classes_[np.argmax(self.predict_proba(X), axis=-1)]
        f = self._latent(X)
        mean = f.mean(axis=(0, 1))
        if not return_std:
            return mean
        var = f.var(axis=(0, 1))
        if include_noise:
            params = _outputs.noise_draws(self.likelihood, self._posterior)
            var = var + float(np.mean(_outputs.noise_variance(self.likelihood, params)))
        return mean, np.sqrt(var)

    def predict_proba(self, X) -> np.ndarray:
        """Posterior-averaged class probabilities ``(n, K)``, columns ordered as ``classes_``."""
        X = self._check_new_X(X)
        if self.classes_ is None:
            raise ValueError("predict_proba needs a Bernoulli or Categorical likelihood")
        return _outputs.probabilities(self.likelihood, self._latent(X)).mean(axis=(0, 1))

    def sample_posterior_predictive(self, X, random_seed=None) -> results.InferenceData:
        """Posterior predictive draws of y at ``X`` (new points carry no ``y_err``).

        Returns
        -------
        InferenceData with ``posterior_predictive`` ``y`` (and the latent ``f``: in the units of
        y for regression, logits for classification), dims ``(chain, draw, obs[, class])``.
        """
        X = self._check_new_X(X)
        f = self._latent(X)
        params = _outputs.noise_draws(self.likelihood, self._posterior)
        y_rep = self._draw_y(f, params, None, check_random_state(random_seed))
        dims = {"y": ["obs"], "f": ["obs"] + (["class"] if f.ndim == 4 else [])}
        return results.to_inference_data(
            {"f": f},
            posterior_predictive={"y": y_rep},
            dims=dims,
            coords={"obs": np.arange(len(X))},
            attrs={"inference_method": self.method_, "model": "BayesianNeuralNetwork"},
        )

    def predictive_diagnostics(self, X) -> pd.DataFrame:
        """Convergence of predictions at ``X``: ESS and R-hat of the latent ``f(x)`` per point.

        Weights are not identifiable (permutation and sign symmetries), so their R-hat says
        little; predictions are what must converge. For classification ``f`` is the
        probability of the last class.

        Returns
        -------
        pandas.DataFrame
            Columns ``mean``, ``sd``, ``mcse_mean``, ``ess_bulk``, ``ess_tail``, ``r_hat``.
        """
        X = self._check_new_X(X)
        f = self._latent(X)
        if self.classes_ is not None:
            f = _outputs.probabilities(self.likelihood, f)[..., -1]
        return pd.DataFrame(
            {
                "mean": f.mean(axis=(0, 1)),
                "sd": f.std(axis=(0, 1), ddof=1) if f.size > f.shape[-1] else np.nan,
                "mcse_mean": results.mcse(f),
                "ess_bulk": results.ess(f, method="bulk"),
                "ess_tail": results.ess(f, method="tail"),
                "r_hat": results.rhat(f),
            }
        )
