"""Exact conjugate posteriors (fixed noise or Normal-Inverse-Gamma) and their draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesphys.core.fit_result import FitResult
from bayesphys.linear import gaussian as gauss
from bayesphys.linear.predictors import ClosedForm


def noise_weights(noise_var, y_err, n):
    var = noise_var + (0.0 if y_err is None else y_err**2)
    return np.broadcast_to(1.0 / var, (n,)).astype(float)


def closed_form_posterior(spec, X, y, y_err, kind, noise_var=None, check_X=None):
    """Exact posterior (``kind`` "fixed" or "nig") as a ``ClosedForm`` and its log evidence.

    ``check_X``: for an X whose values are not validated yet, the exact check (it must raise,
    naming X); the Gram matrix makes it unnecessary where it proves X fine.
    """
    if spec.augmented:
        if check_X is not None:  # the column of ones would shift the column numbers
            check_X(X)
            check_X = None
        Xd = np.column_stack([np.ones(len(X)), X])
    else:
        Xd = X
    if kind == "fixed":
        if noise_var is None:
            noise_var = spec.likelihood.fixed_variance
        w = noise_weights(noise_var, y_err, len(y))
        m0, p0 = spec.prior_arrays(X.shape[1], noise_var)
        post = gauss.gaussian_posterior(
            Xd, y, w, m0, p0, flat_intercept=spec.flat_intercept, check_X=check_X
        )
        return ClosedForm(post, spec.augmented, noise_var), gauss.log_evidence_fixed_noise(post, w)
    ig = spec.likelihood.free_params["variance"]
    a0, b0 = float(ig.alpha), float(ig.beta)
    m0, p0 = spec.prior_arrays(X.shape[1], None)
    post = gauss.gaussian_posterior(
        Xd, y, np.ones(len(y)), m0, p0, flat_intercept=spec.flat_intercept, check_X=check_X
    )
    nig = gauss.nig_update(post, a0, b0)
    return ClosedForm(post, spec.augmented, None, nig), gauss.log_evidence_nig(post, a0, b0)


def draws_from_closed_form(cf: ClosedForm, chains, draws, rng):
    size = chains * draws
    noise_var = None
    if cf.nig is not None:
        a_n, b_n = cf.nig
        noise_var = b_n / rng.gamma(a_n, 1.0, size=size)
    intercept, coef = gauss.draw_coefficients(cf.post, size, rng, noise_var)
    if cf.augmented:
        intercept = intercept + coef[:, 0]
        coef = coef[:, 1:]
    posterior = {"intercept": intercept, "coef": coef}
    if noise_var is not None:
        posterior["sigma"] = np.sqrt(noise_var)
    return {k: v.reshape(chains, draws, *v.shape[1:]) for k, v in posterior.items()}


@dataclass(frozen=True)
class DeferredDraws:
    """``chains * draws`` exact posterior draws of a closed form, made only when asked for.

    The estimator calls it with a generator in the state the fit left it in, so the draws are
    those an eager fit would have made (the same seed gives the same draws).
    """

    closed_form: ClosedForm
    chains: int
    draws: int

    def __call__(self, rng) -> dict[str, np.ndarray]:
        return draws_from_closed_form(self.closed_form, self.chains, self.draws, rng)


def fit_closed_form(spec, X, y, y_err, kind, chains, draws, check_X=None) -> FitResult:
    """Exact posterior of ``kind`` ("fixed" or "nig").

    ``extras["predictive"]`` is the :class:`~bayesphys.linear.predictors.ClosedForm`;
    ``posterior`` is empty and ``extras["deferred_draws"]`` (a :class:`DeferredDraws`) makes
    the ``chains * draws`` independent draws when they are first needed. ``check_X`` as in
    :func:`closed_form_posterior`.
    """
    cf, log_z = closed_form_posterior(spec, X, y, y_err, kind, check_X=check_X)
    return FitResult(
        log_evidence=log_z,
        extras={
            "predictive": cf,
            "attributes": {},
            "deferred_draws": DeferredDraws(cf, chains, draws),
        },
    )
