"""Gaussian-process regression with priors on the hyperparameters: MAP, NUTS or sparse GPs."""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
import torch

from bayesphys.core.base import Estimator
from bayesphys.core.distributed import check_client
from bayesphys.core.fit_result import FitResult
from bayesphys.core.inference import MAP, NUTS, SGPR, SVGP, InferenceMethod
from bayesphys.core.interrupts import interrupted_attrs
from bayesphys.core.priors import Fixed, Prior
from bayesphys.core.schema import OBS_DIM, fit_inference_data
from bayesphys.core.threads import torch_threads
from bayesphys.core.validation import (
    check_bool,
    check_choice,
    check_positive_int,
    check_y_err,
)
from bayesphys.gp import predictive
from bayesphys.gp.hyperparameters import feature_dims, point_values
from bayesphys.gp.hyperparameters import values as hyperparameter_values
from bayesphys.gp.inference import map as gp_map
from bayesphys.gp.inference import nuts, sgpr, svgp
from bayesphys.gp.kernels import Kernel, compile_kernel, kernel_from_string
from bayesphys.gp.linalg import NotPositiveDefiniteError, flush_denormals
from bayesphys.gp.model import MEAN_NAMES, GPModel

# Default threads for GP work (torch intra-op and the BLAS behind SciPy's LAPACK): one was
# faster at every size measured on small shared machines (benchmarks/README.md, "GP linear
# algebra and threads"), where spin-waiting threads cost more than they gain.
# With idle cores, pass num_threads=None.
DEFAULT_THREADS = 1


def _check_noise(noise) -> None:
    """``noise`` is None, a Prior or one number (arrays are not per-point noises: y_err is)."""
    if noise is None or isinstance(noise, Prior):
        return
    if isinstance(noise, bool | np.bool_) or not isinstance(noise, numbers.Real):
        raise TypeError(
            "noise must be one number (a fixed standard deviation), a Prior or None; got "
            f"{noise!r} (known per-point errors go to fit(..., y_err=...))"
        )


def _fit_sparse(model: GPModel, rng, method, progressbar: bool):
    """An SGPR or SVGP fit, whose singular matrices raise the documented error.

    Both bounds divide by the noise variance of every point: with the noise fixed at 0 and no
    ``y_err`` they are undefined, so that case is refused before any work; any other failed
    factorisation inside (torch's ``LinAlgError``) becomes a ``NotPositiveDefiniteError``.
    """
    noise = next(p for p in model.space.params if p.kind == "noise")
    if model.err2 is None and isinstance(noise.prior, Fixed) and float(noise.prior.value) == 0:
        raise NotPositiveDefiniteError(
            f"method={method.name!r} with noise=0 and no y_err: the sparse bound divides by "
            "the noise variance of every point, which is 0; set a noise > 0 (or a prior on "
            "it), pass y_err, or use method='map' for an exact noise-free GP"
        )
    try:
        if method.name == "sgpr":
            return sgpr.fit(model, rng, method)
        return svgp.fit(model, rng, method, progressbar=progressbar)
    except (torch.linalg.LinAlgError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, NotPositiveDefiniteError):
            raise
        raise NotPositiveDefiniteError(
            f"method={method.name!r}: a covariance matrix of the sparse fit is not positive "
            f"definite ({exc}); set a larger noise (or pass y_err), use fewer inducing points "
            "(n_inducing) or remove duplicate inputs"
        ) from exc


class GPRegression(Estimator):
    """Gaussian-process regression ``y = m(x) + f(x) + noise``, ``f ~ GP(0, k)``.

    Parameters
    ----------
    kernel : str or Kernel
        ``"rbf"``, ``"matern12"``, ``"matern32"``, ``"matern52"``, ``"rq"``, ``"periodic"``,
        ``"linear"``, or a spec from :mod:`bayesphys.gp.kernels` combined with ``+``/``*``.
        Every product term has its own signal variance (``outputscale``).
    ard : bool
        One lengthscale per input feature (automatic relevance determination).
    mean : {"zero", "constant", "linear"} or callable
        Prior mean. A callable ``m(X) -> (n,)`` (e.g. a physics model) is subtracted, so that
        the GP models the discrepancy ``y - m(X)``.
    priors : dict, optional
        Priors in the original units of X and y, keyed by hyperparameter name
        (``"rbf_lengthscale"``) or kind (``"lengthscale"``, ``"outputscale"``, ``"period"``,
        ``"alpha"``, ``"mean_constant"``, ...). A number fixes the hyperparameter; ``None``
        is a flat prior (maximum marginal likelihood; MAP and sparse fits only). Unlisted ones
        get weakly-informative defaults scaled to the data: ``LogNormal`` centred on each
        feature's standard deviation (lengthscales; the periodic kernel's, which has no units,
        on 1), on ``std(y)**2`` (outputscale) and on ``0.1 std(y)`` (noise).
    noise : float, Prior or None
        Standard deviation of the Gaussian noise, in y units, on top of any known ``y_err``:
        a fixed value (``0.0``: the errors alone), a prior, or ``None`` for the default prior.
    method : {"map", "nuts", "sgpr", "svgp"} or MAP, NUTS, SGPR, SVGP
        How the hyperparameters are inferred (a string is the method with its defaults; the
        objects are in :mod:`bayesphys.inference`):

        - ``MAP(n_restarts=0, max_iter=None)``: exact GP, type-II MAP by L-BFGS-B (no
          Jacobian: the mode of the prior density in the original parametrisation).
          ``n_restarts`` extra starts are drawn from the priors; from n = 1000 on they run on
          a random 500-point subset, whose best optimum starts the full-data fit.
          ``max_iter`` caps each L-BFGS-B run (default 1000).
        - ``NUTS(draws, tune, chains, target_accept, max_treedepth, chain_groups)``: the
          marginal posterior of the hyperparameters by the core's No-U-Turn sampler on the
          LAPACK evidence, in coordinates whitened by the Laplace approximation at the mode
          and then by the covariance of pilot draws (tuning iterations), with step-size
          adaptation towards ``target_accept``; chains start at Laplace draws. The chains form
          ``chain_groups`` groups, each one sampler run with its own random stream and
          step-size adaptation (default: one group per chain with a ``client`` or from 200
          training points on, else one lockstep group); the draws depend on
          ``chain_groups``, not on where the groups run.
        - ``SGPR(n_inducing=128, inducing="kmeans", learn_inducing=True, max_iter=None,
          n_restarts=0)``: the collapsed bound of Titsias (2009), maximised by L-BFGS-B over
          the hyperparameters and (``learn_inducing``) the inducing inputs on a random subset
          of at most 5000 points for at most ``max_iter`` iterations (default 100), then over
          the hyperparameters on all the data; ``O(n m^2)`` per iteration.
        - ``SVGP(n_inducing=128, batch_size=512, steps=1000, learning_rate=0.02, ...)``: the
          uncollapsed ELBO (Hensman et al. 2013) on minibatches of ``batch_size`` points for
          ``steps`` steps: natural-gradient steps on ``q(u)``, Adam (``learning_rate``, in
          units of the log-hyperparameters and of each feature's standard deviation for the
          inducing inputs) on the rest; ``batch_size >= n`` uses every point at every step.

        Both sparse methods start from an exact MAP fit on a random subset of at most 500
        points (with ``n_restarts``) and initialise the inducing inputs at k-means centres
        (``inducing="kmeans"``) or a random subset of the data (``"random"``); with
        ``n_inducing >= n`` the inducing inputs are the data and stay fixed.
    random_state : int, Generator or None
        Seeds restarts, NUTS, inducing-point selection and SVGP minibatches.
    max_predict_draws : int
        Predictions of a NUTS fit mix over at most this many (evenly thinned) draws; predictive
        draws (:meth:`sample_posterior_predictive`) use as many.
    num_threads : int or None
        Torch intra-op and BLAS threads while fitting and predicting (restored afterwards). One
        is fastest on small or shared machines (see ``DEFAULT_THREADS``);
        ``None`` keeps torch's setting, which pays off with idle cores and large n. With a
        ``client``, the threads of each chain-group task.
    chain_threads : int
        NUTS chain groups sampled at once in this process, each on its own thread with
        ``num_threads`` BLAS threads; the draws do not depend on it. Only LAPACK releases
        Python's GIL, so this pays off only where it dominates a leapfrog step (n of a few
        thousand, idle cores; see benchmarks/README.md).

    Attributes
    ----------
    hyperparameters_ : dict of str to float or ndarray
        MAP values (MAP, SGPR, SVGP) or posterior medians (NUTS), original units.
    log_marginal_likelihood_ : float
        ``log p(y | X, hyperparameters_)`` in y units (comparable to scikit-learn's
        ``log_marginal_likelihood_value_``); for SGPR and SVGP the lower bound that was
        maximised (the collapsed bound, the ELBO).
    idata_ : InferenceData
        In the shared schema (:mod:`bayesphys.core.schema`): the hyperparameters in
        ``posterior`` (a single draw for MAP and sparse fits; ARD lengthscales on the
        ``feature`` dimension), ``observed_data`` and ``constant_data``. A NUTS fit adds
        ``sample_stats``, the pointwise leave-one-out predictive densities
        ``log p(y_i | y_-i, theta)`` as ``log_likelihood`` (what PSIS-LOO needs for this
        non-factorising model) and, as ``posterior_predictive``, one replicated ``y`` at the
        training inputs per draw, drawn point by point from its marginal posterior predictive
        (correlations between points are not kept).
    method_ : str
        The inference method's name: ``"map"``, ``"nuts"``, ``"sgpr"`` or ``"svgp"``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` (only then).
    inducing_points_ : ndarray (m, p)
        Inducing inputs of an SGPR or SVGP fit.

    Notes
    -----
    The targets are standardised internally (divided by their RMS, and centred first when the
    mean is ``"constant"`` or ``"linear"``); X is used as given. Covariances are evaluated by
    GPyTorch kernels; the Cholesky factorisation is float64 with escalating jitter.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesphys.gp import GPRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0, 5, size=(40, 1)); y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=40)
    >>> gp = GPRegression(random_state=0).fit(X, y)
    >>> mean, std = gp.predict([[2.5]], return_std=True)
    >>> bool(abs(mean[0] - np.sin(2.5)) < 3 * std[0] + 0.1)
    True
    """

    supported_methods: ClassVar[dict[str, type[InferenceMethod]]] = {
        "map": MAP,
        "nuts": NUTS,
        "sgpr": SGPR,
        "svgp": SVGP,
    }

    def __init__(
        self,
        kernel: str | Kernel = "rbf",
        ard: bool = True,
        mean="zero",
        priors: dict | None = None,
        noise=None,
        *,
        method: str | InferenceMethod = "map",
        random_state=None,
        max_predict_draws: int = 200,
        num_threads: int | None = DEFAULT_THREADS,
        chain_threads: int = 1,
    ):
        self.kernel = kernel
        self.ard = ard
        self.mean = mean
        self.priors = priors
        self.noise = noise
        self.method = method
        self.random_state = random_state
        self.max_predict_draws = max_predict_draws
        self.num_threads = num_threads
        self.chain_threads = chain_threads

    def fit(self, X, y, y_err=None, *, progressbar: bool | None = None, client=None):
        """Infer the hyperparameters.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations), added in quadrature to ``noise``.
        progressbar : bool, optional
            Progress bar of NUTS or SVGP training (``None``: on for those, the closed-form
            optimisers show none).
        client : dask.distributed.Client, optional
            Run every NUTS chain group as a task on this Dask cluster (NUTS only), with
            ``num_threads`` torch and BLAS threads per task; the warm start (mode, Laplace
            approximation) and the pilot whitening are computed here, between the two rounds
            of tasks. See :doc:`/distributed`.

        Returns
        -------
        self
        """
        method = self._resolve_method()
        progressbar = self._progressbar(progressbar, method)
        client = check_client(client)
        if client is not None and method.name != "nuts":
            raise ValueError(
                f"client distributes NUTS chains; method={method.name!r} runs in this process: "
                "drop client, or use method=NUTS(...)"
            )
        num_threads = self._num_threads()
        chain_threads = check_positive_int(self.chain_threads, "chain_threads")
        max_predict_draws = check_positive_int(self.max_predict_draws, "max_predict_draws")
        X, y, y_err = self._validate_training_data(X, y, y_err)
        X = np.require(X, requirements="W")  # torch wraps it: a read-only view is copied
        rng = self._random_generator()
        if self.priors is not None and not isinstance(self.priors, dict):
            raise TypeError(f"priors must be a dict or None, got {type(self.priors).__name__}")
        if not callable(self.mean):
            check_choice(self.mean, "mean", MEAN_NAMES)
        _check_noise(self.noise)
        ard = check_bool(self.ard, "ard")
        kernel = compile_kernel(kernel_from_string(self.kernel), X.shape[1], ard)
        model = GPModel(kernel, self.mean, dict(self.priors or {}), self.noise, X, y, y_err)
        with torch_threads(num_threads), flush_denormals():
            if method.name == "map":
                result = gp_map.fit(model, rng, method)
            elif method.name in ("sgpr", "svgp"):
                result = _fit_sparse(model, rng, method, progressbar)
            else:
                result = nuts.fit(
                    model,
                    rng,
                    method,
                    max_predict_draws=max_predict_draws,
                    progressbar=progressbar,
                    chain_threads=chain_threads,
                    client=client,
                    num_threads=num_threads,
                )
        if method.name in ("sgpr", "svgp"):
            self.inducing_points_ = result.extras["predictor"].Z
        else:
            self.__dict__.pop("inducing_points_", None)  # from an earlier sparse fit
        self._model = model
        self._predictor = result.extras["predictor"]
        self._draws_z = result.unconstrained  # NUTS: unconstrained draws, for predictive draws
        self.method_ = method.name
        self.log_marginal_likelihood_ = result.log_evidence
        self.interrupted_ = result.interrupted  # Ctrl-C: partial draws or training, marked
        self.hyperparameters_ = point_values(model.space, result.extras["z_hat"])
        self.idata_ = _fit_inference_data(result, X, y, y_err, method.name, self._feature_labels())
        return self

    def _new_X(self, X) -> np.ndarray:
        # Validated like scikit-learn; torch wraps the array, so a read-only view is copied.
        return np.require(self._validate_new_X(X), requirements="W")

    def _num_threads(self) -> int | None:
        if self.num_threads is None:
            return None
        return check_positive_int(self.num_threads, "num_threads")

    # ---------------------------------------------------------------------------- prediction
    def predict(
        self,
        X,
        return_std: bool = False,
        return_cov: bool = False,
        include_noise: bool = False,
    ):
        """Predictive mean (and std or covariance) of the latent ``f(X)``, or of new ``y``.

        Parameters
        ----------
        X : array_like (m, p)
        return_std, return_cov : bool
            Also return the standard deviations ``(m,)`` or the covariance ``(m, m)``
            (not both).
        include_noise : bool
            Add the learned noise variance ``noise**2`` (new observations; known ``y_err`` of
            the training points does not carry over).

        Returns
        -------
        mean : ndarray (m,)
        std or cov : ndarray, optional

        Notes
        -----
        A NUTS fit returns the moments of the mixture over hyperparameter draws: the mean of
        the means, and the mean of the variances plus the variance of the means.
        """
        if return_std and return_cov:
            raise ValueError("return_std and return_cov cannot both be True; pick one")
        X = self._new_X(X)
        with torch_threads(self._num_threads()), flush_denormals():
            mean, cov = self._predictor.moments(X, full_cov=return_cov, include_noise=include_noise)
        if return_cov:
            return mean, cov
        if return_std:
            return mean, np.sqrt(cov)
        return mean

    def sample_y(self, X, n: int = 1, random_state=None, *, include_noise: bool = False):
        """Draws of the latent function (or, with ``include_noise``, of new y) at ``X``.

        Parameters
        ----------
        X : array_like (m, p)
        n : int
            Number of draws.
        random_state : int, Generator or None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.
        include_noise : bool
            Add the learned noise (not the training points' ``y_err``).

        Returns
        -------
        ndarray (m, n)
            One column per draw (the scikit-learn layout). A NUTS fit draws each column
            with a random hyperparameter draw (among those its predictions mix over).
        """
        X = self._new_X(X)
        n = check_positive_int(n, "n")
        rng = self._random_generator(random_state)
        with torch_threads(self._num_threads()), flush_denormals():
            return self._predictor.sample(X, n, rng, include_noise=include_noise)

    def sample_posterior_predictive(self, X, y_err=None, random_state=None):
        """Draws of new observations ``y`` at ``X`` from the fitted GP.

        Each draw is a joint draw of the latent ``f(X)`` from the GP posterior, plus the learned
        noise and the known errors ``y_err`` of the new points.

        Parameters
        ----------
        X : array_like (m, p)
        y_err : array_like (m,), optional
            Known measurement errors (standard deviations) of the new observations.
        random_state : int, Generator or None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        InferenceData
            ``posterior`` (the hyperparameters of each draw) and ``posterior_predictive`` with
            ``y`` and the latent ``f`` on ``(chain, draw, obs)``, ``constant_data`` with ``X``
            (and ``y_err``). A NUTS fit gives one draw per kept hyperparameter draw, thinned
            evenly within each chain to about ``max_predict_draws`` in all; a MAP or sparse
            fit has a single hyperparameter value and gives ``max_predict_draws`` draws at it
            (``chain`` of size 1).
        """
        X = self._new_X(X)
        y_err = check_y_err(y_err, X.shape[0])
        rng = self._random_generator(random_state)
        space = self._model.space
        # Checked here too: set_params may have changed it since fit.
        max_draws = check_positive_int(self.max_predict_draws, "max_predict_draws")
        if self._draws_z is None:  # one hyperparameter value
            z = self._predictor.z.reshape(1, 1, space.dim)
            per_row = max_draws
        else:
            chains, draws, _ = self._draws_z.shape
            step = max(1, -(-chains * draws // max_draws))
            z, per_row = self._draws_z[:, ::step], 1
        with torch_threads(self._num_threads()), flush_denormals():
            f, y = predictive.posterior_draws(
                self._predictor,
                z.reshape(z.shape[0] * z.shape[1], space.dim),
                X,
                y_err,
                per_row,
                rng,
            )
        shape = (z.shape[0], z.shape[1] * per_row, X.shape[0])
        parameters = hyperparameter_values(space, np.repeat(z, per_row, axis=1))
        return self._gp_predictive(parameters, y.reshape(shape), f.reshape(shape), X, y_err)

    def sample_prior_predictive(self, X, draws: int = 500, random_state=None):
        """Draws of ``y`` at ``X`` implied by the priors alone.

        The hyperparameters are drawn from their priors (fixed ones stay fixed), the latent
        ``f(X)`` from the GP prior they define, and ``y`` adds the noise. The default priors
        are scaled to the training data, so the estimator must be fitted.

        Parameters
        ----------
        X : array_like (m, p)
        draws : int
        random_state : int, Generator or None
            Seed of the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        InferenceData
            ``prior`` (hyperparameters, ``(1, draws[, feature])``) and ``prior_predictive``
            with ``y`` and ``f`` of shape ``(1, draws, m)``.

        Raises
        ------
        ValueError
            If a hyperparameter has a flat (``None``) prior, which is improper.
        """
        X = self._new_X(X)
        draws = check_positive_int(draws, "draws")
        rng = self._random_generator(random_state)
        with torch_threads(self._num_threads()), flush_denormals():
            values, f, y = predictive.prior_draws(self._model, X, None, draws, rng)
        parameters = {k: (v[None, :, 0] if v.shape[1] == 1 else v[None]) for k, v in values.items()}
        return self._gp_predictive(parameters, y[None], f[None], X, None, kind="prior")

    def _gp_predictive(self, parameters, y, f, X, y_err, kind="posterior"):
        return self._predictive_idata(
            parameters,
            y,
            X,
            y_err,
            kind=kind,
            extra_predictive={"f": f},
            dims={"f": [OBS_DIM], **feature_dims(parameters)},
        )


def _fit_inference_data(result: FitResult, X, y, y_err, method: str, feature_names: list[str]):
    """The fit's InferenceData in the shared schema (:mod:`bayesphys.core.schema`)."""
    return fit_inference_data(
        result.posterior,
        X=X,
        y=y,
        y_err=y_err,
        feature_names=feature_names,
        method=method,
        model="GPRegression",
        sample_stats=result.sample_stats or None,
        log_likelihood=result.extras.get("log_likelihood"),
        posterior_predictive=result.extras.get("posterior_predictive"),
        dims=feature_dims(result.posterior),
        attrs=interrupted_attrs(result.progress),
    )
