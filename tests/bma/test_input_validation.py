"""Bad input to MassModelAveraging: a clear error naming the argument, or a warning counting
what was left out, never an answer for other nuclei than asked (issue 15, item 6)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bayesphys.bma import (
    ConcentratedWeightsWarning,
    MassModelAveraging,
    normalise_log_weights,
    parity_class,
    stacking_weights,
    uniform_weights,
)
from bayesphys.data.masses import DataCoverageWarning, load_ame, new_measurements

MODELS = ["FRDM95", "DUZU"]
REGION = (20, 24)
FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _region(table):
    return table[table["Z"].between(*REGION)].reset_index(drop=True)


@pytest.fixture(scope="module")
def data():
    return _region(load_ame(2003)), _region(new_measurements(2003, 2020, "S2n"))


@pytest.fixture(scope="module")
def bma(data):
    """A small fitted average, built once: uniform weights on 20 <= Z <= 24."""
    return MassModelAveraging(MODELS, weights="uniform", random_state=0).fit(data[0])


def _fit(train, validation=None, **kwargs):
    options = {"weights": "predictive", "random_state": 0} | kwargs
    return MassModelAveraging(MODELS, **options).fit(train, validation)


# --- reproductions: each of these answered silently before -----------------------------------


@pytest.mark.parametrize(
    "nuclei",
    [
        pd.DataFrame({"Z": [20.7], "N": [30.2]}),
        pd.DataFrame({"Z": [20], "N": [30.5]}),
        np.array([[20.7, 30.2]]),
    ],
)
def test_fractional_nuclei_are_refused(bma, nuclei):
    with pytest.raises(ValueError, match=r"nuclei.*must hold integers >= 0 .*got (20\.7|30\.5)"):
        bma.predict(nuclei)
    with pytest.raises(ValueError, match="nuclei"):
        bma.existence_probability(nuclei)


def test_fractional_or_missing_elements_in_drip_line(bma):
    with pytest.raises(ValueError, match=r"^Z must hold integers >= 0 .*got 20\.5"):
        bma.drip_line(20.5)
    with pytest.raises(ValueError, match="Z must hold integers >= 0; it has 1 NaN"):
        bma.drip_line([20, np.nan])
    with pytest.raises(ValueError, match="Z is empty"):
        bma.drip_line([])
    assert bma.drip_line(np.float64(20.0))["Z"].tolist() == [20]  # whole floats are integers


@pytest.mark.parametrize("levels", [(0.9, 0.1), (0.6, 0.84), (0.0, 0.84), 0.5, (0.16,)])
def test_drip_line_levels(bma, levels):
    with pytest.raises((ValueError, TypeError), match="levels must be two probabilities"):
        bma.drip_line(20, levels=levels)


@pytest.mark.parametrize(
    ("nuclei", "error", "match"),
    [
        (pd.DataFrame({"Z": [-3], "N": [3]}), ValueError, "nuclei column Z must hold integers"),
        (pd.DataFrame({"Z": [1e30], "N": [3]}), ValueError, "nuclei column Z must hold integers"),
        (pd.DataFrame({"Z": [True], "N": [3]}), TypeError, "nuclei column Z must hold integers"),
        (pd.DataFrame({"Z": [20 + 1j], "N": [3]}), TypeError, "nuclei column Z must hold"),
        (pd.DataFrame({"Z": ["20"], "N": [30]}), TypeError, "nuclei column Z must hold"),
        (pd.DataFrame({"Z": [], "N": []}), ValueError, "nuclei is empty"),
        (np.array([[20, 30, 1]]), ValueError, r"nuclei must be .*got shape \(1, 3\)"),
        ("20 30", TypeError, "nuclei must be"),
    ],
)
def test_other_bad_nuclei(bma, nuclei, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning or cast warning on the way
        with pytest.raises(error, match=match):
            bma.predict(nuclei)


def test_uncovered_nuclei_are_counted(bma):
    nuclei = pd.DataFrame({"Z": [20, 1, 200], "N": [30, 3, 300]})
    with pytest.warns(DataCoverageWarning, match="nuclei: 2 of 3 are covered by no mass model"):
        pred = bma.predict(nuclei)
    assert pred["n_models"].tolist() == [2, 0, 0]
    with pytest.warns(DataCoverageWarning, match="2 of 3 .* p_ex is NaN") as record:
        bma.existence_probability(nuclei)
    assert len(record) == 1 and record[0].filename == __file__


def test_parity_class_refuses_fractions():
    assert parity_class([20, 21], [30, 30]).tolist() == ["ee", "oe"]
    with pytest.raises(ValueError, match="Z must hold integers"):
        parity_class([20.5], [30])


def test_bad_validation_uncertainties_name_table_and_column(data):
    train, test = data
    for value, what in ((-0.3, "negative"), (np.inf, "infinite")):
        bad = test.copy()
        bad.loc[0, "S2n_uncertainty"] = value
        with pytest.raises(
            ValueError, match=rf"^validation_table: column S2n_uncertainty has 1 {what}"
        ):
            _fit(train, bad)
    bad = train.copy()
    bad.loc[0, "uncertainty"] = -0.1
    with pytest.raises(ValueError, match=r"^train_table: column uncertainty has 1 negative"):
        _fit(train=bad, weights="uniform")


def test_nan_validation_values_are_dropped_with_a_count(data):
    train, test = data
    bad = test.copy()
    bad.loc[[0, 3], "S2n"] = np.nan
    with pytest.warns(DataCoverageWarning, match="validation_table: 2 row.* NaN S2n") as record:
        fit = _fit(train, bad)
    assert record[0].filename == __file__
    reference = _fit(train, test.drop(index=[0, 3]))
    np.testing.assert_allclose(fit.log_scores_, reference.log_scores_, rtol=1e-12)
    with pytest.raises(ValueError, match="validation_table: column S2n has 1 infinite"):
        _fit(train, test.assign(S2n=test["S2n"].where(test.index != 0, np.inf)))


def test_validation_nuclei_not_in_every_model_are_counted(data):
    train, test = data
    # Z = 20, N = 2 is in no model table: its score would compare the models on nothing.
    extra = pd.concat([test, pd.DataFrame({"Z": [20], "N": [2], "S2n": [1.0]})])
    extra["S2n_uncertainty"] = extra["S2n_uncertainty"].fillna(0.1)
    with pytest.warns(DataCoverageWarning, match="validation_table: 1 of .* not covered"):
        _fit(train, extra.reset_index(drop=True))


def test_training_nuclei_no_model_covers_are_counted(data):
    train, _ = data
    extra = pd.DataFrame({"Z": [20, 20], "N": [2, 4], "S2n": [1.0, 2.0]})
    with pytest.warns(DataCoverageWarning, match="train_table: 2 of .* in no mass model"):
        MassModelAveraging(["DUZU"], weights="uniform", random_state=0).fit(
            pd.concat([_s2n(train), extra], ignore_index=True)
        )


def _s2n(table):
    from bayesphys.data.masses import separation_energy

    return separation_energy(table, "S2n")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda t: t.iloc[:0], ValueError, "train_table is empty"),
        (lambda t: t.drop(columns="N"), ValueError, r"train_table lacks column\(s\) \['N'\]"),
        (lambda t: t.assign(Z=t["Z"] + 0.5), ValueError, "train_table: column Z must hold int"),
        (lambda t: t.assign(N=t["N"].astype(str)), TypeError, "train_table: column N must"),
        (lambda t: t.drop(columns="mass_excess"), ValueError, "train_table needs a mass_excess"),
    ],
)
def test_bad_train_tables(data, change, error, match):
    with pytest.raises(error, match=match):
        _fit(change(data[0]), weights="uniform")


def test_bad_observable_table_columns(data):
    s2n = _s2n(data[0])
    with pytest.raises(ValueError, match="train_table: column Z must hold integers"):
        _fit(s2n.assign(Z=s2n["Z"] + 0.25), weights="uniform")
    with pytest.raises(TypeError, match="train_table: column S2n must hold real numbers"):
        _fit(s2n.assign(S2n=s2n["S2n"] + 0j), weights="uniform")
    with pytest.raises(ValueError, match=r"train_table lacks column\(s\) \['N'\]"):
        _fit(s2n.drop(columns="N"), weights="uniform")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": ["uniform"]}, ValueError, "weights must be one of"),
        ({"weights": np.array(["uniform"])}, ValueError, "weights must be one of"),
        ({"observable": None}, ValueError, "observable must be one of"),
        ({"models": ["FRDM95", "frdm95"]}, ValueError, "names a model more than once"),
        ({"models": ["FRDM95", 3]}, TypeError, r"models\[1\] must be a model name"),
        ({"models": {1: pd.DataFrame()}}, TypeError, "keys must be model names"),
        ({"models": "FRDM95"}, TypeError, "models must be a list of model names"),
        ({"models": []}, ValueError, "models is empty"),
    ],
)
def test_bad_constructor_arguments(data, kwargs, error, match):
    options = {"models": MODELS, "weights": "uniform", "random_state": 0} | kwargs
    with pytest.raises(error, match=match):
        MassModelAveraging(**options).fit(data[0])


# --- properties: finite answers or an error naming the argument -------------------------------

CELLS = st.one_of(
    st.integers(-5, 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
    st.complex_numbers(max_magnitude=100),
)
NUCLEI_ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.int64, np.float64, np.bool_, np.complex128, np.uint8, "U3"]),
    shape=st.tuples(st.integers(0, 4), st.integers(1, 3)),
)
SENSIBLE = st.lists(st.tuples(st.integers(18, 26), st.integers(20, 40)), min_size=1, max_size=4)


def _nuclei_inputs():
    frames = st.lists(st.tuples(CELLS, CELLS), max_size=4).map(
        lambda rows: pd.DataFrame(rows, columns=["Z", "N"], dtype=object)
    )
    numeric = SENSIBLE.map(lambda rows: pd.DataFrame(rows, columns=["Z", "N"]))
    return st.one_of(frames, NUCLEI_ARRAYS, numeric)


def _check_answer(call, *names):
    """Run ``call``: an error must name one of ``names``; every answer covered must be finite."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = call()
        except (ValueError, TypeError) as exc:
            assert any(name in str(exc) for name in names), exc
            assert not [w for w in caught if not issubclass(w.category, DataCoverageWarning)]
            return None
    # Concentrated weights are an answer said aloud too (two models, one far better).
    said = (DataCoverageWarning, ConcentratedWeightsWarning)
    others = [w for w in caught if not issubclass(w.category, said)]
    assert not others, [str(w.message) for w in others]
    if isinstance(out, pd.DataFrame) and "n_models" in out:
        covered = out["n_models"] > 0
        # A NaN answer only where no model covers the nucleus, and then said aloud.
        assert covered.all() or any(issubclass(w.category, DataCoverageWarning) for w in caught)
        values = out.loc[covered].drop(columns=["observable"], errors="ignore")
        assert np.isfinite(values.to_numpy(dtype=float)).all()
    return out


@FAST
@given(nuclei=_nuclei_inputs())
def test_predict_any_nuclei(bma, nuclei):
    out = _check_answer(lambda: bma.predict(nuclei), "nuclei")
    if out is not None:
        assert (out["bma_std"][out["n_models"] > 0] >= 0).all()


@FAST
@given(nuclei=_nuclei_inputs())
def test_existence_probability_any_nuclei(bma, nuclei):
    out = _check_answer(lambda: bma.existence_probability(nuclei), "nuclei")
    if out is not None:
        p = out["p_ex"][out["n_models"] > 0]
        assert ((p >= 0) & (p <= 1)).all()


@FAST
@given(
    Z=st.one_of(CELLS, st.lists(st.one_of(st.integers(19, 25), CELLS), max_size=3)),
    levels=st.one_of(st.tuples(st.floats(-1, 2), st.floats(-1, 2)), CELLS),
)
def test_drip_line_any_elements(bma, Z, levels):
    out = _check_answer(lambda: bma.drip_line(Z, levels=levels), "Z", "levels")
    if out is not None:
        ordered = out.dropna()
        assert (ordered["N_low"] <= ordered["N_drip"]).all()
        assert (ordered["N_drip"] <= ordered["N_high"]).all()


@settings(FAST, max_examples=10)
@given(
    col=st.sampled_from(["Z", "N", "S2n", "S2n_uncertainty"]),
    cells=st.lists(CELLS, min_size=1, max_size=3),
)
def test_fit_on_validation_tables_with_bad_cells(data, col, cells):
    train, test = data
    bad = test.astype({col: object})
    bad.loc[: len(cells) - 1, col] = pd.Series(cells, dtype=object).to_numpy()
    fit = _check_answer(lambda: _fit(train, bad), "validation_table")
    if fit is not None:
        assert np.isfinite(fit.weights_).all() and np.isfinite(fit.log_scores_).all()


def test_uniform_weights_need_an_integer_count():
    with pytest.raises(TypeError, match="n_models must be an integer"):
        uniform_weights(2.5)


@FAST
@given(
    scores=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 5), st.integers(1, 3)),
        elements=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf])),
    )
)
def test_weight_functions_on_any_scores(scores):
    for call, name in (
        (lambda: normalise_log_weights(scores[:, 0]), "log_scores"),
        (lambda: stacking_weights(scores), "log_density"),
    ):
        try:
            w = call()
        except (ValueError, TypeError) as exc:
            assert name in str(exc), exc
        else:
            assert np.isfinite(w).all() and (w >= 0).all()
            assert w.sum() == pytest.approx(1.0)
