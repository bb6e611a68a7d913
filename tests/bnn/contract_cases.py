"""BNN configurations for the shared estimator contract (``tests/test_contract.py``) and
scikit-learn's own checks (``tests/test_sklearn_checks.py``)."""

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.inference import HMC, NUTS, SGHMC, VI
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import HalfNormal
from tests.contract import ContractCase, SklearnCheckCase

_LEARNED = ("n_features_in_", "n_weights_", "method_", "idata_")
_QUIET = {"progressbar": False}

CASES = [
    ContractCase(
        "bnn-hmc",
        lambda: BayesianNeuralNetwork(
            hidden=(4,), method=HMC(draws=20, tune=30, chains=2), random_state=0
        ),
        mcmc=True,
        learned=_LEARNED,
        fit_kwargs=_QUIET,
    ),
    ContractCase(
        "bnn-hmc-hierarchical",
        lambda: BayesianNeuralNetwork(
            hidden=(3,),
            weight_prior="hierarchical",
            likelihood=Gaussian(noise=HalfNormal(0.5)),
            method=HMC(draws=20, tune=30, chains=2),
            random_state=1,
        ),
        mcmc=True,
        learned=_LEARNED,
        fit_kwargs=_QUIET,
    ),
    ContractCase(
        "bnn-nuts",
        lambda: BayesianNeuralNetwork(
            hidden=(2,),
            method=NUTS(draws=10, tune=20, chains=2, max_treedepth=5),
            random_state=2,
        ),
        mcmc=True,
        learned=_LEARNED,
        fit_kwargs=_QUIET,
    ),
    ContractCase(
        "bnn-sghmc",
        lambda: BayesianNeuralNetwork(
            hidden=(4,),
            method=SGHMC(burn_in=50, draws=20, thin=2, batch_size=10, chains=2),
            random_state=3,
        ),
        learned=_LEARNED,
        fit_kwargs=_QUIET,
    ),
    ContractCase(
        "bnn-vi",
        lambda: BayesianNeuralNetwork(
            hidden=(4,),
            activation="relu",
            method=VI(steps=50, batch_size=10, draws=20, chains=2),
            random_state=4,
        ),
        learned=_LEARNED,
        fit_kwargs=_QUIET,
    ),
]

# scikit-learn's checks fit dozens of times (some on 200 points, and check_regressors_train
# wants R^2 > 0.5 on a noisy linear problem): small networks with enough steps to fit it.
SKLEARN_CHECKS = [
    SklearnCheckCase(
        lambda: BayesianNeuralNetwork(
            hidden=(4,), method=VI(steps=200, draws=10, chains=1), random_state=0
        )
    ),
    SklearnCheckCase(
        lambda: BayesianNeuralNetwork(
            hidden=(3,), method=HMC(draws=10, tune=50, chains=1, n_leapfrog=10), random_state=0
        )
    ),
]
