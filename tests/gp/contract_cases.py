"""GP configurations run through the shared estimator contract (``tests/test_contract.py``) and
scikit-learn's own checks (``tests/test_sklearn_checks.py``)."""

from bayesphys.gp import GPRegression, Matern
from bayesphys.inference import MAP, NUTS, SGPR, SVGP
from tests.contract import ContractCase, SklearnCheckCase

LEARNED = (
    "hyperparameters_",
    "log_marginal_likelihood_",
    "method_",
    "idata_",
    "n_features_in_",
)
SPARSE_LEARNED = (*LEARNED, "inducing_points_")

# MAP and sparse fits have one hyperparameter value (no draws, so no log_likelihood), but a GP
# at that value is a full predictive distribution: sample_posterior_predictive is defined.
CASES = [
    ContractCase(
        "gp-map",
        lambda: GPRegression(method=MAP(), random_state=0),
        has_draws=False,
        predictive_draws=True,
        learned=LEARNED,
    ),
    ContractCase(
        "gp-map-matern-constant-mean",
        lambda: GPRegression(
            Matern(1.5), mean="constant", method=MAP(n_restarts=1), random_state=1
        ),
        has_draws=False,
        predictive_draws=True,
        learned=LEARNED,
    ),
    ContractCase(
        "gp-nuts",
        lambda: GPRegression(
            method=NUTS(draws=50, tune=50, chains=2), random_state=2, max_predict_draws=20
        ),
        mcmc=True,
        learned=LEARNED,
        fit_kwargs={"progressbar": False},
    ),
    ContractCase(
        "gp-sgpr",
        lambda: GPRegression(method=SGPR(n_inducing=10), random_state=3),
        has_draws=False,
        predictive_draws=True,
        learned=SPARSE_LEARNED,
    ),
    ContractCase(
        "gp-svgp",
        lambda: GPRegression(method=SVGP(n_inducing=10, batch_size=10, steps=30), random_state=4),
        has_draws=False,
        predictive_draws=True,
        learned=SPARSE_LEARNED,
        fit_kwargs={"progressbar": False},
    ),
]

SKLEARN_CHECKS = [
    SklearnCheckCase(lambda: GPRegression(method=MAP(), random_state=0)),
    SklearnCheckCase(lambda: GPRegression(method=SGPR(n_inducing=10, max_iter=20), random_state=0)),
]
