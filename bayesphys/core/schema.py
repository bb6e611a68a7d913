"""The one InferenceData schema every estimator writes.

A fit's ``idata_`` has these groups, with the same names in every family, so that ArviZ plots
and diagnostics work on any of them (``az.plot_ppc``, ``az.plot_energy``, ``az.bfmi``,
``az.loo``, ``az.compare``, ``az.summary``):

- ``posterior``: parameter draws ``(chain, draw, ...)``; feature-indexed parameters
  (coefficients, ARD lengthscales) on the ``feature`` dimension named after the features.
- ``sample_stats`` (MCMC only): per-draw statistics under ArviZ/PyMC's names, see
  :data:`SAMPLE_STATS`.
- ``log_likelihood``: pointwise ``y`` on the ``obs`` dimension.
- ``posterior_predictive``: replicated ``y`` at the training inputs, on ``obs``.
- ``observed_data``: ``y`` on ``obs``.
- ``constant_data``: ``X`` on ``(obs, feature)`` and the known errors ``y_err`` on ``obs``.
- attributes ``inference_method`` and ``model`` on every group.

``sample_posterior_predictive`` and ``sample_prior_predictive`` return the same layout with
(``posterior``, ``posterior_predictive``) or (``prior``, ``prior_predictive``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesphys.core import results

__all__ = [
    "FEATURE_DIM",
    "OBS_DIM",
    "SAMPLE_STATS",
    "fit_inference_data",
    "predictive_inference_data",
]

OBS_DIM = "obs"
FEATURE_DIM = "feature"
#: Names of per-draw sampler statistics (ArviZ/PyMC conventions); families store no others.
SAMPLE_STATS = (
    "lp",
    "acceptance_rate",
    "step_size",
    "tree_depth",
    "n_steps",
    "diverging",
    "energy",
    "reached_max_treedepth",
)


def _data_layout(X, y_err, feature_names, dims, coords):
    X = np.asarray(X, dtype=np.float64)
    if len(feature_names) != X.shape[1]:
        raise ValueError(
            f"feature_names has {len(feature_names)} names for {X.shape[1]} columns of X"
        )
    constant = {"X": X}
    if y_err is not None:
        constant["y_err"] = np.asarray(y_err, dtype=np.float64)
    all_dims = {"y": [OBS_DIM], "X": [OBS_DIM, FEATURE_DIM], "y_err": [OBS_DIM]}
    all_dims.update(dims or {})
    all_coords = {OBS_DIM: np.arange(X.shape[0]), FEATURE_DIM: [str(f) for f in feature_names]}
    all_coords.update(coords or {})
    return constant, all_dims, all_coords


def fit_inference_data(
    posterior: Mapping[str, Any],
    *,
    X,
    y,
    y_err,
    feature_names: Sequence[str],
    method: str,
    model: str,
    sample_stats: Mapping[str, Any] | None = None,
    log_likelihood=None,
    posterior_predictive=None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> results.InferenceData:
    """Build a fit's ``idata_`` in the shared schema.

    Parameters
    ----------
    posterior : dict of str to array (chain, draw, ...)
        Parameter draws (a single draw for point estimates).
    X, y, y_err : arrays
        Training data as fitted (``y_err`` may be None).
    feature_names : sequence of str
        Coordinate values of the ``feature`` dimension.
    method, model : str
        Stored as the ``inference_method`` and ``model`` attributes.
    sample_stats : dict, optional
        Per-draw sampler statistics; only names in :data:`SAMPLE_STATS`.
    log_likelihood, posterior_predictive : array (chain, draw, obs), optional
        Pointwise log-likelihood and replicated ``y`` at the training inputs.
    dims, coords : dict, optional
        Dimensions of the family's own variables (e.g. ``{"coef": ["feature"]}``).
    attrs : dict, optional
        Further attributes.
    """
    unknown = sorted(set(sample_stats or {}) - set(SAMPLE_STATS))
    if unknown:
        raise ValueError(
            f"sample_stats {unknown} are not in the shared schema; use {list(SAMPLE_STATS)}"
        )
    constant, all_dims, all_coords = _data_layout(X, y_err, feature_names, dims, coords)
    return results.to_inference_data(
        posterior,
        sample_stats=sample_stats or None,
        log_likelihood=None if log_likelihood is None else {"y": log_likelihood},
        posterior_predictive=None if posterior_predictive is None else {"y": posterior_predictive},
        observed_data={"y": np.asarray(y, dtype=np.float64)},
        constant_data=constant,
        coords=all_coords,
        dims=all_dims,
        attrs={"inference_method": method, "model": model, **(attrs or {})},
    )


def predictive_inference_data(
    parameters: Mapping[str, Any],
    y_draws,
    *,
    X,
    y_err,
    feature_names: Sequence[str],
    method: str,
    model: str,
    kind: str = "posterior",
    extra_predictive: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
) -> results.InferenceData:
    """InferenceData of predictive draws at new inputs ``X``.

    ``kind="posterior"`` gives ``posterior`` + ``posterior_predictive``; ``kind="prior"`` gives
    ``prior`` + ``prior_predictive``. Either way ``y`` is on ``obs`` and ``X`` (and ``y_err``)
    are in ``constant_data``. ``extra_predictive`` adds variables such as the latent ``f``.
    """
    if kind not in ("posterior", "prior"):
        raise ValueError(f"kind must be 'posterior' or 'prior', got {kind!r}")
    constant, all_dims, all_coords = _data_layout(X, y_err, feature_names, dims, coords)
    predictive = {"y": y_draws, **(extra_predictive or {})}
    groups = (
        {"posterior": parameters, "posterior_predictive": predictive}
        if kind == "posterior"
        else {"posterior": {}, "prior": parameters, "prior_predictive": predictive}
    )
    return results.to_inference_data(
        **groups,
        constant_data=constant,
        coords=all_coords,
        dims=all_dims,
        attrs={"inference_method": method, "model": model},
    )
