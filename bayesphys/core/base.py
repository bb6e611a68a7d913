"""Estimator base class: every bayesphys estimator is a scikit-learn estimator.

Configuration (including the inference ``method`` and ``random_state``) lives in the
constructor and is stored unchanged; ``fit(X, y, y_err=None, *, progressbar=None,
client=None)`` takes the data and the run environment. Inputs are validated with scikit-learn's
own helpers, so feature counts and names are checked at predict time exactly as scikit-learn
does (a reordered DataFrame raises, it is never silently reordered). ``y_err`` is sample-aligned
fit metadata: with ``sklearn.set_config(enable_metadata_routing=True)`` and
``est.set_fit_request(y_err=True)`` it flows through ``Pipeline`` and ``cross_validate``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.base import clone as _sklearn_clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from bayesphys.core.inference import InferenceMethod, resolve_method, resolve_progressbar
from bayesphys.core.validation import (
    check_magnitude,
    check_random_state,
    check_y_err,
    naming_argument,
)

__all__ = ["Estimator", "NotFittedError", "clone"]


class Estimator(RegressorMixin, BaseEstimator):
    """Base of the bayesphys estimators (scikit-learn ``BaseEstimator`` + ``RegressorMixin``).

    Subclasses set ``supported_methods`` (name -> :class:`~bayesphys.inference.InferenceMethod`
    subclass), take ``method`` and ``random_state`` in their constructor, and call the
    ``_validate_*`` helpers below in ``fit`` and ``predict``. Learned attributes end in ``_``.
    """

    supported_methods: ClassVar[dict[str, type[InferenceMethod]]] = {}

    # ------------------------------------------------------------------ configuration
    def _resolve_method(self) -> InferenceMethod:
        """The validated inference method (a copy; ``self.method`` is never modified)."""
        return resolve_method(self.method, self.supported_methods, type(self).__name__)

    def _random_generator(self, random_state=None) -> np.random.Generator:
        """A numpy Generator from ``random_state``, or, when it is None, from the estimator's
        own ``random_state`` (None, int, SeedSequence or Generator).

        The one rule for ``fit`` and for the ``random_state=None`` of
        ``sample_posterior_predictive``/``sample_prior_predictive``: a seeded estimator is
        reproducible throughout.
        """
        chosen = self.random_state if random_state is None else random_state
        return check_random_state(chosen, "random_state")

    @staticmethod
    def _progressbar(progressbar: bool | None, method: InferenceMethod) -> bool:
        return resolve_progressbar(progressbar, method)

    # ------------------------------------------------------------------ data validation
    def _validate_training_data(
        self, X, y, y_err=None, *, min_samples: int = 2, check_X_values: bool = True
    ):
        """Validate X, y (float64, finite, of a magnitude float64 can square) and y_err;
        records ``n_features_in_`` (and ``feature_names_in_`` for DataFrames with string
        column names).

        Every error is a ValueError or TypeError that names the argument (``X``, ``y`` or
        ``y_err``): scikit-learn's own messages get the name prepended where they lack it.

        Parameters
        ----------
        check_X_values : bool
            ``False`` checks X's type, shape and dtype only and leaves its values (finiteness
            and magnitude, two passes over X) to the caller, which must then either run
            :meth:`_check_X_values` or prove them from moments it computes anyway
            (:func:`~bayesphys.core.validation.magnitude_certified`) and run it when that
            fails. For fits whose cost is one pass over X.

        Returns
        -------
        X : ndarray (n, p), y : ndarray (n,), y_err : ndarray (n,) or None
        """
        options = {"dtype": np.float64, "ensure_min_samples": min_samples}
        # X alone first, so that an error there is known to be about X; the joint call then
        # checks y (and its length against X) with scikit-learn's own rules and warnings.
        with naming_argument("X"):
            checked = check_array(
                X, estimator=self, input_name="X", ensure_all_finite=check_X_values, **options
            )
        if isinstance(X, np.ndarray):
            # Converted once (float32 -> float64 is a copy of X): a plain array carries no
            # feature names for validate_data to record, so it gets the converted one.
            X = checked
        with naming_argument("y"):
            # X's values are checked above (or left to the caller): one pass over a large X
            # is not free. A DataFrame X keeps its column names for validate_data; y's
            # finiteness is checked below.
            X, y = validate_data(
                self, X, y, reset=True, y_numeric=True, ensure_all_finite=False, **options
            )
            y = np.asarray(y, dtype=np.float64)  # string labels pass y_numeric unconverted
        if not np.all(np.isfinite(y)):  # None in an object array only becomes NaN above
            raise ValueError(
                f"Input y contains {int(np.sum(~np.isfinite(y)))} NaN, infinite or missing "
                "(None) value(s); remove or impute them"
            )
        if check_X_values:
            check_magnitude(X, "X")
        check_magnitude(y, "y")
        return X, y, check_y_err(y_err, X.shape[0])

    def _check_X_values(self, X: np.ndarray) -> None:
        """The checks ``_validate_training_data(check_X_values=False)`` left out: X finite
        and of a magnitude float64 can square, with the same errors (naming X)."""
        with naming_argument("X"):
            check_array(X, estimator=self, input_name="X", dtype=np.float64)
        check_magnitude(X, "X")

    def _validate_new_X(self, X) -> np.ndarray:
        """Validate inputs of ``predict``-like methods against what ``fit`` saw."""
        check_is_fitted(self)
        with naming_argument("X"):
            X = validate_data(self, X, reset=False, dtype=np.float64)
        # Inputs near 0 are harmless at prediction time; overflowing ones are not.
        check_magnitude(X, "X", tiny=False)
        return X

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination R^2 of ``predict(X)`` against ``y``.

        As scikit-learn's ``RegressorMixin.score``, with ``y`` validated like the training
        targets (its errors name ``y``) and at least two samples (R^2 of one is undefined:
        scikit-learn returns NaN).
        """
        y_pred = self.predict(X)
        with naming_argument("y"):
            y_true = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            if y_true.ndim != 1:
                raise ValueError(f"y must be 1-D, got shape {y_true.shape}")
            if len(y_true) != len(y_pred):
                raise ValueError(f"y has {len(y_true)} values but X has {len(y_pred)} rows")
            if len(y_true) < 2:
                raise ValueError("R^2 needs at least 2 samples in y")
        check_magnitude(y_true, "y", tiny=False)
        return float(r2_score(y_true, y_pred, sample_weight=sample_weight))

    # ------------------------------------------------------------------ results
    def _fit_idata(self, posterior, X, y, y_err, **groups):
        """This fit's ``idata_`` in the shared schema (:func:`~bayesphys.core.schema.
        fit_inference_data`), with the estimator's feature names, method and class name."""
        from bayesphys.core.schema import fit_inference_data

        return fit_inference_data(
            posterior,
            X=X,
            y=y,
            y_err=y_err,
            feature_names=self._feature_labels(),
            method=self.method_,
            model=type(self).__name__,
            **groups,
        )

    def _predictive_idata(self, parameters, y_draws, X, y_err, **layout):
        """Predictive draws at ``X`` in the shared schema (:func:`~bayesphys.core.schema.
        predictive_inference_data`), named like :meth:`_fit_idata`."""
        from bayesphys.core.schema import predictive_inference_data

        return predictive_inference_data(
            parameters,
            y_draws,
            X=X,
            y_err=y_err,
            feature_names=self._feature_labels(),
            method=self.method_,
            model=type(self).__name__,
            **layout,
        )

    def _feature_labels(self) -> list[str]:
        """Feature names for coordinates: the DataFrame's columns, else ``x0, x1, ...``."""
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(name) for name in names]
        return [f"x{j}" for j in range(self.n_features_in_)]


def clone(estimator: Estimator) -> Estimator:
    """A new unfitted estimator with the same parameters (``sklearn.base.clone``)."""
    return _sklearn_clone(estimator)
