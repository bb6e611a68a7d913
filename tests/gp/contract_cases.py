"""GP configurations run through the shared estimator contract (``tests/test_contract.py``)."""

from bayesphys.gp import GPRegression, Matern
from tests.contract import ContractCase

LEARNED = ("hyperparameters_", "log_marginal_likelihood_", "method_", "idata_")

CASES = [
    ContractCase(
        "gp-map", lambda: GPRegression(), {"method": "map"}, has_draws=False, learned=LEARNED
    ),
    ContractCase(
        "gp-map-matern-constant-mean",
        lambda: GPRegression(Matern(1.5), mean="constant"),
        {"method": "map", "n_restarts": 1},
        has_draws=False,
        learned=LEARNED,
    ),
    ContractCase(
        "gp-nuts",
        lambda: GPRegression(ard=False),
        {"method": "nuts", "draws": 50, "tune": 50, "chains": 2, "max_predict_draws": 20},
        learned=LEARNED,
    ),
    ContractCase(
        "gp-sparse",
        lambda: GPRegression(),
        {"method": "sparse", "n_inducing": 10},
        has_draws=False,
        learned=(*LEARNED, "inducing_points_"),
    ),
]
