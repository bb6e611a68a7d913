"""The BNN as a scikit-learn estimator: model selection, nested method parameters, errors,
classification, and equal numbers to the former ``fit(method=..., random_seed=...)`` API."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV

from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.bnn import posterior as bnn_posterior
from bayesphys.core.samplers import adaptation
from bayesphys.inference import HMC, MAP, NUTS, SGPR, VI
from bayesphys.likelihoods import Bernoulli, Categorical, Gaussian
from bayesphys.priors import Laplace, Normal

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2))
Y = X[:, 0] - X[:, 1] + 0.1 * RNG.normal(size=12)


def test_grid_search_over_architecture_and_prior():
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, size=(60, 1))
    y = np.sin(2.5 * x[:, 0]) + 0.1 * rng.normal(size=60)
    est = BayesianNeuralNetwork(method=VI(steps=400, draws=20, chains=1), random_state=0)
    grid = {"hidden": [(1,), (8,)], "weight_prior": [Normal(0, 1), "hierarchical"]}
    search = GridSearchCV(est, grid, cv=3).fit(x, y, progressbar=False)
    # One tanh unit cannot bend twice over [-2, 2]; eight can.
    assert search.best_params_["hidden"] == (8,)
    assert search.best_score_ > 0.8
    fitted = search.best_estimator_
    assert fitted.idata_.posterior["W0"].dims == ("chain", "draw", "feature", "hidden0")
    assert fitted.idata_.posterior.sizes["hidden0"] == 8
    assert est.hidden == (20,), "the template is never fitted or changed"


def test_nested_method_parameters_and_clone():
    est = BayesianNeuralNetwork(method=VI(steps=30, chains=1, draws=5), random_state=0)
    params = est.get_params()
    assert params["method__steps"] == 30 and params["method__learning_rate"] == 0.01
    est.set_params(method__steps=10, method__learning_rate=0.05)
    assert (est.method.steps, est.method.learning_rate) == (10, 0.05)
    copy = clone(est)
    assert copy.method is not est.method and repr(copy) == repr(est)
    copy.set_params(method__steps=20)
    assert est.method.steps == 10, "clone copies the method object"
    copy.fit(X, Y, progressbar=False)
    assert copy.method.steps == 20 and copy.method_ == "vi"
    assert copy.idata_.attrs["optimisation_steps"] == 20
    # A string shortcut is the method with its defaults; fit never replaces it.
    est = BayesianNeuralNetwork(method="vi").set_params(method=VI(steps=5, chains=1, draws=5))
    assert isinstance(est.method, VI)


@pytest.mark.parametrize(
    ("method", "error", "match"),
    [
        ("map", ValueError, "does not support method='map'"),
        (MAP(), ValueError, "does not support method=MAP"),
        (SGPR(), ValueError, "supported: \\['hmc', 'nuts', 'sghmc', 'vi'\\]"),
        (42, TypeError, "method must be"),
        (VI, TypeError, "method must be"),  # the class, not an instance
    ],
)
def test_unsupported_methods_are_named(method, error, match):
    with pytest.raises(error, match=match):
        BayesianNeuralNetwork(method=method).fit(X, Y, progressbar=False)


def test_classifier_scores_accuracy_and_says_so():
    rng = np.random.default_rng(1)
    Xc = rng.normal(size=(40, 2))
    yc = (Xc[:, 0] + Xc[:, 1] > 0).astype(int)
    est = BayesianNeuralNetwork(
        hidden=(3,), likelihood=Bernoulli(), method=VI(steps=300, draws=20, chains=1)
    ).set_params(random_state=0)
    assert is_classifier(est) and not is_regressor(est)
    assert is_classifier(est.set_params(likelihood=Categorical()))
    assert is_regressor(clone(est).set_params(likelihood=Gaussian()))
    est.set_params(likelihood=Bernoulli()).fit(Xc, yc, progressbar=False)
    labels = est.predict(Xc)
    assert est.score(Xc, yc) == np.mean(labels == yc) > 0.85
    np.testing.assert_array_equal(labels, est.classes_[est.predict_proba(Xc).argmax(axis=1)])
    weights = np.linspace(0.0, 1.0, 40)
    assert est.score(Xc, yc, sample_weight=weights) == pytest.approx(
        np.sum(weights * (labels == yc)) / weights.sum()
    )


@pytest.mark.filterwarnings("ignore:.*transitions after tuning diverged")
def test_nuts_honours_max_treedepth():
    est = BayesianNeuralNetwork(
        hidden=(2,), method=NUTS(draws=8, tune=10, chains=2, max_treedepth=2), random_state=0
    ).fit(X, Y, progressbar=False)
    stats = est.idata_.sample_stats
    assert stats["tree_depth"].values.max() <= 2
    assert stats["n_steps"].values.max() <= 2**2 - 1
    np.testing.assert_array_equal(
        stats["reached_max_treedepth"].values, stats["tree_depth"].values == 2
    )


def test_idata_names_weights_after_features_and_layers():
    frame = pd.DataFrame(X, columns=["Z", "N"])
    est = BayesianNeuralNetwork(
        hidden=(3, 2),
        weight_prior=Laplace(0, 1),
        method=VI(steps=10, draws=4, chains=2),
        random_state=0,
    ).fit(frame, Y, progressbar=False)
    post = est.idata_.posterior
    assert post["W0"].dims[2:] == ("feature", "hidden0")
    assert list(post["feature"].values) == ["Z", "N"]
    assert post["W1"].dims[2:] == ("hidden0", "hidden1")
    assert post["W2"].dims[2:] == ("hidden1", "output")
    assert post["b2"].dims[2:] == ("output",)
    assert list(post.attrs["hidden"]) == [3, 2] and post.attrs["activation"] == "tanh"
    assert set(est.idata_.sample_stats.data_vars) == {"lp"}  # VI: log posterior of each draw
    assert est.n_weights_ == 2 * 3 + 3 + 3 * 2 + 2 + 2 * 1 + 1


# Numbers of the former API, recorded before the change (issue 14) on the development machine
# (x86_64, torch 2.13 CPU, one thread) with, for the HMC fit below,
#   BayesianNeuralNetwork(hidden=(3,)).fit(X, Y, method="hmc", chains=2, draws=5, tune=60,
#                                          random_seed=0, progressbar=False)
# and sample_posterior_predictive(X[:2], random_seed=7). Equal settings must give the same
# bits: the seed is still one int drawn from the random_state generator, which then draws the
# replicated data of idata_. (Another CPU or torch build may differ in the last bits.)
# fmt: off
OLD_API = {
    "hmc": {
        "make": lambda: BayesianNeuralNetwork(
            hidden=(3,), method=HMC(chains=2, draws=5, tune=60), random_state=0
        ),
        "y_err": None,
        "mean": [0.29044825439941163, 0.47606672117720017, -0.9023218496267212],
        "std": [0.03182021057788364, 0.05681715580111627, 0.019789281504141724],
        "sigma": [0.05973063491388072, 0.06395195207302165, 0.06395195207302165,
                  0.06395195207302165, 0.05988310199803526],
        "lp": [-3.7570962892292314, -2.224036437495709, -2.224036437495709,
               -2.224036437495709, -3.411782568947995],
        "y_rep": [0.2413706908645419, 0.49304857374897376, -0.8954788250361717],
        "y_new": [0.24933487606522667, 0.4726399828578357, 0.25436691352081,
                  0.41446671541379915],
    },
    # fit(..., method="hmc", chains=3, draws=4, tune=10, random_seed=5, chain_groups=2,
    #     y_err=np.full(12, 0.1))
    "hmc-groups-y_err": {
        "make": lambda: BayesianNeuralNetwork(
            hidden=(3,), method=HMC(chains=3, draws=4, tune=10, chain_groups=2), random_state=5
        ),
        "y_err": np.full(12, 0.1),
        "mean": [0.25785417058167454, 0.3717989735421789, -0.9884304162381953],
        "std": [0.047336592508633, 0.10174716225600205, 0.14399377282522255],
        "sigma": [0.1003347895416866] * 4,
        "lp": [-20.62534196953149] * 4,
        "y_rep": [0.06736524487215892, 0.28547125570914184, -1.049553173834279],
        "y_new": [0.25509509741936126, 0.35062830803569184, 0.22746610621795685,
                  0.23129639269400668],
    },
    # fit(..., method="nuts", chains=2, draws=5, tune=20, random_seed=2, target_accept=0.9)
    # with hidden=(2,): the former NUTS had its tree depth fixed at 7.
    "nuts-depth-7": {
        "make": lambda: BayesianNeuralNetwork(
            hidden=(2,),
            method=NUTS(chains=2, draws=5, tune=20, target_accept=0.9, max_treedepth=7),
            random_state=2,
        ),
        "y_err": None,
        "mean": [0.31714927602172127, 0.5089289243034989, -0.932473040005697],
        "std": [0.017196711769134645, 0.008281656717449603, 0.020999932045679175],
        "sigma": [0.063322559127721] * 4 + [0.06128393561699647],
        "lp": [-2.3470874092446774] * 4 + [-1.9693707291119882],
        "y_rep": [0.3033180286728763, 0.4928128158777965, -1.1104277798101698],
        "y_new": [0.3364976942261803, 0.5378863884907585, 0.3190606872121443,
                  0.46257450215936236],
    },
}
# fmt: on


def _former_mass_windows(n_tune):
    # The tuning schedule the former numbers were drawn with: below 150 tuning iterations its
    # terminal buffer (10%) left the step size too large (fixed in core since), and tune = 20
    # and 60 above fall in that range.
    if n_tune < 20:
        return []
    init, term, base = 75, 50, 25
    if init + term + base > n_tune:
        init, term = int(0.15 * n_tune), int(0.1 * n_tune)
        base = n_tune - init - term
    end_slow, windows, start, size = n_tune - term, [], init, base
    while start < end_slow:
        end = end_slow if start + 3 * size > end_slow else start + size
        windows.append((start, end))
        start, size = end, 2 * size
    return windows


@pytest.mark.filterwarnings("ignore:.*transitions after tuning diverged")
@pytest.mark.parametrize("name", sorted(OLD_API))
def test_same_numbers_as_the_former_api(name, monkeypatch):
    # The former numbers came from the autograd-assembled gradient; the closed-form one
    # (tested against it in test_regression.py) rounds differently in the last bit, which
    # chaotic trajectories amplify. Pin the API against the reference gradient.
    monkeypatch.setattr(bnn_posterior, "_closed_form_applies", lambda *args: False)
    monkeypatch.setattr(adaptation, "mass_windows", _former_mass_windows)
    old = OLD_API[name]
    est = old["make"]().fit(X, Y, y_err=old["y_err"], progressbar=False)
    mean, std = est.predict(X[:3], return_std=True)
    np.testing.assert_array_equal(mean, old["mean"])
    np.testing.assert_array_equal(std, old["std"])
    np.testing.assert_array_equal(est.idata_.posterior["sigma"].values[0], old["sigma"])
    np.testing.assert_array_equal(est.idata_.sample_stats["lp"].values[0], old["lp"])
    y_rep = est.idata_.posterior_predictive["y"].values[0, 0, :3]
    np.testing.assert_array_equal(y_rep, old["y_rep"])
    new = est.sample_posterior_predictive(X[:2], random_state=7).posterior_predictive["y"]
    np.testing.assert_array_equal(new.values[0, :2].ravel(), old["y_new"])
