"""Model comparison by evidence and LOO, and simulation-based calibration of the closed forms."""

import numpy as np
import pytest
from scipy import stats

from bayesphys import BayesianLinearRegression
from bayesphys.inference import Conjugate
from bayesphys.likelihoods import Gaussian
from bayesphys.linear import compare_models, polynomial_features
from bayesphys.priors import InverseGamma, Normal


def test_evidence_and_loo_pick_the_true_polynomial_degree():
    rng = np.random.default_rng(12)
    x = np.sort(rng.uniform(-1, 1, 60))
    y_err = rng.uniform(0.05, 0.15, 60)
    y = 0.5 - x + 2.0 * x**3 + y_err * rng.normal(size=60)
    models = {
        f"degree {d}": BayesianLinearRegression(
            Normal(0, 5), noise=0.0, method=Conjugate(draws=500, chains=2), random_state=d
        ).fit(polynomial_features(x, d), y, y_err=y_err)
        for d in range(1, 7)
    }
    table = compare_models(models)
    assert table["evidence_probability"].idxmax() == "degree 3"
    np.testing.assert_allclose(table["evidence_probability"].sum(), 1.0)
    # LOO cannot separate nested models as sharply; the true one must be within 2 SE of the best.
    best = table["elpd_loo"].max()
    assert best - table.loc["degree 3", "elpd_loo"] < 2 * table.loc["degree 3", "elpd_se"] + 1e-9
    assert table.loc["degree 1", "elpd_loo"] < table.loc["degree 3", "elpd_loo"] - 10


def test_compare_models_rejects_different_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 1))
    make = lambda: BayesianLinearRegression(  # noqa: E731
        noise=1.0, method=Conjugate(draws=50, chains=1), random_state=0
    )
    a = make().fit(X, X[:, 0])
    b = make().fit(X, 2 * X[:, 0])
    with pytest.raises(ValueError, match="same observations"):
        compare_models({"a": a, "b": b})


def _sbc_ranks(make_model, simulate, n_sims, n_draws, rng):
    ranks = []
    for _ in range(n_sims):
        truth, X, y = simulate(rng)
        model = make_model().set_params(method=Conjugate(draws=n_draws, chains=1), random_state=rng)
        model.fit(X, y)
        post = model.idata_.posterior
        draws = np.column_stack(
            [post["coef"].values.reshape(n_draws, -1)]
            + ([post["sigma"].values.reshape(n_draws, 1)] if "sigma" in post else [])
        )
        ranks.append(np.sum(draws < truth, axis=0))
    return np.array(ranks)


@pytest.mark.slow
@pytest.mark.parametrize("model_kind", ["fixed", "nig"])
def test_simulation_based_calibration_of_closed_forms(model_kind):
    """Ranks of the true parameters among exact posterior draws are uniform (Talts et al. 2018)."""
    rng = np.random.default_rng(2024)
    n, p, tau, sigma, a0, b0 = 15, 2, 1.5, 0.7, 3.0, 2.0
    X = rng.normal(size=(n, p))

    def simulate(rng):
        s2 = (
            sigma**2
            if model_kind == "fixed"
            else stats.invgamma(a0, scale=b0).rvs(random_state=rng)
        )
        scale = tau * (1.0 if model_kind == "fixed" else np.sqrt(s2))
        coef = scale * rng.normal(size=p)
        y = X @ coef + np.sqrt(s2) * rng.normal(size=n)
        truth = coef if model_kind == "fixed" else np.r_[coef, np.sqrt(s2)]
        return truth, X, y

    def make_model():
        if model_kind == "fixed":
            return BayesianLinearRegression(Normal(0, tau), noise=sigma, fit_intercept=False)
        return BayesianLinearRegression(
            Normal(0, tau),
            fit_intercept=False,
            coef_prior_scaled_by_noise=True,
            likelihood=Gaussian(variance=InverseGamma(a0, b0)),
        )

    n_draws, n_sims = 19, 1000
    ranks = _sbc_ranks(make_model, simulate, n_sims, n_draws, rng)
    for column in ranks.T:
        counts = np.bincount(column, minlength=n_draws + 1)
        assert stats.chisquare(counts).pvalue > 1e-3


def test_compare_models_needs_pointwise_log_likelihood():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 30)
    y = x + 0.1 * rng.normal(size=30)
    fits = {
        d: BayesianLinearRegression(Normal(0, 5), noise=0.1, method="map").fit(
            polynomial_features(x, d), y
        )
        for d in (1, 2)
    }
    assert "log_likelihood" not in fits[1].idata_.groups()
    with pytest.raises(ValueError, match="log-likelihood"):
        compare_models(fits)
