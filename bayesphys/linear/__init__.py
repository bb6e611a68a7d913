"""Bayesian linear regression: conjugate closed forms, evidence, MAP (ridge/lasso) and NUTS."""

from bayesphys.linear.regression import BayesianLinearRegression, UnboundedEvidenceWarning
from bayesphys.linear.selection import compare_models, polynomial_features

__all__ = [
    "BayesianLinearRegression",
    "UnboundedEvidenceWarning",
    "compare_models",
    "polynomial_features",
]
