"""Simulation-based calibration (Talts et al. 2018) of the GP's NUTS over its hyperparameters.

Each replicate draws the lengthscale, outputscale and noise from the priors given to the
estimator, simulates ``y`` from the GP they define at a small fixed design, fits with NUTS and
records the rank of each true value among thinned posterior draws. If the sampler targets the
right posterior, the ranks are uniform over ``0..L``; a chi-squared test checks that.

The GP is exact here: X is used as given, ``mean="zero"`` subtracts nothing, and the priors are
written in the units of X and y (the internal standardisation of y is a change of units with a
constant Jacobian), so the simulated model is the fitted one.
"""

import numpy as np
import pytest
from scipy import stats

from bayesphys.gp import GPRegression
from bayesphys.inference import NUTS
from bayesphys.priors import LogNormal

pytestmark = pytest.mark.slow

N_REPLICATES = 200
N_POINTS = 8
CHAINS, DRAWS, TUNE = 2, 100, 150
THIN = 10  # 2 chains x 100 draws -> 20 draws, several autocorrelation times apart
N_BINS = 7  # ranks 0..20 (21 values) fall 3 to a bin
ALPHA = 0.01
PRIORS = {
    "lengthscale": LogNormal(float(np.log(0.3)), 0.4),
    "outputscale": LogNormal(0.0, 0.5),  # the variance of f
    "noise": LogNormal(float(np.log(0.2)), 0.4),  # the noise standard deviation
}
NAMES = tuple(PRIORS)


def _simulate(rng: np.random.Generator, X: np.ndarray) -> tuple[dict, np.ndarray]:
    """True hyperparameters from the priors and ``y`` from the GP they define."""
    theta = {name: float(prior.sample((), rng)) for name, prior in PRIORS.items()}
    sq = (X[:, None, 0] - X[None, :, 0]) ** 2
    cov = theta["outputscale"] * np.exp(-0.5 * sq / theta["lengthscale"] ** 2)
    cov += theta["noise"] ** 2 * np.eye(len(X))
    y = rng.multivariate_normal(np.zeros(len(X)), cov)
    return theta, y


def _ranks(seed: int, X: np.ndarray) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    theta, y = _simulate(rng, X)
    gp = GPRegression(
        priors={"lengthscale": PRIORS["lengthscale"], "outputscale": PRIORS["outputscale"]},
        noise=PRIORS["noise"],
        ard=False,
        method=NUTS(draws=DRAWS, tune=TUNE, chains=CHAINS, max_treedepth=5),
        random_state=seed,
    )
    gp.fit(X, y, progressbar=False)
    post = gp.idata_.posterior
    out = {}
    for name in NAMES:
        draws = post[name].values[:, THIN - 1 :: THIN].ravel()
        out[name] = int(np.sum(draws < theta[name]))
    return out


def _uniformity_pvalue(ranks: np.ndarray, n_ranks: int, n_bins: int) -> float:
    counts = np.bincount(ranks * n_bins // n_ranks, minlength=n_bins)
    return float(stats.chisquare(counts).pvalue)


def test_sbc_gp_hyperparameters():
    """Ranks of lengthscale, outputscale and noise are uniform (Bonferroni over the three)."""
    X = np.linspace(0.0, 1.0, N_POINTS)[:, None]
    ranks = {name: [] for name in NAMES}
    for seed in range(N_REPLICATES):
        for name, rank in _ranks(seed, X).items():
            ranks[name].append(rank)
    n_ranks = CHAINS * DRAWS // THIN + 1
    pvalues = {name: _uniformity_pvalue(np.array(r), n_ranks, N_BINS) for name, r in ranks.items()}
    print(f"SBC p-values: {pvalues}")
    assert min(pvalues.values()) > ALPHA / len(NAMES), pvalues
