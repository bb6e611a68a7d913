"""BNN configurations for the shared estimator contract (``tests/test_contract.py``)."""

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import HalfNormal
from tests.contract import ContractCase

_LEARNED = ("n_features_in_", "n_weights_", "method_", "idata_")
_SMALL = {"chains": 2, "draws": 20, "progressbar": False}

CASES = [
    ContractCase(
        "bnn-hmc",
        lambda: BayesianNeuralNetwork(hidden=(4,)),
        {"method": "hmc", "tune": 30, **_SMALL},
        learned=_LEARNED,
    ),
    ContractCase(
        "bnn-hmc-hierarchical",
        lambda: BayesianNeuralNetwork(
            hidden=(3,), weight_prior="hierarchical", likelihood=Gaussian(noise=HalfNormal(0.5))
        ),
        {"method": "hmc", "tune": 30, **_SMALL},
        learned=_LEARNED,
    ),
    ContractCase(
        "bnn-nuts",
        lambda: BayesianNeuralNetwork(hidden=(2,)),
        {"method": "nuts", "tune": 20, "chains": 2, "draws": 10, "progressbar": False},
        learned=_LEARNED,
    ),
    ContractCase(
        "bnn-sghmc",
        lambda: BayesianNeuralNetwork(hidden=(4,)),
        {"method": "sghmc", "tune": 50, "thin": 2, "batch_size": 10, **_SMALL},
        learned=_LEARNED,
    ),
    ContractCase(
        "bnn-vi",
        lambda: BayesianNeuralNetwork(hidden=(4,), activation="relu"),
        {"method": "vi", "tune": 50, "batch_size": 10, **_SMALL},
        learned=_LEARNED,
    ),
]
