"""Registry of estimator configurations that every model family adds itself to.

``tests/test_contract.py`` runs the same promises over each entry (the scikit-learn
``check_estimator`` habit) and ``tests/test_sklearn_checks.py`` runs scikit-learn's own checks.
Families register in their own ``tests/<family>/contract_cases.py``, which defines

- ``CASES``: a list of :class:`ContractCase` (fast fits of every inference method);
- ``SKLEARN_CHECKS``: a list of :class:`SklearnCheckCase` (fast estimators for
  ``parametrize_with_checks``, with the checks expected to fail and why).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ContractCase:
    """One estimator configuration.

    ``make()`` returns an unfitted estimator with all configuration (method object with fast
    settings, ``random_state``) in its constructor. ``has_draws``: the posterior has draws
    (not a point estimate), so ``log_likelihood`` and ``posterior_predictive`` are stored;
    ``mcmc``: HMC/NUTS-type sampler, so ``sample_stats`` carries ``energy`` and the rest;
    ``predictive_draws``: ``sample_posterior_predictive`` is defined (default: ``has_draws``;
    a GP at MAP hyperparameters has a predictive distribution, a MAP point estimate of
    coefficients has none);
    ``prior_predictive``: ``sample_prior_predictive`` is defined (a flat prior is not).
    """

    id: str
    make: Callable[[], object]
    has_draws: bool = True
    predictive_draws: bool | None = None
    mcmc: bool = False
    prior_predictive: bool = True
    learned: tuple[str, ...] = ()
    fit_kwargs: dict = field(default_factory=dict)  # run environment only (progressbar)


@dataclass(frozen=True)
class SklearnCheckCase:
    """An estimator for scikit-learn's ``parametrize_with_checks``.

    ``expected_failed`` maps a check's name to the reason it fails: only a real semantic
    difference from a scikit-learn regressor is a valid reason.
    """

    make: Callable[[], object]
    expected_failed: dict[str, str] = field(default_factory=dict)


def regression_data(n: int = 30, p: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ np.linspace(1.0, -1.0, p) + 0.5 + 0.2 * rng.normal(size=n)
    return X, y, np.full(n, 0.1)


# Each module defines CASES and SKLEARN_CHECKS for one model family.
FAMILY_CASE_MODULES: list[str] = [
    "tests.linear.contract_cases",
    "tests.gp.contract_cases",
    "tests.bnn.contract_cases",
]
CASES: list[ContractCase] = []
SKLEARN_CHECKS: list[SklearnCheckCase] = []
for _module in FAMILY_CASE_MODULES:
    _family = importlib.import_module(_module)
    CASES += _family.CASES
    SKLEARN_CHECKS += getattr(_family, "SKLEARN_CHECKS", [])
