"""Tests for bayesphys.core.transforms: bijectivity, Jacobians and numpy/torch agreement."""

import numpy as np
import pytest
import torch

from bayesphys.core.transforms import Exp, Identity, Interval, Transform

TRANSFORMS = [
    Identity(),
    Exp(),
    Interval(-1.0, 3.0),
    Interval(np.array([0.0, -2.0, 10.0]), np.array([1.0, 5.0, 10.5])),
]
IDS = ["identity", "exp", "interval", "interval-array"]


def _z_grid(n: int = 41) -> np.ndarray:
    # Three columns so that the grid broadcasts against the array-valued Interval.
    return np.tile(np.linspace(-6.0, 6.0, n)[:, None], (1, 3))


@pytest.mark.parametrize("t", TRANSFORMS, ids=IDS)
def test_inverse_undoes_forward_numpy_and_torch(t: Transform):
    z = _z_grid()
    np.testing.assert_allclose(t.inverse(t.forward(z)), z, rtol=1e-10, atol=1e-10)
    zt = torch.as_tensor(z)
    torch.testing.assert_close(t.inverse(t.forward(zt)), zt, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("t", TRANSFORMS, ids=IDS)
def test_log_abs_det_jacobian_matches_autograd(t: Transform):
    z = torch.as_tensor(_z_grid()).requires_grad_(True)
    x = t.forward(z)
    (dx_dz,) = torch.autograd.grad(x.sum(), z)
    torch.testing.assert_close(
        t.log_abs_det_jacobian(z.detach()), torch.log(dx_dz.abs()), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("t", TRANSFORMS, ids=IDS)
def test_numpy_and_torch_agree_and_keep_types(t: Transform):
    z = _z_grid()
    zt = torch.as_tensor(z)
    for method in ("forward", "log_abs_det_jacobian"):
        out_np, out_t = getattr(t, method)(z), getattr(t, method)(zt)
        assert isinstance(out_np, np.ndarray)
        assert isinstance(out_t, torch.Tensor)
        np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-13, atol=1e-13)
    x = t.forward(z)
    np.testing.assert_allclose(
        t.inverse(torch.as_tensor(x)).numpy(), t.inverse(x), rtol=1e-13, atol=1e-13
    )


def test_forward_maps_onto_support():
    z = np.linspace(-30.0, 30.0, 101)
    assert np.all(Exp().forward(z) > 0)
    x = Interval(2.0, 5.0).forward(z)
    assert np.all((x >= 2.0) & (x <= 5.0))
    assert [t.support for t in TRANSFORMS] == ["real", "positive", "interval", "interval"]


def test_interval_jacobian_is_finite_far_out_in_the_tails():
    t = Interval(0.0, 2.0)
    z = np.array([-800.0, -50.0, 50.0, 800.0])
    logdet = t.log_abs_det_jacobian(z)
    # log(2) + log sigmoid(z) + log sigmoid(-z) ~ log(2) - |z| for large |z|.
    np.testing.assert_allclose(logdet, np.log(2.0) - np.abs(z), rtol=1e-12)
    zt = torch.tensor(z, requires_grad=True)
    out = t.log_abs_det_jacobian(zt)
    out.sum().backward()
    assert torch.all(torch.isfinite(out)) and torch.all(torch.isfinite(zt.grad))


def test_interval_inverse_is_accurate_near_the_bounds():
    t = Interval(0.0, 1.0)
    z = np.array([-30.0, 30.0])
    # A logit of the rescaled x would lose everything near 1; log(x-lo) - log(hi-x) does not
    # near the lower bound, and stays finite near the upper one.
    np.testing.assert_allclose(t.inverse(t.forward(z))[0], -30.0, rtol=1e-12)
    assert np.isfinite(t.inverse(t.forward(z))[1])


def test_interval_validation_equality_and_repr():
    with pytest.raises(ValueError, match="lower < upper"):
        Interval(1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Interval(0.0, np.inf)
    assert Interval(0.0, 2.0) == Interval(0, 2)
    assert hash(Interval(0.0, 2.0)) == hash(Interval(0, 2))
    assert Interval(0.0, 2.0) != Interval(0.0, 3.0)
    assert Exp() == Exp() and Exp() != Identity()
    assert repr(Interval(0.0, 2.0)) == "Interval(lower=0.0, upper=2.0)"


def test_float32_and_integer_inputs():
    t = Interval(-1.0, 1.0)
    z32 = torch.linspace(-3, 3, 7, dtype=torch.float32)
    assert t.forward(z32).dtype == torch.float32
    assert t.log_abs_det_jacobian(z32).dtype == torch.float32
    assert Identity().forward([1, 2]).dtype == np.float64
    assert Exp().log_abs_det_jacobian(torch.tensor([1, 2])).dtype.is_floating_point
