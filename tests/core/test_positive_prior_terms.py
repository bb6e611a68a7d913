"""The closed-form unconstrained density of the positive priors (one implementation, used by
the GP batched target, the BNN posterior and the compiled BNN NUTS target) against autograd of
each core prior's own density plus the log-Jacobian of ``x = exp(z)``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesphys.core import priors as P
from bayesphys.core.priors.positive import PositivePrior, unconstrained_terms

CASES = [
    P.HalfNormal(1.3),
    P.HalfNormal(np.array([0.2, 1.0, 4.0])),
    P.HalfCauchy(0.7),
    P.HalfCauchy(np.array([0.1, 3.0, 30.0])),
    P.Gamma(2.0, 3.0),
    P.Gamma(np.array([0.5, 2.0, 9.0]), np.array([1.0, 0.3, 4.0])),
    P.InverseGamma(3.0, 2.0),
    P.InverseGamma(np.array([1.5, 4.0, 0.8]), 0.5),
    P.LogNormal(0.3, 1.2),
    P.LogNormal(np.array([-1.0, 0.0, 2.0]), np.array([0.5, 1.0, 3.0])),
    P.Exponential(2.5),
    P.Exponential(np.array([0.1, 1.0, 10.0])),
]


def _reference(prior, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log p(exp(z)) + z`` by the prior's torch distribution and its autograd derivative."""
    zt = torch.as_tensor(z, dtype=torch.float64).requires_grad_(True)
    lp = prior.to_torch(torch.float64).log_prob(torch.exp(zt)) + zt
    (grad,) = torch.autograd.grad(lp.sum(), zt)
    return lp.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("prior", CASES, ids=repr)
def test_value_and_gradient_equal_autograd_of_the_core_density(prior):
    rng = np.random.default_rng(4)
    # Broad enough to reach both tails of every prior (x from ~0.002 to ~150).
    z = rng.uniform(-6.0, 5.0, size=(40, *prior.batch_shape))
    value, grad = prior.log_prob_unconstrained_and_grad(z)
    ref_value, ref_grad = _reference(prior, z)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-11)
    # ... and equal the (torch) log_prob_unconstrained that the reference paths use.
    torch_value = prior.log_prob_unconstrained(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(value, torch_value, rtol=1e-12, atol=1e-11)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("prior", CASES, ids=repr)
def test_far_out_values_are_minus_infinity_quietly(prior):
    # Where a diverging trajectory goes (exp(2 z) overflows): a density of zero, no warning.
    value, _ = prior.log_prob_unconstrained_and_grad(np.array([[-800.0], [800.0]]))
    assert np.all(value < -300.0) and not np.isnan(value).any()


def test_every_positive_prior_has_the_closed_form():
    positive = [cls for cls in vars(P).values() if isinstance(cls, type) and cls is not P.Prior]
    positive = [cls for cls in positive if issubclass(cls, P.Prior) and cls.support == "positive"]
    assert positive and all(issubclass(cls, PositivePrior) for cls in positive)
    assert len({cls.kind for cls in positive}) == len(positive)


def test_terms_compile_with_numba():
    numba = pytest.importorskip("numba")
    compiled = numba.njit(unconstrained_terms)
    for prior in CASES[::2]:  # the scalar ones
        kind, a, b, const = prior.unconstrained_args()
        for z in (-3.0, 0.2, 2.5):
            value, grad = compiled(kind, float(a), float(b), z)
            ref_value, ref_grad = prior.log_prob_unconstrained_and_grad(z)
            assert value + const == pytest.approx(float(ref_value), rel=1e-13, abs=1e-13)
            assert grad == pytest.approx(float(ref_grad), rel=1e-13, abs=1e-13)
