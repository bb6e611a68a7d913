"""Gaussian-process regression with priors on the hyperparameters: MAP, NUTS or sparse GPs."""

from __future__ import annotations

import numpy as np

from bayesphys.core.base import Estimator
from bayesphys.core.distributed import check_client, check_groups
from bayesphys.core.validation import (
    check_choice,
    check_positive_int,
    check_random_state,
    check_X_y,
)
from bayesphys.gp import _fit, _methods
from bayesphys.gp._model import MEAN_NAMES, GPModel
from bayesphys.gp.kernels import Kernel, compile_kernel, kernel_from_string

METHODS = ("map", "nuts", "sparse")


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
        feature's standard deviation (lengthscales), on ``std(y)**2`` (outputscale) and on
        ``0.1 std(y)`` (noise).
    noise : float, Prior or None
        Standard deviation of the Gaussian noise, in y units, on top of any known ``y_err``:
        a fixed value (``0.0``: the errors alone), a prior, or ``None`` for the default prior.

    Attributes
    ----------
    hyperparameters_ : dict of str to float or ndarray
        MAP values (``"map"``, ``"sparse"``) or posterior medians (``"nuts"``), original units.
    log_marginal_likelihood_ : float
        ``log p(y | X, hyperparameters_)`` in y units (comparable to scikit-learn's
        ``log_marginal_likelihood_value_``); for ``"sparse"``, the lower bound that was
        maximised (the collapsed bound for SGPR, the ELBO for SVGP).
    idata_ : InferenceData
        Hyperparameter posterior (a single draw for MAP and sparse fits), observed ``y``,
        and, for ``"nuts"``, ``sample_stats`` and the pointwise leave-one-out predictive
        densities ``log p(y_i | y_-i, theta)`` as ``log_likelihood`` (for PSIS-LOO of this
        non-factorising model).
    method_ : str
    n_features_in_ : int
    inducing_points_ : ndarray (m, p)
        Inducing inputs of a ``"sparse"`` fit.

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
    >>> gp = GPRegression().fit(X, y, random_seed=0)
    >>> mean, std = gp.predict([[2.5]], return_std=True)
    >>> bool(abs(mean[0] - np.sin(2.5)) < 3 * std[0] + 0.1)
    True
    """

    def __init__(
        self,
        kernel: str | Kernel = "rbf",
        ard: bool = True,
        mean="zero",
        priors: dict | None = None,
        noise=None,
    ):
        self.kernel = kernel
        self.ard = ard
        self.mean = mean
        self.priors = priors
        self.noise = noise

    def fit(
        self,
        X,
        y,
        y_err=None,
        method: str = "map",
        random_seed=None,
        *,
        n_restarts: int = 0,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        target_accept: float = 0.8,
        progressbar: bool = False,
        sparse: str = "sgpr",
        n_inducing: int = 128,
        inducing: str = "kmeans",
        learn_inducing: bool = True,
        max_iter: int | None = None,
        batch_size: int = 512,
        learning_rate: float = 0.02,
        max_predict_draws: int = 200,
        num_threads: int | None = _fit.DEFAULT_THREADS,
        chain_threads: int = 1,
        chain_groups: int | None = None,
        client=None,
    ) -> GPRegression:
        """Infer the hyperparameters.

        Parameters
        ----------
        X : array_like (n, p)
        y : array_like (n,)
        y_err : array_like (n,), optional
            Known measurement errors (standard deviations), added in quadrature to ``noise``.
        method : {"map", "nuts", "sparse"}
            ``"map"``: exact GP, type-II MAP by L-BFGS-B (no Jacobian: the mode of the prior
            density in the original parametrisation). ``"nuts"``: the marginal posterior of
            the hyperparameters by the core's No-U-Turn sampler (multinomial NUTS, max tree
            depth 10) on the LAPACK evidence, in coordinates whitened by the Laplace
            approximation at the mode and then by the covariance of pilot draws (tuning
            iterations), with step-size adaptation; chains start at Laplace draws. ``"sparse"``:
            an inducing-point approximation for large n, chosen by ``sparse``.
        random_seed : int, Generator or None
            Seeds restarts, NUTS, inducing-point selection and SVGP minibatches.
        n_restarts : int
            Extra optimiser starts drawn from the priors (``"map"``, ``"sparse"``). From
            n = 1000 on (and always for ``"sparse"``) the starts run on a random 500-point
            subset, whose best optimum starts the full-data fit.
        draws, tune, chains, target_accept
            NUTS settings (``"nuts"``); ``target_accept`` is the target of the step-size
            adaptation (mean acceptance statistic over each tree).
        progressbar : bool
            Progress bar of NUTS (``"nuts"``) or SVGP training.
        sparse : {"sgpr", "svgp"}
            ``"sgpr"``: the collapsed bound of Titsias (2009), maximised by L-BFGS-B over the
            hyperparameters and inducing inputs, ``O(n m^2)`` per iteration. ``"svgp"``: the
            uncollapsed ELBO (Hensman et al. 2013) on minibatches of ``batch_size`` points:
            natural-gradient steps on ``q(u)``, Adam on the hyperparameters and inducing
            inputs, for data too large for full passes at every iteration.
        n_inducing : int
            Number of inducing points m (``"sparse"``).
        inducing : {"kmeans", "random"}
            Initial inducing points: k-means centres or a random subset (``"sparse"``).
        learn_inducing : bool
            Optimise the inducing inputs with the hyperparameters (``"sparse"``; with
            ``n_inducing >= n`` they are the data and stay fixed).
        max_iter : int, optional
            L-BFGS-B iterations (``"sgpr"``, default 200) or minibatch steps (``"svgp"``,
            default 1000).
        batch_size : int
            Minibatch size (``"svgp"``); ``batch_size >= n`` uses every point at every step.
        learning_rate : float
            Adam learning rate for the log-hyperparameters and the inducing inputs (in units
            of each feature's standard deviation) (``"svgp"``).
        max_predict_draws : int
            Predictions of a ``"nuts"`` fit mix over at most this many (evenly thinned) draws.
        num_threads : int or None
            Torch intra-op threads while fitting and predicting (restored afterwards). One is
            fastest on small or shared machines (see ``bayesphys.gp._fit.DEFAULT_THREADS``);
            ``None`` keeps torch's setting, which pays off with idle cores and large n.
        chain_threads : int
            NUTS chains (``"nuts"``, from 200 training points on) sampled at once, each on its
            own thread with ``num_threads`` BLAS threads; the draws do not depend on it. Only
            LAPACK releases Python's GIL, so this pays off where it dominates a leapfrog step
            (n of a few thousand, idle cores): at n = 519 on the 2-core development machine two
            threads ran at 0.86 times the speed of one. In-process only (see ``client``).
        chain_groups : int, optional
            Groups of NUTS chains (``"nuts"``), each one sampler run with its own random
            stream and step-size adaptation; chains in a group move in lockstep. The draws
            depend on ``chain_groups``, not on where the groups run: the same value gives the
            same numbers in-process and on any number of workers. Default: one group per chain
            with a ``client`` or from 200 training points on, else one group.
        client : dask.distributed.Client, optional
            Run every chain group as a task on this Dask cluster (``"nuts"`` only), with
            ``num_threads`` torch and BLAS threads per task; the warm start (mode, Laplace
            approximation) and the pilot whitening are computed here, between the two rounds
            of tasks. See :doc:`/distributed`.

        Returns
        -------
        self
        """
        check_choice(method, "method", METHODS)
        n_restarts = check_positive_int(n_restarts, "n_restarts", minimum=0)
        num_threads = (
            None if num_threads is None else check_positive_int(num_threads, "num_threads")
        )
        chain_threads = check_positive_int(chain_threads, "chain_threads")
        client = check_client(client)
        if method != "nuts" and (client is not None or chain_groups is not None):
            raise ValueError(
                f"client and chain_groups distribute NUTS chains; method={method!r} runs in "
                "this process: drop them, or use method='nuts'"
            )
        if method == "sparse":
            sparse_options = _methods.sparse_options(
                sparse,
                n_inducing=n_inducing,
                inducing=inducing,
                learn_inducing=learn_inducing,
                max_iter=max_iter,
                batch_size=batch_size,
                learning_rate=learning_rate,
                progressbar=progressbar,
            )
        X, y, y_err = check_X_y(X, y, y_err, min_samples=2)
        rng = check_random_state(random_seed)
        if self.priors is not None and not isinstance(self.priors, dict):
            raise TypeError(f"priors must be a dict or None, got {type(self.priors).__name__}")
        if not callable(self.mean):
            check_choice(self.mean, "mean", MEAN_NAMES)
        kernel = compile_kernel(kernel_from_string(self.kernel), X.shape[1], bool(self.ard))
        model = GPModel(kernel, self.mean, dict(self.priors or {}), self.noise, X, y, y_err)
        with _fit.torch_threads(num_threads):
            if method == "map":
                outcome = _methods.fit_map(model, rng, n_restarts=n_restarts)
            elif method == "sparse":
                outcome = _methods.fit_sparse(
                    model, rng, sparse=sparse, n_restarts=n_restarts, **sparse_options
                )
                self.inducing_points_ = outcome.predictor.Z
            else:
                chains = check_positive_int(chains, "chains")
                if chain_groups is not None:
                    chain_groups = check_groups(
                        chain_groups, chains, chains, name="chain_groups", unit="chains"
                    )
                outcome = _methods.fit_nuts(
                    model,
                    rng,
                    chains=chains,
                    draws=check_positive_int(draws, "draws"),
                    tune=check_positive_int(tune, "tune", minimum=0),
                    target_accept=target_accept,
                    progressbar=progressbar,
                    max_predict_draws=check_positive_int(max_predict_draws, "max_predict_draws"),
                    chain_groups=chain_groups,
                    chain_threads=chain_threads,
                    client=client,
                    num_threads=num_threads,
                )
        self._num_threads = num_threads
        if method != "sparse":
            self.__dict__.pop("inducing_points_", None)  # from an earlier sparse fit
        self._predictor = outcome.predictor
        self.method_ = method
        self.n_features_in_ = X.shape[1]
        self.log_marginal_likelihood_ = outcome.log_marginal
        self.hyperparameters_ = _methods.point_values(model.space, outcome.z_hat)
        self.idata_ = _methods.build_idata(outcome, y, y_err, method, X.shape[1])
        return self

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
        A ``"nuts"`` fit returns the moments of the mixture over hyperparameter draws: the mean
        of the means, and the mean of the variances plus the variance of the means.
        """
        if return_std and return_cov:
            raise ValueError("return_std and return_cov cannot both be True; pick one")
        X = self._check_new_X(X)
        with _fit.torch_threads(self._num_threads):
            mean, cov = self._predictor.moments(X, full_cov=return_cov, include_noise=include_noise)
        if return_cov:
            return mean, cov
        if return_std:
            return mean, np.sqrt(cov)
        return mean

    def sample_y(self, X, n: int = 1, random_seed=None, *, include_noise: bool = False):
        """Draws of the latent function (or, with ``include_noise``, of new y) at ``X``.

        Returns
        -------
        ndarray (m, n)
            One column per draw (the scikit-learn layout). A ``"nuts"`` fit draws each column
            with a random hyperparameter draw.
        """
        X = self._check_new_X(X)
        n = check_positive_int(n, "n")
        rng = check_random_state(random_seed)
        with _fit.torch_threads(self._num_threads):
            return self._predictor.sample(X, n, rng, include_noise=include_noise)
