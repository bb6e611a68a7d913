"""Bad input and bad configurations fail with clear errors."""

import tracemalloc

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from bayesphys import BayesianLinearRegression
from bayesphys.inference import MAP, NUTS, Conjugate
from bayesphys.likelihoods import Bernoulli, Gaussian
from bayesphys.priors import Horseshoe, InverseGamma, Laplace, Normal


@pytest.fixture
def model():
    return BayesianLinearRegression(Normal(0, 1), noise=1.0, random_state=0)


X = np.random.default_rng(0).normal(size=(10, 2))
Y = np.arange(10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.where(np.eye(10, 2) > 0, np.nan, X)}, "X contains NaN"),
        ({"y": np.r_[Y[:-1], np.inf]}, "y contains infinity"),
        ({"y": Y[:-1]}, "inconsistent numbers of samples"),
        ({"X": X[:, 0]}, "Reshape your data"),
        ({"y_err": np.zeros(10)}, "y_err must be > 0"),
        ({"y_err": np.ones(9)}, "y_err must have shape"),
        ({"X": np.empty((0, 2)), "y": np.empty(0)}, "minimum of 2 is required"),
        ({"model": BayesianLinearRegression(method="gibbs")}, "does not support method='gibbs'"),
        ({"y_err": None, "model": BayesianLinearRegression(noise=0.0)}, "pass y_err"),
        (
            {"model": BayesianLinearRegression(Normal(0, [1.0, 2.0, 3.0]), noise=1.0)},
            "one value per feature",
        ),
        ({"client": object()}, "client"),
    ],
)
def test_bad_fit_input(model, kwargs, match):
    args = {"X": X, "y": Y, **kwargs}
    model = args.pop("model", model)
    with pytest.raises(ValueError, match=match):
        model.fit(**args)


def test_bad_configuration():
    with pytest.raises(ValueError, match="conjugate"):
        BayesianLinearRegression(Laplace(0, 1), noise=1.0, method="conjugate").fit(X, Y)
    with pytest.raises(ValueError, match="no MAP"):
        BayesianLinearRegression(Horseshoe(1.0), noise=1.0, method="map").fit(X, Y)
    with pytest.raises(TypeError, match="likelihood must be Gaussian or StudentT"):
        BayesianLinearRegression(likelihood=Bernoulli()).fit(X, Y)
    with pytest.raises(TypeError, match="coef_prior"):
        BayesianLinearRegression(coef_prior=1.0).fit(X, Y)
    with pytest.raises(TypeError, match="noise must be"):
        BayesianLinearRegression(noise="big").fit(X, Y)
    with pytest.raises(ValueError, match=r"Conjugate.draws must be >= 1"):
        BayesianLinearRegression(noise=1.0, method=Conjugate(draws=0)).fit(X, Y)
    with pytest.raises(ValueError, match="n_restarts"):
        BayesianLinearRegression(noise=1.0, method=MAP(n_restarts=2)).fit(X, Y)
    with pytest.raises(ValueError, match="chain_groups"):
        BayesianLinearRegression(noise=1.0, method=NUTS(chains=2, chain_groups=2)).fit(X, Y)
    with pytest.raises(TypeError, match="method must be"):
        BayesianLinearRegression(method=42).fit(X, Y)
    with pytest.raises(TypeError, match="log_likelihood"):
        BayesianLinearRegression(noise=1.0, log_likelihood="yes").fit(X, Y)
    with pytest.raises(TypeError, match="progressbar"):
        BayesianLinearRegression(noise=1.0).fit(X, Y, progressbar="no")


def test_predict_before_fit_and_wrong_width(model):
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(X)
    model.fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 5)))


def test_pandas_feature_names_become_coords():
    import pandas as pd

    frame = pd.DataFrame(X, columns=["Z", "N"])
    model = BayesianLinearRegression(
        Normal(0, 1), noise=1.0, method=Conjugate(draws=10, chains=1), random_state=0
    ).fit(frame, Y)
    assert list(model.idata_.posterior["coef"].coords["feature"].values) == ["Z", "N"]
    assert list(model.feature_names_in_) == ["Z", "N"]


def test_map_fit_has_no_predictive_draws():
    model = BayesianLinearRegression(Laplace(0, 1), noise=1.0, method="map").fit(X, Y)
    with pytest.raises(ValueError, match="draws"):
        model.sample_posterior_predictive(X)


def test_flat_intercept_has_no_prior_predictive():
    model = BayesianLinearRegression(Normal(0, 1), noise=1.0)
    with pytest.raises(ValueError, match="intercept_prior"):
        model.sample_prior_predictive(X, draws=5, random_state=0)


# ------------------------------------------------ X's values proved from the closed form's Gram
# Closed-form fits skip the two passes that check X's values (finiteness, magnitude) and prove
# them from the Gram matrix instead; where it cannot, the exact check runs, with its errors.
RNG_BIG = np.random.default_rng(7)
BIG_X = RNG_BIG.normal(size=(3000, 3))  # several blocks of rows
BIG_Y = BIG_X @ np.array([1.0, -1.0, 0.5]) + 0.1 * RNG_BIG.normal(size=3000)
BIG_ERR = RNG_BIG.uniform(0.05, 0.2, size=3000)


def _spoiled(value, row=2500, column=1):
    X = BIG_X.copy()
    X[row, column] = value
    return X


CLOSED_FORMS = {
    "fixed noise": (BayesianLinearRegression(Normal(0, 1), noise=0.1), False),
    "no intercept": (BayesianLinearRegression(Normal(0, 1), noise=0.1, fit_intercept=False), False),
    "y_err": (BayesianLinearRegression(Normal(0, 1), noise=0.1), True),
    "normal-inverse-gamma": (
        BayesianLinearRegression(
            Normal(0, 1),
            likelihood=Gaussian(variance=InverseGamma(2.0, 1.0)),
            coef_prior_scaled_by_noise=True,
        ),
        False,
    ),
    "proper intercept": (
        BayesianLinearRegression(Normal(0, 1), noise=0.1, intercept_prior=Normal(0, 10)),
        False,
    ),
    "map (checked eagerly)": (
        BayesianLinearRegression(Normal(0, 1), noise=0.1, method="map"),
        False,
    ),
}
BAD_VALUES = {
    "nan": (_spoiled(np.nan), "Input X contains NaN"),
    "nan in the first rows": (_spoiled(np.nan, row=3), "Input X contains NaN"),
    "inf": (_spoiled(np.inf), "Input X contains infinity"),
    "-inf": (_spoiled(-np.inf, row=0), "Input X contains infinity"),
    "square overflows": (_spoiled(1e200), r"X \(column 1\) has values up to 1e\+200"),
    "too large": (_spoiled(-1e120), r"X \(column 1\) has values up to 1e\+120"),
    "too small": (BIG_X * [1.0, 1e-120, 1.0], r"X \(column 1\) has no value larger than"),
    "underflows": (BIG_X * [1e-170, 1.0, 1.0], r"X \(column 0\) has no value larger than"),
}


@pytest.mark.parametrize("bad", BAD_VALUES.values(), ids=BAD_VALUES.keys())
@pytest.mark.parametrize("case", CLOSED_FORMS.values(), ids=CLOSED_FORMS.keys())
def test_closed_form_rejects_bad_X_values_as_the_exact_check_does(case, bad):
    model, use_err = case
    X, match = bad
    with pytest.raises(ValueError, match=match):
        model.fit(X, BIG_Y, BIG_ERR if use_err else None)


@pytest.fixture
def exact_checks(monkeypatch):
    """The number of times the exact pass over X's values runs."""
    calls = []
    original = BayesianLinearRegression._check_X_values

    def counted(self, X):
        calls.append(X.shape)
        return original(self, X)

    monkeypatch.setattr(BayesianLinearRegression, "_check_X_values", counted)
    return calls


@pytest.mark.parametrize("case", CLOSED_FORMS.values(), ids=CLOSED_FORMS.keys())
def test_exact_pass_over_X_runs_only_where_the_gram_cannot_prove_it(case, exact_checks):
    model, use_err = case
    y_err = BIG_ERR if use_err else None
    model.fit(BIG_X, BIG_Y, y_err)
    eager = model.method == "map" or model.intercept_prior is not None
    assert len(exact_checks) == int(eager)
    # A column of zeros cannot be told from one whose squares underflow: the exact check
    # runs, passes, and the fit goes on.
    model.fit(BIG_X * [1.0, 0.0, 1.0], BIG_Y, y_err)
    assert len(exact_checks) == 1 + int(eager)
    assert np.isfinite(model.coef_).all() and abs(model.coef_[1]) < 1e-12


@pytest.mark.parametrize("order", ["C", "F"])
def test_closed_form_fit_makes_no_copy_of_X(order):
    rng = np.random.default_rng(3)
    X = np.asarray(rng.normal(size=(40_000, 20)), order=order)
    y = X[:, 0] + rng.normal(size=len(X))
    model = BayesianLinearRegression(Normal(0, 1), noise=1.0)
    model.fit(X, y)  # imports and caches outside the traced call
    tracemalloc.start()
    try:
        model.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * X.nbytes, f"peak {peak / 1e6:.1f} MB for X of {X.nbytes / 1e6:.1f} MB"
    # float32 needs one float64 copy (and only one)
    X32 = X.astype(np.float32)
    tracemalloc.start()
    try:
        model.fit(X32, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.25 * X.nbytes, f"peak {peak / 1e6:.1f} MB for X of {X.nbytes / 1e6:.1f} MB"
    np.testing.assert_allclose(
        model.coef_,
        BayesianLinearRegression(Normal(0, 1), noise=1.0).fit(X32.astype(np.float64), y).coef_,
        rtol=1e-12,
    )
