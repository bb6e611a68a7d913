"""Bayesian neural networks: full-batch NUTS/HMC, minibatch SGHMC and mean-field VI on torch."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if

from bayesphys.bnn import outputs, spec
from bayesphys.bnn.inference.groups import fit_chain_groups
from bayesphys.bnn.network import Network, check_activation, check_hidden
from bayesphys.bnn.posterior import Posterior
from bayesphys.core import results
from bayesphys.core.base import Estimator
from bayesphys.core.distributed import check_client
from bayesphys.core.inference import HMC, NUTS, SGHMC, VI, InferenceMethod
from bayesphys.core.likelihoods import Categorical, Likelihood
from bayesphys.core.priors import Prior
from bayesphys.core.samplers import warn_transitions
from bayesphys.core.threads import torch_threads
from bayesphys.core.validation import check_positive_int, check_y_err

#: Prior draws behind the tail probability of :func:`_warn_noise_prior_conflict`.
_PRIOR_TAIL_DRAWS = 100_000
#: Prior tail probability below which a noise posterior is in conflict with its prior.
_PRIOR_TAIL_PROBABILITY = 1e-4


def _warn_noise_prior_conflict(likelihood, posterior: dict, y: np.ndarray) -> None:
    """Warn where the noise posterior sits far in the tail of its prior.

    Noise priors are in the units of y, so the default ``HalfNormal(1.0)`` holds the noise
    near 1 whatever the units: for targets of spread ~1000 with noise 200 the posterior noise
    came out ~36 (the prior outweighs the data) and the 90 % bands of f covered a third of the
    true function, without a word. A posterior median that almost no prior draw exceeds says
    so.
    """
    for name, prior in likelihood.free_params.items():
        if name not in ("sigma", "variance"):
            continue
        median = float(np.median(posterior[name]))
        # A fixed seed: the check must not depend on (or advance) the fit's random state.
        draws = prior.sample(_PRIOR_TAIL_DRAWS, np.random.default_rng(0))
        tail = float(np.mean(draws > median))
        if tail >= _PRIOR_TAIL_PROBABILITY:
            continue
        y_sd = float(np.std(y))
        kind = type(likelihood).__name__
        hint = (
            f"e.g. {kind}(noise=HalfNormal({y_sd:.3g})) (the std of y)"
            if name == "sigma"
            else f"e.g. {kind}(variance=InverseGamma(2.0, {y_sd**2:.3g})) (mean: the variance of y)"
        )
        warnings.warn(
            f"BayesianNeuralNetwork.fit: the posterior median of the noise {name} "
            f"({median:.3g}) lies far in the tail of its prior {prior!r} (prior probability "
            f"of a larger {name} < {_PRIOR_TAIL_PROBABILITY:.0e}). Noise priors are in the "
            "units of y: if the data need this much noise, the prior holds it down, the "
            "network fits part of the noise and its bands come out too narrow; give the "
            f"likelihood a noise prior on the scale of y, {hint}, or rescale y. (A fit that "
            "has not converged, e.g. VI with too large a learning_rate, can land there too.)",
            UserWarning,
            stacklevel=3,
        )


def _labels_as_given(classes: np.ndarray, labels) -> np.ndarray:
    """``classes`` (found on y as float64) in the dtype of the labels given to ``fit``.

    Integer and boolean labels come back from ``predict`` as such (as scikit-learn's
    classifiers do), so that e.g. ``np.bincount(predict(X))`` works.
    """
    given = np.asarray(labels).ravel()
    if given.dtype.kind not in "iub":
        return classes
    # Integers up to 2**53 convert to float64 exactly and in order: the same sorted classes.
    return np.unique(given)


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
    weight_prior : Prior, "hierarchical" or None
        Prior of every weight and bias (a scalar prior on the real line; None is
        ``Normal(0, 1)``), or ``"hierarchical"``: each weight matrix and each bias vector gets
        its own Gaussian prior ``N(0, 1/tau)`` with ``tau ~ Gamma(2, 2)`` (Neal 1996; as used for
        nuclear masses by Utama, Piekarewicz & Prosper, PRC 93, 014311 (2016)), sampled jointly
        with the weights.
    likelihood : Gaussian, StudentT, Bernoulli, Categorical or None
        Observation model (None is ``Gaussian(noise=HalfNormal(1.0))``); noise values and
        priors are in the units of y. ``y_err`` passed to ``fit`` adds to the noise variance
        (``y_err**2 + sigma**2``). ``fit`` warns if the noise posterior lies far in the tail
        of its prior (a prior on the wrong scale for y). With Bernoulli or Categorical the
        network is a classifier: ``predict`` returns labels, ``predict_proba`` probabilities
        and ``score`` the accuracy.
    method : str or inference object
        ``"nuts"`` / :class:`~bayesphys.inference.NUTS`: the No-U-Turn sampler over all
        weights, full batch. On the closed-form model (``Normal`` weight prior, Gaussian
        likelihood: the defaults) each chain builds its own tree in compiled code
        (:class:`~bayesphys.samplers.CompiledNUTS`, chains on threads); other models run the
        core torch NUTS (all chains in one batched forward pass, trees doubled in lockstep).
        Trees are capped at ``max_treedepth`` (default 10, see ``docs/bnn.md``).
        ``"hmc"`` / :class:`~bayesphys.inference.HMC`: the same with static HMC
        (``n_leapfrog`` steps, jittered), cheaper per transition and slower to mix.
        ``"sghmc"`` / :class:`~bayesphys.inference.SGHMC`: stochastic-gradient HMC on
        minibatches. ``"vi"`` / :class:`~bayesphys.inference.VI`: mean-field Bayes by backprop
        (known to under-estimate uncertainty). Every method's ``chain_groups`` runs the chains
        in that many groups of (almost) equal size, each with its own seed, starting weights
        and, for HMC/NUTS, tuning; the draws depend on ``chain_groups``, not on where the
        groups run. Default: one group (all chains in lockstep) without a client, one group per
        chain with one.
    random_state : int, numpy Generator, SeedSequence or None
        Seed of the starting weights, the samplers and the posterior-predictive draws stored
        in ``idata_``.

    Attributes
    ----------
    idata_ : InferenceData
        Posterior of the weights ``W{l}`` (on ``(feature, hidden0)``, ``(hidden0, hidden1)``,
        ..., ``(hidden{L-1}, output)``; ``class`` instead of ``output`` for Categorical) and
        biases ``b{l}`` on the standardised scale, precisions ``tau_*`` of the hierarchical
        prior and noise parameters in the units of y; per-draw ``sample_stats``;
        ``log_likelihood``, ``posterior_predictive`` at the training inputs, ``observed_data``
        and ``constant_data`` in the shared schema (:mod:`bayesphys.core.schema`).
    method_ : str
        Name of the inference method used.
    n_weights_ : int
        Number of weights and biases.
    classes_ : ndarray
        Class labels (classification only), in the column order of ``predict_proba``.
    n_features_in_, feature_names_in_
        As in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesphys.bnn import BayesianNeuralNetwork
    >>> from bayesphys.inference import SGHMC
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(40, 1)); y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=40)
    >>> bnn = BayesianNeuralNetwork(
    ...     hidden=(8,), method=SGHMC(burn_in=300, draws=50, chains=2), random_state=0
    ... ).fit(X, y, progressbar=False)
    >>> mean, std = bnn.predict([[0.5]], return_std=True)
    >>> bool(abs(mean[0] - np.sin(1.0)) < 0.3)
    True
    """

    supported_methods: ClassVar[dict[str, type[InferenceMethod]]] = {
        "nuts": NUTS,
        "hmc": HMC,
        "sghmc": SGHMC,
        "vi": VI,
    }

    def __init__(
        self,
        hidden: tuple[int, ...] = (20,),
        activation: str = "tanh",
        weight_prior: Prior | str | None = None,
        likelihood: Likelihood | None = None,
        *,
        method: str | InferenceMethod = "nuts",
        random_state=None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.weight_prior = weight_prior
        self.likelihood = likelihood
        self.method = method
        self.random_state = random_state

    # ------------------------------------------------------------------ scikit-learn glue
    def _is_classifier(self) -> bool:
        return isinstance(self.likelihood, spec.CLASSIFICATION)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._is_classifier():
            # A Bernoulli/Categorical network predicts labels: scikit-learn treats it (and
            # scores it) as a classifier.
            tags.estimator_type = "classifier"
            tags.regressor_tags = None
            multi_class = isinstance(self.likelihood, Categorical)
            tags.classifier_tags = ClassifierTags(multi_class=multi_class)
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` for classification, R^2 for regression."""
        if self._is_classifier():
            return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------------------------------ fit
    def fit(self, X, y, y_err=None, *, progressbar=None, client=None) -> BayesianNeuralNetwork:
        """Infer the posterior over the weights.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
            Targets, or class labels for Bernoulli/Categorical.
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations) of y; Gaussian/StudentT only.
        progressbar : bool, optional
            Show progress (default: on). Ctrl-C keeps the draws made so far.
        client : dask.distributed.Client, optional
            Run the chain groups as tasks on this Dask cluster (one torch thread each).

        Returns
        -------
        self
        """
        hidden = check_hidden(self.hidden)
        activation = check_activation(self.activation)
        weight_prior = spec.check_weight_prior(self.weight_prior)
        likelihood = spec.check_likelihood(self.likelihood)
        method = self._resolve_method()
        show = self._progressbar(progressbar, method)
        labels = y
        X, y, y_err = self._validate_training_data(X, y, y_err)
        if y_err is not None and not likelihood.accepts_y_err:
            raise ValueError(f"y_err is not supported by {type(likelihood).__name__}: drop it")
        spec.check_noise_with_y_err(likelihood, y_err)
        # Minibatch size of SGHMC/VI (validated by the method) and of the warm start.
        batch_size = getattr(method, "batch_size", None) or min(len(y), 64)

        scaling, y_fit, classes, n_out = spec.prepare(X, y, likelihood)
        net = Network(X.shape[1], hidden, n_out, activation)
        y_err_s = None if y_err is None else y_err / scaling.y_scale
        x_t = torch.as_tensor(scaling.x(X))
        post = Posterior(net, weight_prior, likelihood, x_t, y_fit, y_err_s, scaling.y_scale)

        # One int seed for the chain groups, then the same generator draws the replicated data
        # of idata_ (the layout of the former fit(random_seed=...), kept for equal numbers).
        rng = self._random_generator()
        seed = int(rng.integers(2**31 - 1))
        client = check_client(client)
        # Marked, with one warning, if Ctrl-C cut the run short.
        fit = fit_chain_groups(post, method, seed, client, batch_size=batch_size, show=show)
        # Divergences only: trees at the depth cap are common for BNNs and expected with a
        # small max_treedepth; sample_stats["reached_max_treedepth"] records them.
        divergences = {k: v for k, v in fit.sample_stats.items() if k == "diverging"}
        warn_transitions(divergences, f"BayesianNeuralNetwork.fit(method={method!r})")
        self._net, self._scaling, self._likelihood = net, scaling, likelihood
        self._weight_prior = weight_prior
        if classes is not None:
            self.classes_ = _labels_as_given(classes, labels)
        elif hasattr(self, "classes_"):  # refitted as a regression after a classification
            del self.classes_
        self._theta = fit.unconstrained.detach().cpu().numpy()
        self._posterior = fit.posterior
        _warn_noise_prior_conflict(likelihood, fit.posterior, y)
        self.method_ = method.name
        self.interrupted_ = fit.interrupted
        self.n_weights_ = net.n_params
        self.idata_ = self._build_idata(fit, X, y, y_fit, y_err, rng)
        return self

    # ------------------------------------------------------------------------- internals
    def _classes(self) -> np.ndarray | None:
        return getattr(self, "classes_", None)

    def _build_idata(self, fit, X, y, y_fit, y_err, rng):
        classes = self._classes()
        f = outputs.latent_draws(self._net, self._theta, X, self._scaling, self._likelihood)
        params = outputs.noise_draws(self._likelihood, self._posterior)
        log_lik = self._likelihood.logpdf(y if classes is None else y_fit, f, y_err=y_err, **params)
        y_rep = self._draw_y(f, params, y_err, rng)
        dims, coords = outputs.posterior_dims(self._net, classes)
        attrs = {"hidden": list(self._net.hidden), "activation": self._net.activation}
        attrs.update({k: v for k, v in fit.attrs.items() if v is not None})
        return self._fit_idata(
            self._posterior,
            X,
            y,
            y_err,
            sample_stats=fit.sample_stats,
            log_likelihood=log_lik,
            posterior_predictive=y_rep,
            dims=dims,
            coords=coords,
            attrs=attrs,
        )

    def _draw_y(self, f, params, y_err, rng):
        y_rep = self._likelihood.sample(f, y_err=y_err, rng=rng, **params)
        classes = self._classes()
        return y_rep if classes is None else classes[y_rep]

    def _latent(self, X, theta=None) -> np.ndarray:
        theta = self._theta if theta is None else theta
        with torch_threads(1, blas=False):  # a small BNN's tensors gain nothing from more
            return outputs.latent_draws(self._net, theta, X, self._scaling, self._likelihood)

    def _predictive(self, X, y_err, parameters, f, y_rep, kind):
        dims, coords = outputs.posterior_dims(self._net, self._classes())
        latent_dims, latent_coords = outputs.latent_dims(f, self._net, self._classes())
        return self._predictive_idata(
            parameters,
            y_rep,
            X,
            y_err,
            kind=kind,
            extra_predictive={"f": f},
            dims={**dims, **latent_dims},
            coords={**coords, **latent_coords},
        )

    def _new_y_err(self, y_err, n: int):
        y_err = check_y_err(y_err, n)
        if y_err is not None and not self._likelihood.accepts_y_err:
            raise ValueError(
                f"y_err is not supported by {type(self._likelihood).__name__}: drop it"
            )
        return y_err

    # ---------------------------------------------------------------------------- public
    def predict(
        self, X, return_std: bool = False, include_noise: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior predictive mean (and std) at ``X``; class labels for classification.

        ``include_noise=False`` gives the epistemic std of the latent ``f(x)``; ``True`` adds
        the posterior mean of the noise variance (without any ``y_err``).
        """
        X = self._validate_new_X(X)
        classes = self._classes()
        if classes is not None:
            if return_std:
                raise ValueError("return_std is for regression; use predict_proba(X) instead")
            return classes[np.argmax(self._proba(X), axis=-1)]
        f = self._latent(X)
        mean = f.mean(axis=(0, 1))
        if not return_std:
            return mean
        var = f.var(axis=(0, 1))
        if include_noise:
            params = outputs.noise_draws(self._likelihood, self._posterior)
            var = var + float(np.mean(outputs.noise_variance(self._likelihood, params)))
        return mean, np.sqrt(var)

    def _proba(self, X) -> np.ndarray:
        return outputs.probabilities(self._likelihood, self._latent(X)).mean(axis=(0, 1))

    # Only classifiers have predict_proba (scikit-learn tells the two apart by the attribute).
    @available_if(_is_classifier)
    def predict_proba(self, X) -> np.ndarray:
        """Posterior-averaged class probabilities ``(n, K)``, columns ordered as ``classes_``.

        Defined for a Bernoulli or Categorical likelihood only.
        """
        X = self._validate_new_X(X)
        if self._classes() is None:  # a regression fit, likelihood changed by set_params since
            raise ValueError("predict_proba needs a fit with a Bernoulli or Categorical likelihood")
        return self._proba(X)

    def sample_posterior_predictive(
        self, X, y_err=None, random_state=None
    ) -> results.InferenceData:
        """Posterior predictive draws of y at ``X``.

        Parameters
        ----------
        X : array_like (m, p)
        y_err : array_like (m,), optional
            Known errors of the new measurements: they add to the noise variance.
        random_state : int, Generator or None
            Seed of the noise draws (the weights are the posterior draws); ``None`` uses the
            estimator's ``random_state``.

        Returns
        -------
        InferenceData
            ``posterior``: the weight draws; ``posterior_predictive``: ``y`` and the latent
            ``f`` (in the units of y for regression, logits for classification) on
            ``(chain, draw, obs[, class])``; ``constant_data``: ``X`` (and ``y_err``).
        """
        X = self._validate_new_X(X)
        y_err = self._new_y_err(y_err, len(X))
        f = self._latent(X)
        params = outputs.noise_draws(self._likelihood, self._posterior)
        rng = self._random_generator(random_state)
        y_rep = self._draw_y(f, params, y_err, rng)
        return self._predictive(X, y_err, self._posterior, f, y_rep, "posterior")

    def sample_prior_predictive(self, X, draws: int = 500, random_state=None):
        """Draws of y at ``X`` with every parameter drawn from its prior.

        Defined after ``fit`` only: the weight prior acts on the standardised network, so the
        prior of ``f`` in the units of y depends on the input and target scaling that ``fit``
        learned from the training data. The prior predictive is therefore the prior of the
        fitted model (same architecture, same scaling), evaluated at ``X``.

        Parameters
        ----------
        X : array_like (m, p)
        draws : int
            Draws from the prior (one chain).
        random_state : int, Generator or None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        InferenceData
            ``prior``: weights (standardised scale), ``tau_*`` and noise parameters;
            ``prior_predictive``: ``y`` and the latent ``f`` on ``(1, draws, obs[, class])``.
        """
        X = self._validate_new_X(X)
        draws = check_positive_int(draws, "draws")
        rng = self._random_generator(random_state)
        prior, theta = outputs.prior_draws(
            self._net, self._weight_prior, self._likelihood, draws, rng
        )
        f = self._latent(X, theta)
        params = {name: prior[name][..., None] for name in self._likelihood.free_params}
        y_rep = self._draw_y(f, params, None, rng)
        return self._predictive(X, None, prior, f, y_rep, "prior")

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
        X = self._validate_new_X(X)
        f = self._latent(X)
        if self._classes() is not None:
            f = outputs.probabilities(self._likelihood, f)[..., -1]
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
