"""Linear-regression configurations for the shared estimator contract and scikit-learn's checks.

Every inference method appears once, seeded and small. The intercept prior is proper where the
prior predictive is checked and flat (improper, ``prior_predictive=False``) in the others.
"""

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, NUTS, Conjugate, Evidence
from bayesphys.priors import HalfNormal, Laplace, Normal
from tests.contract import ContractCase, SklearnCheckCase

_LEARNED = (
    "coef_",
    "intercept_",
    "coef_cov_",
    "noise_",
    "log_evidence_",
    "method_",
    "idata_",
    "n_features_in_",
)

CASES = [
    ContractCase(
        "linear-conjugate",
        lambda: BayesianLinearRegression(
            Normal(0.0, 5.0),
            noise=0.3,
            intercept_prior=Normal(0.0, 10.0),
            method=Conjugate(draws=50, chains=2),
            random_state=0,
        ),
        learned=_LEARNED,
    ),
    ContractCase(
        "linear-evidence",
        lambda: BayesianLinearRegression(method=Evidence(draws=50, chains=2), random_state=1),
        prior_predictive=False,  # flat intercept: improper prior
        learned=(*_LEARNED, "coef_prior_scale_"),
    ),
    ContractCase(
        "linear-map-lasso",
        lambda: BayesianLinearRegression(
            Laplace(0.0, 1.0), noise=0.2, method=MAP(), random_state=2
        ),
        has_draws=False,
        prior_predictive=False,  # flat intercept: improper prior
        learned=_LEARNED,
    ),
    ContractCase(
        "linear-nuts",
        lambda: BayesianLinearRegression(
            Normal(0.0, 5.0),
            noise=HalfNormal(1.0),
            intercept_prior=Normal(0.0, 10.0),
            method=NUTS(draws=60, tune=60, chains=2),
            random_state=3,
        ),
        mcmc=True,
        learned=_LEARNED,
        fit_kwargs={"progressbar": False},
    ),
]

SKLEARN_CHECKS = [
    SklearnCheckCase(
        lambda: BayesianLinearRegression(
            noise=1.0, method=Conjugate(draws=20, chains=2), random_state=0
        )
    ),
    SklearnCheckCase(lambda: BayesianLinearRegression(method=MAP(), random_state=0)),
    SklearnCheckCase(
        lambda: BayesianLinearRegression(method=Evidence(draws=20, chains=2), random_state=0)
    ),
]
