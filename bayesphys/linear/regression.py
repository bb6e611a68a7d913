"""Bayesian linear regression: conjugate, empirical-Bayes, MAP and NUTS on one model spec."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import gammaln

from bayesphys.core import results
from bayesphys.core.base import Estimator
from bayesphys.core.likelihoods import Likelihood
from bayesphys.core.priors import Prior
from bayesphys.core.validation import (
    check_choice,
    check_positive_int,
    check_random_state,
    check_X_y,
    check_y_err,
)
from bayesphys.linear import _fits
from bayesphys.linear._predictive import Draws, PointEstimate
from bayesphys.linear._spec import DEFAULT_COEF_PRIOR, DEFAULT_NOISE, resolve_spec

METHODS = ("auto", "conjugate", "evidence", "map", "nuts")
# Pointwise log-likelihoods are chains*draws*n numbers; past this many, storing them would
# cost gigabytes, so they are left out with a warning (az.loo needs them; thin or subsample).
MAX_LOG_LIKELIHOOD_SIZE = 50_000_000


class BayesianLinearRegression(Estimator):
    """Bayesian linear regression ``y = intercept + X @ coef + noise``.

    Parameters
    ----------
    coef_prior : Prior
        Prior of each coefficient (broadcast over features): ``Normal`` (ridge / conjugate),
        ``Laplace`` (lasso), ``Horseshoe``, ``StudentT``, ... Priors are in the units of X and y.
    noise : float or Prior
        Noise standard deviation sigma: a fixed value, or a prior on sigma. For a prior on the
        variance (the conjugate ``InverseGamma``), pass ``likelihood=Gaussian(variance=...)``.
    fit_intercept : bool
        Fit an intercept.
    intercept_prior : Prior or None
        ``None`` is a flat prior (the intercept is unpenalised, as in scikit-learn), integrated
        out exactly; evidences of models sharing it are comparable.
    likelihood : Gaussian or StudentT, optional
        Full control of the likelihood (Student-t for outliers); overrides ``noise``.
    coef_prior_scaled_by_noise : bool
        Coefficient prior conditional on the noise, ``coef | sigma^2 ~ N(mu, sigma^2 s^2)``: with
        an InverseGamma variance prior this is the conjugate Normal-Inverse-Gamma model.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesphys import BayesianLinearRegression
    >>> from bayesphys.priors import Normal
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2)); y = X @ [1.0, -2.0] + 0.1 * rng.normal(size=50)
    >>> model = BayesianLinearRegression(Normal(0, 10), noise=0.1).fit(X, y, random_seed=1)
    >>> np.round(model.coef_, 1)
    array([ 1., -2.])
    """

    def __init__(
        self,
        coef_prior: Prior = DEFAULT_COEF_PRIOR,
        noise: float | Prior = DEFAULT_NOISE,
        fit_intercept: bool = True,
        *,
        intercept_prior: Prior | None = None,
        likelihood: Likelihood | None = None,
        coef_prior_scaled_by_noise: bool = False,
    ):
        self.coef_prior = coef_prior
        self.noise = noise
        self.fit_intercept = fit_intercept
        self.intercept_prior = intercept_prior
        self.likelihood = likelihood
        self.coef_prior_scaled_by_noise = coef_prior_scaled_by_noise

    def fit(
        self,
        X,
        y,
        y_err=None,
        method: str = "auto",
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        random_seed=None,
        *,
        target_accept: float = 0.9,
        progressbar: bool = True,
        log_likelihood: bool = True,
    ) -> BayesianLinearRegression:
        """Fit the posterior.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations): variance ``y_err**2 + sigma**2``.
        method : {"auto", "conjugate", "evidence", "map", "nuts"}
            ``auto`` is ``conjugate`` when the prior/likelihood pair allows it, else ``nuts``.
        draws, tune, chains : int
            Posterior draws per chain (exact iid draws for closed forms), NUTS tuning steps.
        random_seed : int, Generator or None
        target_accept : float
            NUTS target acceptance (raise towards 0.95-0.99 for funnel-shaped posteriors such as
            the Horseshoe).
        progressbar : bool
            Show NUTS progress. Ctrl-C during NUTS keeps the draws collected so far (PyMC).
        log_likelihood : bool
            Store pointwise log-likelihoods (chains x draws x n numbers) for ``loo``/``compare``.
            Skipped, with a warning, past ``MAX_LOG_LIKELIHOOD_SIZE`` values; MAP fits have none.

        Returns
        -------
        self
        """
        spec = resolve_spec(
            self.coef_prior,
            self.noise,
            self.fit_intercept,
            self.intercept_prior,
            self.likelihood,
            self.coef_prior_scaled_by_noise,
        )
        check_choice(method, "method", METHODS)
        draws = check_positive_int(draws, "draws")
        chains = check_positive_int(chains, "chains")
        tune = check_positive_int(tune, "tune", minimum=0)
        feature_names = _feature_names(X)
        X, y, y_err = check_X_y(X, y, y_err, min_samples=2)
        rng = check_random_state(random_seed)
        spec.check_data(X.shape[1], y_err)
        kind = spec.conjugacy(y_err)
        if method == "auto":
            method = "conjugate" if kind else "nuts"
        if method == "conjugate" and kind is None:
            raise ValueError(
                f"method='conjugate' is not available: {spec.why_not_conjugate(y_err)}; "
                "use method='nuts' (or 'map')"
            )
        if method == "conjugate":
            outcome = _fits.fit_closed_form(spec, X, y, y_err, kind, chains, draws, rng)
        elif method == "evidence":
            outcome = _fits.fit_evidence(spec, X, y, y_err, chains, draws, rng)
        elif method == "map":
            outcome = _fits.fit_map(spec, X, y, y_err)
        else:
            seed = int(rng.integers(2**31 - 1))
            outcome = _fits.fit_nuts(
                spec,
                X,
                y,
                y_err,
                feature_names=feature_names,
                chains=chains,
                draws=draws,
                tune=tune,
                seed=seed,
                target_accept=target_accept,
                progressbar=progressbar,
                log_likelihood=log_likelihood,
            )
        self._spec = spec
        self._predictive = outcome.predictive
        self.method_ = method
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(feature_names)
        self.log_evidence_ = outcome.log_evidence
        self._set_point_attributes(outcome)
        self.idata_ = outcome.idata or self._build_idata(
            outcome.posterior, X, y, y_err, method, log_likelihood
        )
        return self

    def _set_point_attributes(self, outcome):
        pred = outcome.predictive
        if isinstance(pred, Draws):
            self.coef_ = pred.coef.mean(axis=0)
            self.intercept_ = float(pred.intercept.mean())
            self.coef_cov_ = np.atleast_2d(np.cov(pred.coef, rowvar=False))
        elif isinstance(pred, PointEstimate):
            self.coef_, self.intercept_ = pred.coef, float(pred.intercept)
            self.coef_cov_ = None if pred.closed_form is None else _slope_cov(pred.closed_form)
        else:
            self.coef_ = pred.post.mean[1:] if pred.augmented else pred.post.mean
            self.intercept_ = (
                float(pred.post.mean[0]) if pred.augmented else pred.post.intercept_mean()
            )
            self.coef_cov_ = _slope_cov(pred)
            if pred.nig is not None:
                a_n, b_n = pred.nig
                self.coef_cov_ = self.coef_cov_ * b_n / (a_n - 1.0)
        self.noise_ = self._noise_scale(outcome)
        for name, value in outcome.extras.items():
            setattr(self, name, value)

    def _noise_scale(self, outcome) -> float:
        """Posterior mean of the noise scale sigma (exact for Normal-Inverse-Gamma)."""
        pred = outcome.predictive
        if "noise_" in outcome.extras:
            return float(outcome.extras["noise_"])
        if getattr(pred, "nig", None) is not None:
            a_n, b_n = pred.nig
            return float(np.sqrt(b_n) * np.exp(gammaln(a_n - 0.5) - gammaln(a_n)))
        posterior = outcome.idata.posterior if outcome.idata is not None else outcome.posterior
        if "sigma" in posterior:
            return float(np.mean(posterior["sigma"]))
        fixed = self._spec.likelihood.fixed_params
        return float(fixed["sigma"]) if "sigma" in fixed else float(np.sqrt(fixed["variance"]))

    def _build_idata(self, posterior, X, y, y_err, method, store_log_likelihood):
        dims = {"coef": ["feature"], "y": ["obs"]}
        coords = {"feature": list(self.feature_names_in_), "obs": np.arange(len(y))}
        if not self.fit_intercept:
            posterior = {k: v for k, v in posterior.items() if k != "intercept"}
        log_lik = None
        chains, draws = posterior["coef"].shape[:2]
        if not store_log_likelihood or isinstance(self._predictive, PointEstimate):
            pass  # a point estimate has no draws to cross-validate over
        elif chains * draws * len(y) <= MAX_LOG_LIKELIHOOD_SIZE:
            log_lik = {"y": self._pointwise_log_likelihood(posterior, X, y, y_err)}
        else:
            warnings.warn(
                f"pointwise log-likelihood not stored ({chains}x{draws}x{len(y)} values); "
                "fit with fewer draws to use loo/compare, or log_likelihood=False to silence this",
                RuntimeWarning,
                stacklevel=3,
            )
        return results.to_inference_data(
            posterior,
            log_likelihood=log_lik,
            observed_data={"y": y},
            constant_data=_constant_data(y_err),
            coords=coords,
            dims=dims,
            attrs={"inference_method": method, "model": "BayesianLinearRegression"},
        )

    def _pointwise_log_likelihood(self, posterior, X, y, y_err):
        # One chain at a time keeps the temporaries to a chain's worth of (draw, obs) values.
        out = []
        for chain in range(posterior["coef"].shape[0]):
            draws = {k: np.asarray(v)[chain : chain + 1] for k, v in posterior.items()}
            f = _latent_draws(draws, X)
            params = _likelihood_params(draws, self._spec.likelihood, self.noise_)
            out.append(self._spec.likelihood.logpdf(y, f, y_err=y_err, **params))
        return np.concatenate(out, axis=0)

    def predict(self, X, return_std: bool = False, include_noise: bool = True):
        """Posterior predictive mean (and std) at ``X``.

        ``include_noise=False`` gives the std of the latent ``f(x)`` (epistemic only).
        """
        X = self._check_new_X(X)
        if not return_std:
            return self._predictive.mean(X)
        mean, var = self._predictive.moments(X, include_noise)
        return mean, np.sqrt(var)

    def sample_posterior_predictive(self, X, random_seed=None, *, y_err=None):
        """Posterior predictive draws of y at ``X``.

        Parameters
        ----------
        X : array (n, p)
        random_seed : int, Generator or None
        y_err : float or array (n,), optional
            Known measurement errors of the new points, added to the noise of the draws.

        Returns
        -------
        InferenceData with the fit's ``posterior`` and a ``posterior_predictive`` group holding
        ``y`` with dims (chain, draw, obs). A zero-noise model (``noise=0`` and no ``y_err``)
        gives the latent ``f(X)`` draws.
        """
        X = self._check_new_X(X)
        if isinstance(self._predictive, PointEstimate):
            raise ValueError("a MAP fit has no posterior draws: fit with 'conjugate' or 'nuts'")
        y_err = check_y_err(y_err, len(X))
        post = self.idata_.posterior
        draws = {k: post[k].values for k in post.data_vars}
        f = _latent_draws(draws, X)
        params = _likelihood_params(draws, self._spec.likelihood, self.noise_)
        rng = check_random_state(random_seed)
        y_rep = self._spec.likelihood.sample(f, rng=rng, y_err=y_err, **params)
        posterior = {k: v for k, v in draws.items() if k in ("coef", "intercept", "sigma")}
        return results.to_inference_data(
            posterior,
            posterior_predictive={"y": y_rep},
            dims={"y": ["obs"], "coef": ["feature"]},
            coords={"obs": np.arange(len(X)), "feature": list(self.feature_names_in_)},
            attrs={"inference_method": self.method_, "model": "BayesianLinearRegression"},
        )


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


def _constant_data(y_err):
    return None if y_err is None else {"y_err": y_err}


def _feature_names(X) -> list[str]:
    columns = getattr(X, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    n_cols = np.shape(X)[1] if np.ndim(X) == 2 else 0
    return [f"x{j}" for j in range(n_cols)]
