"""Estimator base class: scikit-learn habits (constructor params, ``fit`` returns self)."""

from __future__ import annotations

import copy
import inspect

import numpy as np

from bayesphys.core.validation import check_array

__all__ = ["Estimator", "NotFittedError", "clone"]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted estimator."""


class Estimator:
    """Base for bayesphys estimators.

    Constructor arguments are stored unchanged under their own names (validated in ``fit``),
    learned attributes end in ``_``, and ``get_params``/``set_params``/``repr`` come for free.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict:
        """Constructor parameters of this estimator."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {key!r}; valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self, attribute: str = "idata_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X, y) first"
            )

    def _check_new_X(self, X) -> np.ndarray:
        """Validate inputs for ``predict``-like methods against the fitted feature count."""
        self._check_fitted()
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, the model was fitted with {self.n_features_in_}"
            )
        return X


def clone(estimator: Estimator) -> Estimator:
    """A new unfitted estimator with the same parameters."""
    return type(estimator)(**copy.deepcopy(estimator.get_params()))
