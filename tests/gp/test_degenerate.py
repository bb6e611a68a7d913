"""Singular sparse fits raise the documented error; bad parameters and data are named."""

import numpy as np
import pytest
import torch

from bayesphys.gp import GPRegression, NotPositiveDefiniteError
from bayesphys.gp import regression as gp_regression
from bayesphys.inference import SGPR, SVGP

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 5, size=(40, 1))
Y = np.sin(X[:, 0]) + 0.1 * RNG.normal(size=40)
SPARSE = [SGPR(n_inducing=8), SVGP(n_inducing=8, steps=10)]


@pytest.mark.parametrize("method", SPARSE, ids=["sgpr", "svgp"])
@pytest.mark.parametrize("params", [{"noise": 0.0}, {"priors": {"noise": 0.0}}])
def test_sparse_fit_with_zero_noise_raises_the_documented_error(method, params):
    # was torch._C._LinAlgError from inside the bound
    gp = GPRegression(method=method, random_state=0, **params)
    with pytest.raises(NotPositiveDefiniteError, match="noise=0 and no y_err") as info:
        gp.fit(X, Y, progressbar=False)
    assert isinstance(info.value, np.linalg.LinAlgError)  # what callers may catch


def test_sparse_fit_with_zero_noise_and_known_errors_works():
    gp = GPRegression(noise=0.0, method=SPARSE[0], random_state=0)
    gp.fit(X, Y, y_err=np.full(len(Y), 0.1))
    assert np.all(np.isfinite(gp.predict(X[:5], return_std=True)))


def test_any_torch_factorisation_failure_of_a_sparse_fit_becomes_the_documented_error(
    monkeypatch,
):
    def singular(*args, **kwargs):
        torch.linalg.cholesky(torch.zeros(2, 2, dtype=torch.float64))

    monkeypatch.setattr(gp_regression.sgpr, "fit", singular)
    with pytest.raises(NotPositiveDefiniteError, match=r"not positive definite.*n_inducing"):
        GPRegression(method=SPARSE[0], random_state=0).fit(X, Y)


@pytest.mark.parametrize(
    ("params", "error", "name"),
    [
        ({"ard": "no"}, TypeError, "ard"),  # was accepted ("no" is truthy)
        ({"ard": 0}, TypeError, "ard"),
        ({"ard": None}, TypeError, "ard"),
        ({"kernel": 3}, TypeError, "kernel"),
        ({"kernel": None}, TypeError, "kernel"),
        ({"noise": [0.1, 0.2]}, TypeError, "noise"),  # was "truth value ... ambiguous"
        ({"noise": "x"}, TypeError, "noise"),
        ({"random_state": -1}, ValueError, "random_state"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, error, name):
    gp = GPRegression(**params)
    assert gp.get_params()[name] is params[name]  # stored unchanged, checked in fit
    with pytest.raises(error, match=name):
        gp.fit(X, Y)


def test_overflowing_data_is_named():
    with pytest.raises(ValueError, match=r"^X has values up to .* rescale X"):
        GPRegression().fit(1e300 * X, Y)
    with pytest.raises(ValueError, match=r"^y has values up to .* rescale y"):
        GPRegression().fit(X, 1e300 * Y)
    with pytest.raises(ValueError, match=r"^y_err holds values .* rescale y and y_err"):
        GPRegression().fit(X, Y, y_err=np.full(len(Y), 1e-200))
