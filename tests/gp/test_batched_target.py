"""The closed-form batched NUTS target equals the reference (LAPACK row by row, autograd maps)."""

import numpy as np
import pytest
import torch

from bayesphys.core.priors import (
    Exponential,
    Gamma,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    LogNormal,
    Uniform,
)
from bayesphys.gp.inference import batched_target
from bayesphys.gp.inference.batched_target import BatchedEvidence
from bayesphys.gp.inference.map_objective import DenseObjective
from bayesphys.gp.inference.nuts_target import ChainDensity
from bayesphys.gp.kernels import RBF, Linear, compile_kernel, kernel_from_string
from bayesphys.gp.linalg import _flushing, flush_denormals
from bayesphys.gp.model import GPModel

N = 15
PRIOR_SETS = {
    "defaults": ({}, None, False),
    "gamma-halfnormal-yerr": (
        {"lengthscale": Gamma(3.0, 2.0), "outputscale": HalfNormal(2.0)},
        HalfNormal(1.0),
        True,
    ),
    "invgamma-halfcauchy-exponential": (
        {"lengthscale": InverseGamma(3.0, 2.0), "outputscale": HalfCauchy(1.0)},
        Exponential(3.0),
        False,
    ),
    "lognormal-fixed-noise": ({"outputscale": LogNormal(0.5, 1.0)}, 0.0, True),
}


def _model(kernel, ard, priors, noise, y_err, seed=0, X=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, size=(N, 2)) if X is None else X
    y = np.sin(X[:, 0]) + 0.3 * X[:, -1] + 0.1 * rng.normal(size=len(X))
    err = 0.05 + 0.05 * rng.uniform(size=len(X)) if y_err else None
    compiled = compile_kernel(kernel_from_string(kernel), X.shape[1], ard)
    return GPModel(compiled, "zero", priors, noise, X, y, err)


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "matern32", "matern52"])
@pytest.mark.parametrize("ard", [True, False])
@pytest.mark.parametrize("prior_set", sorted(PRIOR_SETS))
def test_batched_evidence_equals_the_reference_objective(kernel, ard, prior_set):
    priors, noise, y_err = PRIOR_SETS[prior_set]
    model = _model(kernel, ard, priors, noise, y_err)
    batched = BatchedEvidence.build(model)
    assert batched is not None
    rng = np.random.default_rng(1)
    z = model.space.reference() + 0.7 * rng.normal(size=(6, model.space.dim))
    values, grads, loo, reference = batched.evaluate(z)
    ref_values, ref_grads, ref_loo = DenseObjective(model, jacobian=True).evaluate(z)
    assert not reference.any()
    np.testing.assert_allclose(values, ref_values, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-9, atol=1e-10 * np.abs(ref_grads).max())
    for (alpha, inv_diag), (ref_alpha, ref_inv_diag) in zip(loo, ref_loo, strict=True):
        np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(inv_diag, ref_inv_diag, rtol=1e-9)


@pytest.mark.parametrize(
    "kernel, mean, priors, n",
    [
        (RBF() + Linear(), "zero", {}, N),  # not one stationary term
        ("rbf", "constant", {}, N),  # a mean parameter
        ("rbf", "zero", {"lengthscale": Uniform(0.1, 10.0)}, N),  # not a log transform
        ("rbf", "zero", {}, batched_target.MAX_POINTS + 1),  # large n: row-by-row path
    ],
)
def test_models_outside_the_closed_form_use_the_reference_path(kernel, mean, priors, n):
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 5, size=(n, 2))
    compiled = compile_kernel(kernel_from_string(kernel), 2, True)
    model = GPModel(compiled, mean, priors, None, X, np.sin(X[:, 0]), None)
    assert BatchedEvidence.build(model) is None
    assert ChainDensity(model, model.space.reference(), np.eye(model.space.dim)).batched is None


def test_rows_that_need_jitter_go_to_the_reference_path():
    # Duplicate inputs and no noise: K is singular, the reference path adds jitter.
    X = np.repeat(np.random.default_rng(3).uniform(0, 5, size=(6, 1)), 2, axis=0)
    model = _model("rbf", True, {}, 0.0, False, X=X)
    density = ChainDensity(model, model.space.reference(), np.eye(model.space.dim))
    assert density.batched is not None
    z = model.space.reference()[None, :] + np.array([[0.0, 0.0], [0.3, -0.2]])
    assert density.batched.evaluate(z)[3].all()
    values, grads = density.evaluate(z, z.copy())
    ref_values, ref_grads, _ = DenseObjective(model, jacobian=True).evaluate(z)
    np.testing.assert_allclose(values, ref_values, rtol=1e-12)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-12)
    assert all(density._cache[row.tobytes()][2] is not None for row in z)


def test_flush_denormals_is_scoped_and_does_not_change_the_evidence():
    # Inputs far apart: correlations down to exp(-700), whose products are subnormal.
    X = np.linspace(0.0, 400.0, 60)[:, None]
    model = _model("rbf", True, {}, None, False, X=X)
    z = model.space.pack({"lengthscale": np.array([2.0]), "outputscale": 1.0, "noise": 0.1})
    z = z[None, :] + np.array([[0.0, 0.0, 0.0], [-0.5, 0.2, 0.1]])
    objective = DenseObjective(model, jacobian=True)
    assert not _flushing()
    values, grads, _ = objective.evaluate(z)
    with flush_denormals():
        assert _flushing()
        assert float(torch.tensor(1e-310, dtype=torch.float64) * 1.0) == 0.0
        flushed_values, flushed_grads, _ = objective.evaluate(z)
    assert not _flushing()
    assert float(torch.tensor(1e-310, dtype=torch.float64) * 1.0) > 0.0
    np.testing.assert_allclose(flushed_values, values, rtol=1e-13)
    np.testing.assert_allclose(flushed_grads, grads, rtol=1e-11, atol=1e-13)
