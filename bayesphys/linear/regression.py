"""Bayesian linear regression: conjugate, empirical-Bayes, MAP and NUTS on one model spec."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln
from sklearn.utils.validation import check_array

from bayesphys.core.base import Estimator
from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import (
    MAP,
    NUTS,
    Conjugate,
    Evidence,
    InferenceMethod,
    resolve_method,
)
from bayesphys.core.interrupts import interrupted_attrs
from bayesphys.core.likelihoods import Likelihood
from bayesphys.core.priors import Prior
from bayesphys.core.schema import predictive_inference_data
from bayesphys.core.validation import (
    check_magnitude,
    check_positive_int,
    check_y_err,
    naming_argument,
)
from bayesphys.linear.inference.conjugate import fit_closed_form
from bayesphys.linear.inference.evidence import collapsed_noise, fit_evidence
from bayesphys.linear.inference.map import fit_map
from bayesphys.linear.inference.nuts import fit_nuts
from bayesphys.linear.predictors import Draws, PointEstimate
from bayesphys.linear.spec import resolve_spec

__all__ = ["MAX_LOG_LIKELIHOOD_SIZE", "BayesianLinearRegression", "UnboundedEvidenceWarning"]

# Pointwise log-likelihoods and replicated y at the training inputs are chains*draws*n numbers
# each; past this many, storing them would cost gigabytes, so they are left out with a warning
# (az.loo needs the first, az.plot_ppc the second; fit with fewer draws to keep them).
MAX_LOG_LIKELIHOOD_SIZE = 50_000_000
# Draws x observations per block of the pointwise log-likelihood and replicated y (8 MB).
_BLOCK_VALUES = 1 << 20
_MODEL = "BayesianLinearRegression"
_DIMS = {"coef": ["feature"]}


class UnboundedEvidenceWarning(RuntimeWarning):
    """``method="evidence"`` on data the model fits exactly: the evidence has no maximum."""


class BayesianLinearRegression(Estimator):
    """Bayesian linear regression ``y = intercept + X @ coef + noise``.

    Parameters
    ----------
    coef_prior : Prior or None
        Prior of each coefficient (broadcast over features): ``Normal`` (ridge / conjugate),
        ``Laplace`` (lasso), ``Horseshoe``, ``StudentT``, ... Priors are in the units of X and y.
        ``None`` (the default) is ``Normal(0, 10)``.
    noise : float, Prior or None
        Noise standard deviation sigma: a fixed value, or a prior on sigma (``None``, the
        default, is ``HalfNormal(1)``). For a prior on the variance (the conjugate
        ``InverseGamma``), pass ``likelihood=Gaussian(variance=...)``.
    fit_intercept : bool
        Fit an intercept.
    intercept_prior : Prior or None
        ``None`` is a flat prior (the intercept is unpenalised, as in scikit-learn), integrated
        out exactly; evidences of models sharing it are comparable. A flat prior is improper, so
        ``sample_prior_predictive`` needs a proper one.
    likelihood : Gaussian or StudentT, optional
        Full control of the likelihood (Student-t for outliers); overrides ``noise``.
    coef_prior_scaled_by_noise : bool
        Coefficient prior conditional on the noise, ``coef | sigma^2 ~ N(mu, sigma^2 s^2)``: with
        an InverseGamma variance prior this is the conjugate Normal-Inverse-Gamma model. A
        proper ``intercept_prior`` (then a ``Normal``) is scaled by the noise in the same way;
        a flat one stays flat.
    method : "auto", str or InferenceMethod
        :class:`~bayesphys.inference.Conjugate` (exact posterior, exact iid draws),
        :class:`~bayesphys.inference.Evidence` (prior scale and noise at the maximum of the
        evidence, as scikit-learn's ``BayesianRidge``), :class:`~bayesphys.inference.MAP`
        (ridge, lasso, any smooth prior) or :class:`~bayesphys.inference.NUTS` (PyMC), or their
        names as strings. ``"auto"`` is ``Conjugate()`` when the prior/likelihood pair admits a
        closed form, else ``NUTS()``. ``NUTS.chain_groups`` is not supported (one PyMC run).
    random_state : None, int or numpy Generator
        Seed of the exact draws, of NUTS and of the posterior-predictive draws.
    log_likelihood : bool
        Store pointwise log-likelihoods (chains x draws x n numbers) for ``loo``/``compare``.
        Skipped, with a warning, past ``MAX_LOG_LIKELIHOOD_SIZE`` values; MAP fits have none.

    Attributes
    ----------
    coef_ : ndarray (p,)
        Posterior mean of the coefficients (the mode for MAP).
    intercept_ : float
        Posterior mean (MAP: mode) of the intercept; 0 without one.
    coef_cov_ : ndarray (p, p) or None
        Posterior covariance of the coefficients (MAP: its Gaussian approximation at the mode;
        ``None`` where the log posterior is not curved there). Infinite for a
        Normal-Inverse-Gamma posterior with ``a_N <= 1`` (very little data and a prior
        ``InverseGamma(a, b)`` with ``a < 1``), whose Student-t marginals have no variance.
    noise_ : float
        Posterior mean (MAP: mode; evidence: optimum) of the noise scale sigma.
    log_evidence_ : float or None
        Exact log marginal likelihood (conjugate and evidence fits). ``inf``, with an
        :class:`UnboundedEvidenceWarning`, for an evidence fit of data that the model
        reproduces exactly (noise-free or constant ``y`` and no ``y_err``): the evidence then
        grows without bound as the noise goes to 0.
    coef_prior_scale_ : float
        The evidence-optimal prior scale (``method="evidence"`` only).
    method_ : str
        Name of the inference method used ("auto" resolved).
    idata_ : InferenceData
        The fit in the shared schema (``bayesphys.core.schema``): posterior, log-likelihood
        and replicated ``y`` at the training inputs (fits with draws), sampler statistics
        (NUTS), observed and constant data. Built on first access (then kept): a fit computes
        no draws, log-likelihoods or replicated ``y`` that nothing asks for, and the same seed
        gives the same values whenever they are made.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` (only then).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesphys import BayesianLinearRegression
    >>> from bayesphys.priors import Normal
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2)); y = X @ [1.0, -2.0] + 0.1 * rng.normal(size=50)
    >>> model = BayesianLinearRegression(Normal(0, 10), noise=0.1, random_state=1).fit(X, y)
    >>> np.round(model.coef_, 1)
    array([ 1., -2.])
    """

    supported_methods: ClassVar[dict[str, type[InferenceMethod]]] = {
        "conjugate": Conjugate,
        "evidence": Evidence,
        "map": MAP,
        "nuts": NUTS,
    }

    def __init__(
        self,
        coef_prior: Prior | None = None,
        noise: float | Prior | None = None,
        fit_intercept: bool = True,
        *,
        intercept_prior: Prior | None = None,
        likelihood: Likelihood | None = None,
        coef_prior_scaled_by_noise: bool = False,
        method: str | InferenceMethod = "auto",
        random_state=None,
        log_likelihood: bool = True,
    ):
        self.coef_prior = coef_prior
        self.noise = noise
        self.fit_intercept = fit_intercept
        self.intercept_prior = intercept_prior
        self.likelihood = likelihood
        self.coef_prior_scaled_by_noise = coef_prior_scaled_by_noise
        self.method = method
        self.random_state = random_state
        self.log_likelihood = log_likelihood

    # ------------------------------------------------------------------ configuration
    def _spec_from_params(self):
        return resolve_spec(
            self.coef_prior,
            self.noise,
            self.fit_intercept,
            self.intercept_prior,
            self.likelihood,
            self.coef_prior_scaled_by_noise,
        )

    def _checked_method(self, spec, y_err) -> tuple[InferenceMethod, str | None]:
        """The validated method object (``"auto"`` resolved) and the closed form it may use."""
        kind = spec.conjugacy(y_err)
        method = self.method
        if isinstance(method, str) and method == "auto":
            method = "conjugate" if kind else "nuts"
        elif isinstance(method, str) and method not in self.supported_methods:
            raise ValueError(
                f"{_MODEL} does not support method={method!r}; supported: "
                f"{['auto', *sorted(self.supported_methods)]} (as strings or "
                "bayesphys.inference objects)"
            )
        method = resolve_method(method, self.supported_methods, _MODEL)
        if isinstance(method, Conjugate) and kind is None:
            raise ValueError(
                f"method='conjugate' is not available: {spec.why_not_conjugate(y_err)}; "
                "use method='nuts' (or 'map')"
            )
        if isinstance(method, NUTS) and method.chain_groups is not None:
            raise ValueError(
                f"NUTS.chain_groups={method.chain_groups} is not supported by {_MODEL}: its "
                "chains run in one PyMC call; leave chain_groups=None"
            )
        if isinstance(method, MAP) and method.n_restarts != 0:
            raise ValueError(
                f"MAP.n_restarts={method.n_restarts} is not supported by {_MODEL}: ridge and "
                "lasso are convex (one optimum, found exactly) and other priors start from the "
                "least-squares-like point; leave n_restarts=0"
            )
        return method, kind

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, y_err=None, *, progressbar=None, client=None) -> BayesianLinearRegression:
        """Fit the posterior.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations): variance ``y_err**2 + sigma**2``.
        progressbar : bool, optional
            Show NUTS progress (default: on for NUTS; other methods show none). Ctrl-C during
            NUTS keeps the draws collected so far (PyMC).
        client : None
            Not supported (linear fits run in this process); passing a Dask client raises.

        Returns
        -------
        self
        """
        if client is not None:
            raise ValueError(
                f"{_MODEL} does not run on a Dask client (its fits are closed forms or one PyMC "
                "run in this process): pass client=None"
            )
        if not isinstance(self.log_likelihood, bool):
            raise TypeError(f"log_likelihood must be True or False, got {self.log_likelihood!r}")
        spec = self._spec_from_params()
        # X's values (finiteness, magnitude) are checked below: a closed form proves them from
        # its Gram matrix, which saves two of the three passes over X of such a fit.
        X, y, y_err = self._validate_training_data(X, y, y_err, check_X_values=False)
        spec.check_data(X.shape[1], y_err)
        method, kind = self._checked_method(spec, y_err)
        if not isinstance(method, Conjugate):
            self._check_X_values(X)
        show = self._progressbar(progressbar, method)
        rng = self._random_generator()
        if isinstance(method, Conjugate):
            outcome = fit_closed_form(
                spec, X, y, y_err, kind, method.chains, method.draws, self._check_X_values
            )
        elif isinstance(method, Evidence):
            outcome = fit_evidence(spec, X, y, y_err, method.chains, method.draws)
        elif isinstance(method, MAP):
            outcome = fit_map(spec, X, y, y_err, method.max_iter)
        else:
            seed = int(rng.integers(2**31 - 1))
            outcome = fit_nuts(
                spec,
                X,
                y,
                y_err,
                feature_names=self._feature_labels(),
                method=method,
                seed=seed,
                progressbar=show,
            )
        if outcome.log_evidence is not None and not np.isfinite(outcome.log_evidence):
            # A last guard: no fit may hand back a NaN or infinite evidence as a result.
            raise ValueError(
                f"the log evidence of this fit is {outcome.log_evidence}: the data are "
                "degenerate for this model (check X and y for duplicated or constant columns "
                "and their scales) or the noise is too small; fix the noise or pass y_err"
            )
        if isinstance(method, Evidence) and spec.noise_kind != "fixed" and y_err is None:
            self._flag_unbounded_evidence(outcome, y, spec.flat_intercept)
        self._spec = spec
        self._predictive = outcome.extras["predictive"]
        self.method_ = method.name
        self.interrupted_ = outcome.interrupted  # Ctrl-C in NUTS: partial, marked
        self.log_evidence_ = outcome.log_evidence
        self._set_point_attributes(outcome)
        self._defer_idata(outcome, X, y, y_err, rng)
        return self

    # ------------------------------------------------------------------ the lazy idata_
    def _defer_idata(self, outcome: FitResult, X, y, y_err, rng) -> None:
        """Keep what ``idata_`` is made of; its draws and heavy groups are made on first use.

        The generator is copied in the state an eager fit would have drawn from, so the lazy
        draws are the eager ones, bit for bit. A ``Generator`` passed as ``random_state`` still
        moves on (one draw), so that two fits sharing it draw differently, as before.
        """
        self.__dict__.pop("_idata", None)
        self._pending_fit = _PendingFit(
            outcome, X, y, y_err, copy.deepcopy(rng), self.fit_intercept, self.log_likelihood
        )
        rng.integers(2**63 - 1)

    @property
    def idata_(self):
        """The fit in the shared schema (see the class docstring), built on first access."""
        idata = self.__dict__.get("_idata")
        if idata is None:
            if "_pending_fit" not in self.__dict__:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute 'idata_'")
            idata = self._idata = self._build_idata()
        return idata

    def _posterior_draws(self) -> dict[str, np.ndarray]:
        """The fit's draws ``(chain, draw, ...)``; exact (closed-form) draws are made here, once."""
        pending = self._pending_fit
        if pending.posterior is None:
            rng = copy.deepcopy(pending.rng)
            deferred = pending.outcome.extras.get("deferred_draws")
            posterior = dict(pending.outcome.posterior) if deferred is None else deferred(rng)
            if not pending.fit_intercept:
                posterior.pop("intercept", None)
            pending.posterior, pending.rng_after_draws = posterior, rng
        return pending.posterior

    @staticmethod
    def _flag_unbounded_evidence(outcome: FitResult, y, flat_intercept: bool) -> None:
        """Noise-free or constant data: the evidence has no maximum. Warn and report it as
        ``+inf`` (its supremum) instead of the arbitrary number the optimiser stopped at.

        A warning, not an error: the coefficients (the exact fit) and predictions are right,
        and a regressor must fit exactly linear data (scikit-learn's checks do); only the
        evidence, and the noise and prior scale at its "optimum", mean nothing.
        """
        why = collapsed_noise(y, outcome.extras["attributes"]["noise_"], flat_intercept)
        if why is None:
            return
        warnings.warn(
            f"method='evidence': {why}, so the evidence grows without bound as the noise goes "
            "to 0 and has no optimum: log_evidence_ is set to inf and noise_ is round-off. Fix "
            "the noise (noise=<sigma>, e.g. the precision of the data) or pass y_err for a "
            "finite evidence",
            UnboundedEvidenceWarning,
            stacklevel=3,
        )
        outcome.log_evidence = np.inf

    def _set_point_attributes(self, outcome: FitResult):
        pred = outcome.extras["predictive"]
        if isinstance(pred, Draws):
            self.coef_ = pred.coef.mean(axis=0)
            self.intercept_ = float(pred.intercept.mean())
            self.coef_cov_ = np.atleast_2d(np.cov(pred.coef, rowvar=False))
        elif isinstance(pred, PointEstimate):
            self.coef_, self.intercept_ = pred.coef, float(pred.intercept)
            if pred.closed_form is not None:
                self.coef_cov_ = _slope_cov(pred.closed_form)
            else:
                self.coef_cov_ = None if pred.cov is None else pred.cov[1:, 1:]
        else:
            self.coef_ = pred.post.mean[1:] if pred.augmented else pred.post.mean
            self.intercept_ = (
                float(pred.post.mean[0]) if pred.augmented else pred.post.intercept_mean()
            )
            self.coef_cov_ = _slope_cov(pred)
            if pred.nig is not None:
                a_n, b_n = pred.nig
                if a_n > 1.0:
                    self.coef_cov_ = self.coef_cov_ * b_n / (a_n - 1.0)
                else:  # the marginal Student-t of the coefficients has no finite variance
                    cov = self.coef_cov_
                    self.coef_cov_ = np.where(cov == 0.0, 0.0, np.copysign(np.inf, cov))
        self.noise_ = self._noise_scale(outcome)
        for name, value in outcome.extras["attributes"].items():
            setattr(self, name, value)

    def _noise_scale(self, outcome: FitResult) -> float:
        """Posterior mean of the noise scale sigma (exact for Normal-Inverse-Gamma)."""
        pred = outcome.extras["predictive"]
        if "noise_" in outcome.extras["attributes"]:
            return float(outcome.extras["attributes"]["noise_"])
        if getattr(pred, "nig", None) is not None:
            a_n, b_n = pred.nig
            return float(np.sqrt(b_n) * np.exp(gammaln(a_n - 0.5) - gammaln(a_n)))
        if "sigma" in outcome.posterior:
            return float(np.mean(outcome.posterior["sigma"]))
        fixed = self._spec.likelihood.fixed_params
        return float(fixed["sigma"]) if "sigma" in fixed else float(np.sqrt(fixed["variance"]))

    def _build_idata(self):
        pending = self._pending_fit
        outcome, X, y, y_err = pending.outcome, pending.X, pending.y, pending.y_err
        posterior = self._posterior_draws()
        rng = copy.deepcopy(pending.rng_after_draws)
        log_lik = replicated = None
        if not isinstance(self._predictive, PointEstimate):  # a point has no draws to check
            chains, draws = posterior["coef"].shape[:2]
            if chains * draws * len(y) <= MAX_LOG_LIKELIHOOD_SIZE:
                if pending.log_likelihood:
                    log_lik = self._pointwise_log_likelihood(posterior, X, y, y_err)
                replicated = self._replicate(posterior, X, y_err, rng)
            elif pending.log_likelihood:
                warnings.warn(
                    f"pointwise log-likelihood and posterior predictive not stored "
                    f"({chains}x{draws}x{len(y)} values each); fit with fewer draws to use "
                    "loo/compare/plot_ppc, or log_likelihood=False to silence this",
                    RuntimeWarning,
                    stacklevel=3,  # the user's first access of idata_ (through the property)
                )
        return self._fit_idata(
            posterior,
            X,
            y,
            y_err,
            sample_stats=outcome.sample_stats,
            attrs=interrupted_attrs(outcome.progress),
            log_likelihood=log_lik,
            posterior_predictive=replicated,
            dims=_DIMS,
        )

    def _pointwise_log_likelihood(self, posterior, X, y, y_err):
        lik = self._spec.likelihood
        return self._per_block(posterior, X, lambda f, p: lik.logpdf(y, f, y_err=y_err, **p))

    def _replicate(self, posterior, X, y_err, rng) -> np.ndarray:
        """Draws of y at ``X`` (chain, draw, obs): one per posterior draw."""
        lik = self._spec.likelihood
        return self._per_block(posterior, X, lambda f, p: lik.sample(f, rng=rng, y_err=y_err, **p))

    def _per_block(self, posterior, X, func) -> np.ndarray:
        """``func(f, likelihood params)`` over blocks of consecutive draws of one chain, written
        into one (chain, draw, obs) array: the temporaries stay ~``_BLOCK_VALUES`` numbers.

        Blocks follow the (chain, draw, obs) order, so random draws come in the order of one
        call over everything (the same numbers for the same seed).
        """
        chains, draws = np.shape(posterior["coef"])[:2]
        out = np.empty((chains, draws, len(X)))
        step = max(1, _BLOCK_VALUES // max(len(X), 1))
        for chain in range(chains):
            for start in range(0, draws, step):
                block = (slice(chain, chain + 1), slice(start, start + step))
                values = {k: np.asarray(v)[block] for k, v in posterior.items()}
                params = _likelihood_params(values, self._spec.likelihood, self.noise_)
                out[block] = func(_latent_draws(values, X), params)
        return out

    # ------------------------------------------------------------------ prediction
    def predict(self, X, return_std: bool = False, include_noise: bool = False):
        """Posterior mean of ``f(x) = intercept + x coef`` (and its std) at ``X``.

        Parameters
        ----------
        X : array_like (m, p)
        return_std : bool
            Also return the posterior standard deviation.
        include_noise : bool
            Add the learned noise variance (the std of a new observation, without ``y_err``);
            by default the std is that of the latent ``f(x)`` (epistemic only). MAP fits use
            the Gaussian approximation at the mode (exact for a Normal prior at fixed noise).

        Returns
        -------
        mean : ndarray (m,)
        std : ndarray (m,), only with ``return_std``
        """
        X = self._validate_new_X(X)
        if not return_std:
            return self._predictive.mean(X)
        mean, var = self._predictive.moments(X, include_noise)
        return mean, np.sqrt(var)

    def sample_posterior_predictive(self, X, y_err=None, random_state=None):
        """Posterior predictive draws of y at ``X``.

        Parameters
        ----------
        X : array_like (m, p)
        y_err : float or array (m,), optional
            Known measurement errors of the new points, added to the noise of the draws.
        random_state : None, int or numpy Generator
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        InferenceData with ``posterior`` (the fit's draws) and ``posterior_predictive`` ``y``
        on (chain, draw, obs); ``constant_data`` holds ``X`` and ``y_err``. A zero-noise model
        (``noise=0`` and no ``y_err``) gives the latent ``f(X)`` draws.

        Raises
        ------
        ValueError
            For a MAP fit, which has a single point and no posterior draws.
        """
        X = self._validate_new_X(X)
        if isinstance(self._predictive, PointEstimate):
            raise ValueError(
                "a MAP fit is a single point with no posterior draws to predict from: fit "
                "with method='conjugate', 'evidence' or 'nuts' for predictive draws"
            )
        y_err = check_y_err(y_err, len(X))
        draws = self._posterior_draws()
        y_rep = self._replicate(draws, X, y_err, self._random_generator(random_state))
        return self._predictive_idata(
            draws,
            y_rep,
            X,
            y_err,
            kind="posterior",
            dims=_DIMS,
        )

    def sample_prior_predictive(self, X, draws: int = 500, random_state=None):
        """Draws of the parameters from their priors and of y at ``X`` given them.

        Coefficients come from ``coef_prior`` (scaled by the noise draw with
        ``coef_prior_scaled_by_noise``), the intercept from ``intercept_prior`` and the noise
        parameters from their priors (or their fixed values). Measurement errors of the new
        points are not known here: the draws carry the model's noise only. Works before
        ``fit`` (then any number of features is accepted).

        Parameters
        ----------
        X : array_like (m, p)
        draws : int
            Number of prior draws (one chain).
        random_state : None, int or numpy Generator
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        InferenceData with ``prior`` (``coef``, ``intercept``, noise parameters) and
        ``prior_predictive`` ``y`` of shape (1, draws, m).

        Raises
        ------
        ValueError
            If a prior is improper: a flat intercept (``intercept_prior=None`` with
            ``fit_intercept=True``) cannot be sampled.
        """
        spec = self._spec_from_params()
        if spec.flat_intercept:
            raise ValueError(
                "the intercept has a flat (improper) prior, intercept_prior=None, which cannot "
                "be sampled: set intercept_prior (e.g. Normal(0, 10) in the units of y) or "
                "fit_intercept=False to draw from the prior predictive"
            )
        draws = check_positive_int(draws, "draws")
        if hasattr(self, "n_features_in_"):  # fitted: the same feature checks as predict
            X = self._validate_new_X(X)
            names = self._feature_labels()
        else:
            columns = getattr(X, "columns", None)
            with naming_argument("X"):
                X = check_array(X, dtype=np.float64, input_name="X")
            check_magnitude(X, "X", tiny=False)
            names = [f"x{j}" for j in range(X.shape[1])] if columns is None else list(columns)
        p = X.shape[1]
        spec.check_data(p, None, noise=False)
        rng = self._random_generator(random_state)
        coef = _prior_draws(spec.coef_prior, draws, p, rng)
        lik = spec.likelihood
        params = {k: pr.sample(draws, rng).reshape(draws) for k, pr in lik.free_params.items()}
        if spec.coef_prior_scaled_by_noise:
            values = {**lik.fixed_params, **params}
            scale = np.sqrt(values["variance"]) if "variance" in values else values["sigma"]
            center = np.broadcast_to(np.asarray(spec.coef_prior.mu, float), (p,))
            coef = center + np.reshape(scale, (-1, 1)) * (coef - center)
        f = coef @ X.T
        parameters = {"coef": coef}
        if spec.fit_intercept:
            intercept = spec.intercept_prior.sample(draws, rng).reshape(draws)
            if spec.coef_prior_scaled_by_noise:  # scaled as the coefficients are (Normal)
                mu = float(spec.intercept_prior.mu)
                intercept = mu + np.reshape(scale, -1) * (intercept - mu)
            f = f + intercept[:, None]
            parameters["intercept"] = intercept
        y = lik.sample(f, rng=rng, **{k: v[:, None] for k, v in params.items()})
        parameters.update(params)
        if "variance" in params and "sigma" not in params:
            parameters["sigma"] = np.sqrt(params["variance"])
        return predictive_inference_data(
            {k: v[None] for k, v in parameters.items()},
            y[None],
            X=X,
            y_err=None,
            feature_names=[str(name) for name in names],
            method=getattr(self, "method_", str(getattr(self.method, "name", self.method))),
            model=_MODEL,
            kind="prior",
            dims=_DIMS,
        )


@dataclass
class _PendingFit:
    """What a fit's ``idata_`` is built from, until it is first asked for."""

    outcome: FitResult
    X: np.ndarray
    y: np.ndarray
    y_err: np.ndarray | None
    rng: np.random.Generator  # the state the draws start from
    fit_intercept: bool  # the settings of the fit (set_params may change them afterwards)
    log_likelihood: bool
    posterior: dict[str, Any] | None = None  # the draws, once made
    rng_after_draws: np.random.Generator | None = field(default=None, repr=False)


def _prior_draws(prior: Prior, draws: int, p: int, rng) -> np.ndarray:
    """``draws`` prior draws of the ``p`` coefficients, shaped (draws, p)."""
    if prior.batch_shape == (p,):
        return prior.sample(draws, rng)
    return prior.sample((draws, p), rng).reshape(draws, p)


def _latent_draws(posterior, X) -> np.ndarray:
    """``f = intercept + X coef`` for every draw, shaped (chain, draw, obs)."""
    f = np.einsum("cdp,np->cdn", np.asarray(posterior["coef"]), X)
    if "intercept" in posterior:
        f = f + np.asarray(posterior["intercept"])[..., None]
    return f


def _slope_cov(cf):
    cov = cf.post.cov()
    return cov[1:, 1:] if cf.augmented else cov


def _likelihood_params(posterior, likelihood, noise):
    """Draws of the likelihood's free parameters, shaped (chain, draw, 1) to broadcast over obs.

    A free noise without draws (empirical Bayes fixes it at the evidence optimum) takes ``noise``.
    """
    params = {}
    sigma = np.asarray(posterior["sigma"])[..., None] if "sigma" in posterior else noise
    for name in likelihood.free_params:
        if name in posterior:
            params[name] = np.asarray(posterior[name])[..., None]
        elif name == "variance":
            params[name] = sigma**2
        elif name == "sigma":
            params[name] = sigma
    return params
