"""Model averaging of GP-corrected mass models on a region of the nuclear chart.

Train on AME2003 S2n, test on the S2n values AME2020 made computable since (the protocol of
Neufcourt et al.); the full chart with five models is the slow test below.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from bayesphys.bma import MassModelAveraging, _residuals, residual_gp
from bayesphys.bma._residuals import GP_NUTS_PREDICT_DRAWS, GP_NUTS_SETTINGS
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.data.masses import load_ame, new_measurements
from bayesphys.gp import GPRegression
from bayesphys.inference import NUTS

REGION = (20, 40)
MODELS = ["FRDM95", "DUZU"]


def _region(table, z_range=REGION):
    return table[table["Z"].between(*z_range)].reset_index(drop=True)


@pytest.fixture(scope="module")
def data():
    return _region(load_ame(2003)), _region(new_measurements(2003, 2020, "S2n"))


@pytest.fixture(scope="module")
def fitted(data):
    train, test = data
    return MassModelAveraging(MODELS, weights="predictive", random_state=0).fit(train, test)


def _rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_gp_correction_reduces_test_rms(fitted, data):
    _, test = data
    pred = fitted.predict(test)
    assert (pred["n_models"] == len(MODELS)).all()
    for name in MODELS:
        bare = fitted.corrected_[name].predict(test["Z"], test["N"])[2]
        raw, corrected = _rms(test["S2n"], bare), _rms(test["S2n"], pred[f"{name}_mean"])
        assert corrected < raw, (name, raw, corrected)


def test_intervals_cover_new_measurements(fitted, data):
    _, test = data
    pred = fitted.predict(test)
    z = (test["S2n"] - pred["bma_mean"]) / np.hypot(pred["bma_std"], test["S2n_uncertainty"])
    n = len(z)
    # Binomial sd of an empirical coverage, plus slack for nuclei far from the training set.
    assert abs(np.mean(np.abs(z) < 1) - 0.68) < 3 * np.sqrt(0.68 * 0.32 / n) + 0.05
    assert np.mean(np.abs(z) < 1.96) > 0.95 - 3 * np.sqrt(0.95 * 0.05 / n) - 0.05


def test_weights_are_the_normalised_validation_scores(fitted, data):
    _, test = data
    w = fitted.weights_
    assert list(w.index) == MODELS and w.sum() == pytest.approx(1.0)
    # Recompute each model's summed log predictive density of the test data by hand.
    pred = fitted.predict(test)
    scores = []
    for name in MODELS:
        sd = np.hypot(pred[f"{name}_std"], test["S2n_uncertainty"])
        scores.append(norm.logpdf(test["S2n"], pred[f"{name}_mean"], sd).sum())
    np.testing.assert_allclose(fitted.log_scores_.to_numpy(), scores, rtol=1e-10)
    expected = np.exp(scores - np.logaddexp.reduce(scores))
    np.testing.assert_allclose(w.to_numpy(), expected, rtol=1e-8, atol=1e-300)
    assert fitted.idata_.posterior["weight"].shape == (1, 1, len(MODELS))


def test_bma_moments_are_the_mixture_moments(fitted, data):
    _, test = data
    pred = fitted.predict(test.head(5))
    w = fitted.weights_.to_numpy()
    mu = pred[[f"{m}_mean" for m in MODELS]].to_numpy()
    sd = pred[[f"{m}_std" for m in MODELS]].to_numpy()
    mean = mu @ w
    np.testing.assert_allclose(pred["bma_mean"], mean)
    np.testing.assert_allclose(pred["bma_std"] ** 2, (sd**2 + mu**2) @ w - mean**2, rtol=1e-8)


def test_existence_probability_and_drip_line(fitted):
    stable = fitted.existence_probability(pd.DataFrame({"Z": [20, 30], "N": [20, 36]}))
    assert np.all(stable["p_ex"] > 0.999)
    drip = fitted.drip_line([20, 30])
    assert np.all(drip["N_low"] <= drip["N_drip"]) and np.all(drip["N_drip"] <= drip["N_high"])
    # Beyond the drip line the probability falls: far past it, nuclei are unbound.
    far = fitted.existence_probability(pd.DataFrame({"Z": [20], "N": [drip["N_high"][0] + 2]}))
    assert far["p_ex"][0] < 0.5


def test_evidence_and_uniform_weights(data):
    train, _ = data
    small = _region(train, (20, 26))
    fit = MassModelAveraging(MODELS, weights="evidence", random_state=1).fit(small)
    evidences = [fit.corrected_[m].log_evidence for m in MODELS]
    np.testing.assert_allclose(fit.log_scores_, evidences)
    np.testing.assert_allclose(fit.weights_.sum(), 1.0)
    uniform = MassModelAveraging(MODELS, weights="uniform", random_state=1).fit(small)
    np.testing.assert_allclose(uniform.weights_, 0.5)


def test_auto_observable_uses_s1n_at_odd_n(data):
    train, _ = data
    fit = MassModelAveraging(["FRDM95"], observable="auto", weights="uniform", random_state=2)
    fit.fit(_region(train, (20, 24)))
    pred = fit.predict(pd.DataFrame({"Z": [21, 22], "N": [25, 26]}))
    assert list(pred["observable"]) == ["S1n", "S2n"]
    assert set(fit.corrected_["FRDM95"].residual_models) == {"ee", "eo", "oe", "oo"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"observable": "S3n"}, "observable"),
        ({"weights": "bic"}, "weights"),
        ({"residual_model": "spline"}, "residual_model"),
        # A BNN has no marginal likelihood, and a method it lacks: refused before any fit.
        ({"residual_model": "bnn"}, "weights='evidence'"),
        (
            {"residual_model": BayesianNeuralNetwork(method="map"), "weights": "uniform"},
            "does not support method='map'",
        ),
    ],
)
def test_bad_options(data, kwargs, match):
    train, _ = data
    with pytest.raises(ValueError, match=match):
        MassModelAveraging(MODELS, **kwargs).fit(train)


def test_predictive_weights_need_validation_data(data):
    with pytest.raises(ValueError, match="validation_table"):
        MassModelAveraging(MODELS, weights="stacking").fit(data[0])
    with pytest.raises(ValueError, match="GK88"):
        MassModelAveraging(["GK88"]).fit(data[0])
    with pytest.raises(ValueError, match="columns Z and N"):
        MassModelAveraging(MODELS, weights="uniform").fit(_region(data[0], (20, 22))).predict(
            pd.DataFrame({"A": [40]})
        )


@pytest.mark.slow
def test_published_protocol_five_models_full_chart():
    """Neufcourt et al. protocol: GP cuts the test rms of the bare models and covers ~95%."""
    train = _region(load_ame(2003), (8, 100))
    test = new_measurements(2003, 2020, "S2n")
    models = ["FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU"]
    bma = MassModelAveraging(models, weights="predictive", random_state=0).fit(train, test)
    pred = bma.predict(test)
    for name in models:
        bare = bma.corrected_[name].predict(test["Z"], test["N"])[2]
        ok = np.isfinite(bare) & np.isfinite(pred[f"{name}_mean"])
        raw = _rms(test["S2n"][ok], bare[ok])
        corrected = _rms(test["S2n"][ok], pred[f"{name}_mean"][ok])
        assert corrected < 0.97 * raw, (name, raw, corrected)
    z = (test["S2n"] - pred["bma_mean"]) / np.hypot(pred["bma_std"], test["S2n_uncertainty"])
    assert 0.88 < np.mean(np.abs(z[np.isfinite(z)]) < 1.96) <= 1.0


def test_residual_gp_settings_and_clones(data, monkeypatch):
    nuts = residual_gp("nuts")
    assert nuts.method.get_params() == NUTS(**GP_NUTS_SETTINGS).get_params()
    assert nuts.max_predict_draws == GP_NUTS_PREDICT_DRAWS
    assert residual_gp("map").method.name == "map"
    with pytest.raises(ValueError, match="'map' or 'nuts'"):
        residual_gp("vi")
    seen = []
    fit_residual = _residuals.fit_residual

    def record(task):
        seen.append(task)
        return fit_residual(task)

    monkeypatch.setattr(_residuals, "fit_residual", record)
    template = GPRegression(ard=False)
    train = _region(data[0], (20, 23))
    bma = MassModelAveraging(["DUZU"], residual_model=template, weights="uniform", random_state=3)
    bma.fit(train)
    fitted = list(bma.corrected_["DUZU"].residual_models.values())
    assert not hasattr(template, "idata_"), "the template is cloned, never fitted"
    assert all(gp.ard is False and gp is not template for gp in fitted)
    seeds = [task.seed for task in seen]
    assert len(set(seeds)) == len(seeds) == len(fitted), "one random stream per fit"
    assert [gp.random_state for gp in fitted] == seeds


def test_warnings_of_a_residual_fit_name_the_model_and_class():
    import warnings

    class Warns(BaseEstimator):
        def __init__(self, random_state=None):
            self.random_state = random_state

        def fit(self, X, y, **kwargs):
            warnings.warn("3 of 300 transitions diverged", RuntimeWarning, stacklevel=2)
            return self

    task = _residuals.ResidualTask(
        model="DUZU", parity="oe", estimator=Warns(),
        X=np.zeros((3, 2)), residual=np.zeros(3), y_err=None, seed=0,
    )  # fmt: skip
    with pytest.warns(RuntimeWarning, match=r"^DUZU residuals, oe nuclei: 3 of 300 trans"):
        _residuals.fit_residual(task)


def test_model_averaging_is_a_scikit_learn_estimator():
    from sklearn.base import clone

    bma = MassModelAveraging(MODELS, residual_model=residual_gp("nuts"), random_state=4)
    params = bma.get_params(deep=True)
    assert params["residual_model__method__draws"] == GP_NUTS_SETTINGS["draws"]
    bma.set_params(residual_model__method__draws=20)
    fresh = clone(bma)
    assert fresh.residual_model is not bma.residual_model
    assert fresh.get_params()["residual_model__method__draws"] == 20
    assert fresh.random_state == 4
    with pytest.raises(NotFittedError):
        fresh.predict(pd.DataFrame({"Z": [20], "N": [28]}))
