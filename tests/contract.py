"""Registry of estimator configurations that every model family adds itself to.

``tests/test_contract.py`` runs the same promises over each entry (the scikit-learn
``check_estimator`` habit): later families (GP, BNN, ...) append their own ``ContractCase``.
Families register in their own ``tests/<family>/contract_cases.py`` (a ``CASES`` list), named in
``FAMILY_CASE_MODULES`` below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bayesphys import BayesianLinearRegression
from bayesphys.priors import HalfNormal, Laplace, Normal


@dataclass(frozen=True)
class ContractCase:
    id: str
    make: Callable[[], object]
    fit_kwargs: dict = field(default_factory=dict)
    has_draws: bool = True  # posterior draws (not a point estimate)
    learned: tuple[str, ...] = ("coef_",)  # fitted attributes the family promises


def regression_data(n: int = 30, p: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ np.linspace(1.0, -1.0, p) + 0.5 + 0.2 * rng.normal(size=n)
    return X, y, np.full(n, 0.1)


CASES = [
    ContractCase(
        "linear-conjugate",
        lambda: BayesianLinearRegression(Normal(0, 5), noise=0.2),
        {"method": "conjugate", "draws": 100, "chains": 2},
    ),
    ContractCase(
        "linear-evidence",
        lambda: BayesianLinearRegression(Normal(0, 5)),
        {"method": "evidence", "draws": 100, "chains": 2},
    ),
    ContractCase(
        "linear-map-lasso",
        lambda: BayesianLinearRegression(Laplace(0, 1), noise=0.2),
        {"method": "map"},
        has_draws=False,
    ),
    ContractCase(
        "linear-nuts",
        lambda: BayesianLinearRegression(Normal(0, 5), HalfNormal(1)),
        {"method": "nuts", "draws": 100, "tune": 100, "chains": 2},
    ),
]

# Each module defines CASES (a list of ContractCase) for one more model family.
FAMILY_CASE_MODULES: list[str] = ["tests.gp.contract_cases", "tests.bnn.contract_cases"]
for _module in FAMILY_CASE_MODULES:
    CASES += importlib.import_module(_module).CASES
