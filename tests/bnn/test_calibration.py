"""Simulation-based calibration (Talts et al. 2018) of the BNN's NUTS on a tiny network.

Each replicate draws the weights and the noise from the priors, simulates ``y`` from the network
they define, fits with NUTS and records the rank of each true value among thinned posterior
draws; if the sampler targets the right posterior, the ranks are uniform over ``0..L``.

The network is fitted to *standardised* inputs and targets, with the mean and standard deviation
of the data, so on raw data the fitted posterior is not that of a fixed generative model. The
simulation therefore makes the standardisation the identity:

- the design has mean 0 and standard deviation 1;
- ``K`` extra points at ``x = +-1`` (mean 0, mean square 1: the design stays standardised) carry
  ``y_err = 1e30``; their ``y`` values are set so that all ``y`` have mean 0 and standard
  deviation 1. In float64, ``sigma**2 + 1e60 == 1e60`` and ``(y - f)**2 / 1e60`` is far below
  the resolution of the log density, so these points add an exact constant to it;
- the simulated points carry ``y_err = 1e-30``, which adds exactly nothing to ``sigma**2``.

The fitted posterior is then exactly ``p(w, sigma | y)`` of the model simulated from. When no
extra values fit (the simulated ``y`` already has too large a spread) the data are drawn again:
conditioning on the data leaves ``p(w, sigma | y)`` unchanged, so the ranks stay uniform. The
ranks are those of weight-symmetry invariant quantities: the noise ``sigma`` and the latent
``f`` at two inputs.
"""

import numpy as np
import pytest
from scipy import stats

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.inference import NUTS
from bayesphys.likelihoods import Gaussian
from bayesphys.priors import HalfNormal

pytestmark = pytest.mark.slow

N_REPLICATES = 200
# More points than the 7 weights: with fewer, the net can interpolate and the posterior has a
# funnel towards sigma -> 0 that these short chains do not enter (at 6 points the ranks of sigma
# piled up at 0, chi-squared p = 1e-4). The extra points must leave room for the spread of y.
N_POINTS, N_EXTRA = 16, 48
HIDDEN = 2
SIGMA_PRIOR = HalfNormal(0.5)
CHAINS, DRAWS, TUNE = 8, 25, 100
THIN = 10  # 8 chains x 25 draws -> 20 draws
N_BINS = 7  # ranks 0..20 (21 values) fall 3 to a bin
ALPHA = 0.01
TINY, HUGE = 1e-30, 1e30
_base = np.linspace(-1.0, 1.0, N_POINTS)
X_SIM = (_base - _base.mean()) / _base.std()
X_EXTRA = np.resize([1.0, -1.0], N_EXTRA)
#: Inputs where the latent f is calibrated: the centre and the last design point.
X_PROBE = np.array([0.0, X_SIM[-1]])
NAMES = ("sigma", "f_centre", "f_edge")


def _latent(W0, b0, W1, b1, x: np.ndarray) -> np.ndarray:
    """One-hidden-layer tanh network ``f(x)`` for weights with leading batch axes."""
    h = np.tanh(x[..., :, None] * W0[..., None, 0, :] + b0[..., None, :])
    return np.einsum("...nh,...h->...n", h, W1[..., 0]) + b1


def _extras(y: np.ndarray) -> np.ndarray | None:
    """Values at the extra points giving all targets mean 0 and std 1 (None if impossible)."""
    total = N_POINTS + N_EXTRA
    s, room = y.sum(), total - np.sum(y**2)
    spread = room - s**2 / N_EXTRA
    if spread <= 0:
        return None
    # A zero-sum, unit-norm direction added to the constant -s / K.
    direction = np.resize([1.0, -1.0], N_EXTRA) / np.sqrt(N_EXTRA)
    return -s / N_EXTRA + np.sqrt(spread) * direction


def _simulate(rng: np.random.Generator):
    while True:
        W0, b0 = rng.normal(size=(1, HIDDEN)), rng.normal(size=HIDDEN)
        W1, b1 = rng.normal(size=(HIDDEN, 1)), rng.normal(size=1)
        sigma = float(SIGMA_PRIOR.sample((), rng))
        y = _latent(W0, b0, W1, b1, X_SIM) + sigma * rng.normal(size=N_POINTS)
        extra = _extras(y)
        if extra is not None:
            f = _latent(W0, b0, W1, b1, X_PROBE)
            truth = {"sigma": sigma, "f_centre": f[0], "f_edge": f[1]}
            return truth, y, extra


def _ranks(seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    truth, y, extra = _simulate(rng)
    X = np.concatenate([X_SIM, X_EXTRA])[:, None]
    y_all = np.concatenate([y, extra])
    y_err = np.concatenate([np.full(N_POINTS, TINY), np.full(N_EXTRA, HUGE)])
    # The construction must make the internal standardisation the identity.
    np.testing.assert_allclose(
        [X.mean(), X.std(), y_all.mean(), y_all.std()], [0, 1, 0, 1], atol=1e-12
    )
    net = BayesianNeuralNetwork(
        hidden=(HIDDEN,),
        likelihood=Gaussian(noise=SIGMA_PRIOR),
        method=NUTS(draws=DRAWS, tune=TUNE, chains=CHAINS, max_treedepth=4),
        random_state=seed,
    )
    net.fit(X, y_all, y_err=y_err, progressbar=False)
    post = net.idata_.posterior
    # Thin the flattened (chain, draw) sequence within chains: every THIN-th draw.
    keep = {
        k: post[k].values.reshape(CHAINS * DRAWS, *post[k].shape[2:])[THIN - 1 :: THIN]
        for k in ("W0", "b0", "W1", "b1", "sigma")
    }
    f = _latent(keep["W0"], keep["b0"], keep["W1"], keep["b1"], X_PROBE)
    draws = {"sigma": keep["sigma"], "f_centre": f[:, 0], "f_edge": f[:, 1]}
    return {name: int(np.sum(draws[name] < truth[name])) for name in NAMES}


def _uniformity_pvalue(ranks: np.ndarray, n_ranks: int, n_bins: int) -> float:
    counts = np.bincount(ranks * n_bins // n_ranks, minlength=n_bins)
    return float(stats.chisquare(counts).pvalue)


# A few divergences near small sigma are expected at these short chains; the ranks are the test.
@pytest.mark.filterwarnings("ignore:.*diverged:RuntimeWarning")
def test_sbc_bnn_noise_and_latent():
    """Ranks of sigma and f at two inputs are uniform (Bonferroni over the three)."""
    ranks = {name: [] for name in NAMES}
    for seed in range(N_REPLICATES):
        for name, rank in _ranks(seed).items():
            ranks[name].append(rank)
    n_ranks = CHAINS * DRAWS // THIN + 1
    pvalues = {name: _uniformity_pvalue(np.array(r), n_ranks, N_BINS) for name, r in ranks.items()}
    print(f"SBC p-values: {pvalues}")
    assert min(pvalues.values()) > ALPHA / len(NAMES), pvalues
