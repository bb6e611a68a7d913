"""Inference-method objects, method resolution and the estimator base class."""

import pickle
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from bayesphys import inference
from bayesphys.core.base import Estimator, NotFittedError
from bayesphys.core.inference import resolve_method, resolve_progressbar
from bayesphys.inference import HMC, MAP, NUTS, SGHMC, SGPR, SVGP, VI, Conjugate, Evidence

ALL_METHODS = [Conjugate, Evidence, MAP, NUTS, HMC, SGHMC, VI, SGPR, SVGP]


@pytest.mark.parametrize("cls", ALL_METHODS, ids=lambda c: c.__name__)
def test_defaults_are_valid_and_names_unique(cls):
    method = cls()
    checked = method.checked()
    assert checked is not method
    assert checked.get_params() == method.get_params()
    assert pickle.loads(pickle.dumps(method)).get_params() == method.get_params()
    assert [c.name for c in ALL_METHODS].count(cls.name) == 1


def test_the_issue_signatures():
    assert NUTS().get_params() == {
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "target_accept": 0.8,
        "max_treedepth": 10,
        "chain_groups": None,
    }
    assert MAP().get_params() == {"n_restarts": 0, "max_iter": None}
    sgpr = SGPR().get_params()
    assert (sgpr["n_inducing"], sgpr["inducing"], sgpr["learn_inducing"]) == (128, "kmeans", True)
    assert {"burn_in", "draws", "learning_rate", "batch_size"} <= set(SGHMC().get_params())
    assert {"steps", "learning_rate", "batch_size", "draws"} <= set(VI().get_params())
    assert {"n_inducing", "batch_size", "steps", "learning_rate"} <= set(SVGP().get_params())
    assert set(inference.__all__) >= {c.__name__ for c in ALL_METHODS}


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        (NUTS(draws=0), ValueError, r"NUTS.draws must be >= 1"),
        (NUTS(draws=2.5), TypeError, r"NUTS.draws must be an integer"),
        (NUTS(target_accept=1.5), ValueError, r"NUTS.target_accept must be in \(0, 1\)"),
        (NUTS(chains=2, chain_groups=3), ValueError, "chain_groups=3 exceeds chains=2"),
        (HMC(tune=-1), ValueError, "HMC.tune must be >= 0"),
        (SGHMC(learning_rate=-0.1), ValueError, "SGHMC.learning_rate must be > 0"),
        (VI(learning_rate="fast"), TypeError, "VI.learning_rate must be a number"),
        (SGPR(inducing="grid"), ValueError, r"SGPR.inducing must be one of"),
        (SVGP(learn_inducing="yes"), TypeError, "SVGP.learn_inducing must be True or False"),
        (MAP(max_iter=0), ValueError, "MAP.max_iter must be >= 1"),
    ],
)
def test_bad_settings_name_the_setting(method, error, match):
    with pytest.raises(error, match=match):
        method.checked()


def test_resolve_method_strings_objects_and_errors():
    supported = {"map": MAP, "nuts": NUTS}
    assert resolve_method("nuts", supported, "Model").get_params() == NUTS().get_params()
    given = NUTS(draws=10)
    resolved = resolve_method(given, supported, "Model")
    assert resolved is not given and resolved.draws == 10
    with pytest.raises(ValueError, match=r"Model does not support method='vi'; supported: \['map"):
        resolve_method("vi", supported, "Model")
    with pytest.raises(ValueError, match=r"does not support method=VI\(\)"):
        resolve_method(VI(), supported, "Model")
    with pytest.raises(TypeError, match="string shortcut"):
        resolve_method(3, supported, "Model")


def test_progressbar_rule():
    assert resolve_progressbar(None, NUTS()) is True
    assert resolve_progressbar(None, VI()) is True
    assert resolve_progressbar(None, MAP()) is False
    assert resolve_progressbar(None, Conjugate()) is False
    assert resolve_progressbar(False, NUTS()) is False
    with pytest.raises(TypeError, match="progressbar"):
        resolve_progressbar("yes", NUTS())


class _Mean(Estimator):
    """Smallest estimator on the base class: predicts the mean of y."""

    supported_methods: ClassVar = {"map": MAP}

    def __init__(self, shift=0.0, *, method="map", random_state=None):
        self.shift = shift
        self.method = method
        self.random_state = random_state

    def fit(self, X, y, y_err=None, *, progressbar=None, client=None):
        self._resolve_method()
        X, y, y_err = self._validate_training_data(X, y, y_err)
        self.mean_ = y.mean() + self.shift + 0 * self._random_generator().random()
        return self

    def predict(self, X):
        X = self._validate_new_X(X)
        return np.full(len(X), self.mean_)


def test_base_checks_feature_names_and_counts():
    X = pd.DataFrame({"T_K": [1.0, 2.0, 3.0], "P_bar": [4.0, 5.0, 6.0]})
    est = _Mean().fit(X, [1.0, 2.0, 3.0])
    assert est._feature_labels() == ["T_K", "P_bar"]
    assert _Mean().fit(X.to_numpy(), [1.0, 2.0, 3.0])._feature_labels() == ["x0", "x1"]
    with pytest.raises(ValueError, match="feature names"):
        est.predict(X[["P_bar", "T_K"]])
    with pytest.raises(ValueError, match="X has 1 features"):
        est.predict(np.ones((2, 1)))
    with pytest.raises(NotFittedError):
        _Mean().predict(X)
    with pytest.raises(ValueError, match="NaN"):
        _Mean().fit(np.array([[1.0], [np.nan]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="y_err must be > 0"):
        _Mean().fit(np.ones((2, 1)), [1.0, 2.0], y_err=[1.0, -1.0])
    with pytest.raises(TypeError, match="random_state must be"):
        _Mean(random_state="seed").fit(np.ones((2, 1)), [1.0, 2.0])
    with pytest.raises(ValueError, match="supported"):
        _Mean(method="nuts").fit(np.ones((2, 1)), [1.0, 2.0])


def test_base_clone_and_nested_params():
    est = _Mean(shift=1.0, method=MAP(n_restarts=2), random_state=4)
    fresh = clone(est)
    assert fresh.method is not est.method
    assert fresh.get_params()["method__n_restarts"] == 2 and fresh.random_state == 4
    fresh.set_params(method__n_restarts=0)
    assert est.method.n_restarts == 2


def test_random_generator_rule():
    seeded = _Mean(random_state=7)
    a = seeded._random_generator().random(3)
    np.testing.assert_array_equal(a, seeded._random_generator(None).random(3))
    np.testing.assert_array_equal(a, np.random.default_rng(7).random(3))
    np.testing.assert_array_equal(
        seeded._random_generator(8).random(3), np.random.default_rng(8).random(3)
    )
