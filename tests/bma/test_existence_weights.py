"""Existence weights, the effective number of models and the weight-input rules.

The averaging tests use a residual model with a known answer (mean 0, a fixed sd), so that each
corrected model's existence probability is ``Phi(S_model / sd)`` in closed form.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator

from bayesphys.bma import (
    ConcentratedWeightsWarning,
    MassModelAveraging,
    effective_number_of_models,
    existence_log_likelihood,
    existence_weights,
)
from bayesphys.data.masses import DataCoverageWarning

SD = 0.8  # MeV, the fixed predictive sd of the residual model below


class FixedResidual(BaseEstimator):
    """A residual model that predicts no correction with sd ``SD``: p_ex in closed form."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, y_err=None, progressbar=False):
        self.n_features_in_ = 2
        return self

    def predict(self, X, return_std=False, include_noise=False):
        mean = np.zeros(len(X))
        return (mean, np.full(len(X), SD)) if return_std else mean


# Training region: Z = 20-21, N = 20-27 (both models agree with the "measurements" there).
TRAIN = pd.DataFrame(
    [(z, n, 10.0 - 0.5 * (n - 20)) for z in (20, 21) for n in range(20, 28)],
    columns=["Z", "N", "S2n"],
)
# Nuclei measured later: three bound and one unbound.
EXISTENCE = pd.DataFrame(
    {"Z": [20, 20, 21, 21], "N": [28, 30, 28, 32], "bound": [True, True, True, False]}
)
# Model S2n at the existence nuclei: A gets every status right, B calls the bound ones unbound.
S_A = np.array([1.0, 0.5, 1.2, -0.7])
S_B = np.array([-0.4, -1.0, 0.3, -0.2])


def _theory(at_existence):
    extra = EXISTENCE[["Z", "N"]].assign(S2n=at_existence)
    return pd.concat([TRAIN, extra], ignore_index=True)


def _bma(weights="existence", models=None, **fit):
    models = models or {"A": _theory(S_A), "B": _theory(S_B)}
    bma = MassModelAveraging(models, residual_model=FixedResidual(), weights=weights)
    return bma.fit(TRAIN, **fit)


def _closed_form(*surfaces):
    bound = EXISTENCE["bound"].to_numpy()
    log_l = np.array(
        [np.where(bound, norm.logcdf(s / SD), norm.logsf(s / SD)).sum() for s in surfaces]
    )
    return np.exp(log_l - np.logaddexp.reduce(log_l)), log_l


def test_existence_weights_match_the_bernoulli_likelihood():
    with pytest.warns(ConcentratedWeightsWarning):  # w_A = 0.975
        bma = _bma(existence_table=EXISTENCE)
    expected, log_l = _closed_form(S_A, S_B)
    np.testing.assert_allclose(bma.log_scores_.to_numpy(), log_l, rtol=1e-12)
    np.testing.assert_allclose(bma.weights_.to_numpy(), expected, rtol=1e-10)
    assert bma.weights_["A"] > bma.weights_["B"]


def test_existence_set_defaults_to_the_sign_of_later_measurements():
    later = EXISTENCE[["Z", "N"]].assign(S2n=[0.3, 0.1, 2.0, -0.05])  # same statuses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConcentratedWeightsWarning)
        from_table = _bma(existence_table=EXISTENCE)
        from_values = _bma(validation_table=later)
    np.testing.assert_allclose(from_values.weights_, from_table.weights_, rtol=1e-12)


def test_the_helpers_on_probabilities():
    p = np.column_stack([norm.cdf(S_A / SD), norm.cdf(S_B / SD)])
    np.testing.assert_allclose(
        existence_weights(EXISTENCE["bound"], p), _closed_form(S_A, S_B)[0], rtol=1e-10
    )
    # A model that gives an observed outcome probability 0 gets weight 0, not NaN.
    np.testing.assert_array_equal(existence_weights([True, False], [[0, 0.5], [0, 0.5]]), [0, 1])
    # Logs keep a p within 1e-22 of 1: log(1 - p) = -50 is not rounded to log(0).
    log_l = existence_log_likelihood(np.array([False]), np.array([[-2e-22]]), np.array([[-50.0]]))
    np.testing.assert_allclose(log_l, [-50.0])
    with pytest.raises(TypeError, match="bound"):
        existence_log_likelihood([1, 0], np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="p_ex"):
        existence_weights([True], [[1.5]])


def test_a_model_without_a_nucleus_is_scored_by_the_others_average_there():
    # C agrees with A except that its table lacks the last existence nucleus (Z = 21, N = 32).
    theory_c = _theory(S_A).query("not (Z == 21 and N == 32)")
    models = {"A": _theory(S_A), "B": _theory(S_B), "C": theory_c}
    with pytest.warns(DataCoverageWarning, match="existence set of 4 nuclei: at 1 a model") as w:
        bma = _bma(models=models, existence_table=EXISTENCE)
    assert not any("left out" in str(warning.message) for warning in w)  # none is
    bound = EXISTENCE["bound"].to_numpy()
    _, (log_a, log_b) = _closed_form(S_A, S_B)
    # At the missing nucleus (unbound), C scores log(1 - mean(p_A, p_B)).
    p_missing = np.mean(norm.cdf(np.array([S_A[-1], S_B[-1]]) / SD))
    log_c = np.where(bound, norm.logcdf(S_A / SD), 0.0)[:-1].sum() + np.log1p(-p_missing)
    np.testing.assert_allclose(bma.log_scores_.to_numpy(), [log_a, log_b, log_c], rtol=1e-12)


def test_effective_number_of_models_and_its_warning():
    assert effective_number_of_models([0.5, 0.5]) == pytest.approx(2.0)
    assert effective_number_of_models([0.25] * 4) == pytest.approx(4.0)
    assert effective_number_of_models([0.9, 0.1]) == pytest.approx(1 / 0.82)
    with pytest.raises(ValueError, match="sum to one"):
        effective_number_of_models([0.5, 0.6])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConcentratedWeightsWarning)
        uniform = _bma(weights="uniform")  # N_eff = 2: no warning
        single = MassModelAveraging(
            {"A": _theory(S_A)}, residual_model=FixedResidual(), weights="uniform"
        ).fit(TRAIN)  # one model is not an average: no warning
    assert uniform.effective_n_models_ == pytest.approx(2.0)
    assert single.effective_n_models_ == pytest.approx(1.0)
    # B calls two of the three bound nuclei unbound: w_A = 0.975, N_eff = 1.05 < 1.5.
    expected = r"1/sum\(w\^2\) = 1.051 < 1.5 \(A has weight 0.975\)"
    with pytest.warns(ConcentratedWeightsWarning, match=expected):
        fit = _bma(existence_table=EXISTENCE)
    w = fit.weights_.to_numpy()
    assert fit.effective_n_models_ == pytest.approx(1 / np.sum(w**2))
    assert fit.idata_.attrs["effective_n_models"] == pytest.approx(fit.effective_n_models_)


@pytest.mark.parametrize("weights", ["evidence", "uniform"])
def test_a_validation_table_these_weights_ignore_is_refused(weights):
    later = EXISTENCE[["Z", "N"]].assign(S2n=1.0)
    with pytest.raises(ValueError, match=f"weights='{weights}' does not use validation_table"):
        MassModelAveraging(["DUZU"], weights=weights).fit(TRAIN, later)


def test_existence_inputs_are_checked():
    with pytest.raises(ValueError, match="existence_table is used only by weights='existence'"):
        _bma(weights="uniform", existence_table=EXISTENCE)
    with pytest.raises(ValueError, match="weights='existence' needs an existence_table"):
        _bma()
    later = EXISTENCE[["Z", "N"]].assign(S2n=1.0)
    with pytest.raises(ValueError, match="pass one of them, not both"):
        _bma(existence_table=EXISTENCE, validation_table=later)
    with pytest.raises(TypeError, match="column bound must be bool"):
        _bma(existence_table=EXISTENCE.assign(bound=1))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['bound'\]"):
        _bma(existence_table=EXISTENCE.drop(columns="bound"))
    with pytest.raises(ValueError, match="existence_table: column Z"):
        _bma(existence_table=EXISTENCE.assign(Z=20.5))


def test_reweighted_shares_the_fits_and_leaves_the_original():
    fit = _bma(weights="uniform")
    with pytest.warns(ConcentratedWeightsWarning):
        other = fit.reweighted("existence", existence_table=EXISTENCE)
    assert other.corrected_ is fit.corrected_
    assert other.weights == "existence" and fit.weights == "uniform"
    np.testing.assert_allclose(fit.weights_, [0.5, 0.5])
    np.testing.assert_allclose(other.weights_, _closed_form(S_A, S_B)[0], rtol=1e-10)
    with pytest.raises(ValueError, match="weights must be one of"):
        fit.reweighted("best")


def test_two_neutron_drip_line_runs_over_even_n():
    # The model is bound up to N = 30 at even N; N = 31 has S2n > 0 but is odd.
    s2n = np.where(np.arange(20, 34) <= 31, 2.0, -5.0)
    table = pd.DataFrame({"Z": 20, "N": np.arange(20, 34), "S2n": s2n})
    train = table[table["N"] < 28].assign(S2n=lambda t: t["S2n"] + 0.01)
    bma = MassModelAveraging({"M": table}, residual_model=FixedResidual(), weights="uniform")
    drip = bma.fit(train).drip_line(20)
    assert drip.loc[0, "N_drip"] == 30


@pytest.mark.parametrize(
    ("bound", "error"),
    [
        ([0.3, 0.9], ValueError),
        ([2, 0], ValueError),
        ([np.nan, 1.0], ValueError),
        (["False", "True"], TypeError),
    ],
)
def test_existence_weights_refuse_statuses_that_are_not_zero_or_one(bound, error):
    # A bool cast read 0.3, 2 and the text "False" as observed bound (weights 0.42 / 0.58
    # here instead of an error).
    with pytest.raises(error, match="bound must hold"):
        existence_weights(bound, [[0.9, 0.5], [0.2, 0.5]])


def test_existence_weights_take_zero_one_statuses_as_bools():
    p = [[0.9, 0.5], [0.2, 0.5]]
    np.testing.assert_array_equal(
        existence_weights([1, 0], p), existence_weights(np.array([True, False]), p)
    )
    np.testing.assert_allclose(existence_weights([1.0, 0.0], p), [0.72 / 0.97, 0.25 / 0.97])
