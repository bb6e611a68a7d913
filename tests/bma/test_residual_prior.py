"""The residual GPs' lengthscale prior: its mass below the lattice spacing, and where it is used."""

import numpy as np
import pytest
from scipy import stats

from bayesphys.bma import residual_gp
from bayesphys.bma._residuals import (
    LENGTHSCALE_FLOOR,
    LENGTHSCALE_MASS_BELOW_FLOOR,
    residual_lengthscale_prior,
)
from bayesphys.core.priors import InverseGamma


def test_stated_mass_below_one_nucleon_in_closed_form():
    prior = residual_lengthscale_prior()
    assert isinstance(prior, InverseGamma)
    assert (LENGTHSCALE_FLOOR, LENGTHSCALE_MASS_BELOW_FLOOR) == (1.0, 0.01)
    # Peer: scipy's inverse gamma, P(rho < 1) = Q(alpha, beta).
    peer = stats.invgamma(prior.alpha, scale=prior.beta)
    assert peer.cdf(1.0) == pytest.approx(0.01, rel=1e-8)
    grid = np.array([0.3, 0.65, 1.0, 3.0, 20.0])
    np.testing.assert_allclose(prior.logpdf(grid), peer.logpdf(grid), rtol=1e-10)
    # The prior's own sampler agrees within Monte Carlo error (binomial sd 2.2e-4).
    draws = prior.sample(200_000, rng=np.random.default_rng(3))
    assert abs(np.mean(draws < 1.0) - 0.01) < 5 * np.sqrt(0.01 * 0.99 / 200_000)
    # Below the lattice the tail closes as exp(-beta / rho): a ridge to rho -> 0 is shut.
    assert peer.cdf(0.5) < 1e-5


@pytest.mark.parametrize(("floor", "mass", "shape"), [(2.0, 0.05, 2.0), (1.0, 0.2, 5.0)])
def test_other_floors_and_masses(floor, mass, shape):
    prior = residual_lengthscale_prior(floor, mass, shape)
    assert stats.invgamma(shape, scale=prior.beta).cdf(floor) == pytest.approx(mass, rel=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"floor": 0.0}, "floor"),
        ({"floor": np.inf}, "floor"),
        ({"mass_below": 1.0}, "mass_below"),
        ({"mass_below": 0.0}, "mass_below"),
        ({"shape": -1.0}, "shape"),
    ],
)
def test_bad_prior_settings_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        residual_lengthscale_prior(**kwargs)


@pytest.mark.parametrize("method", ["map", "nuts"])
def test_residual_gp_uses_the_lattice_prior_by_default(method):
    gp = residual_gp(method)
    assert gp.priors == {"lengthscale": residual_lengthscale_prior()}
    assert residual_gp(method, "default").priors is None
    with pytest.raises(ValueError, match="prior"):
        residual_gp(method, "flat")


def test_fitted_residual_gp_carries_the_prior_on_both_lengthscales():
    rng = np.random.default_rng(0)
    Z, N = np.meshgrid(np.arange(20, 40, 2), np.arange(30, 50, 2))
    X = np.column_stack([Z.ravel(), N.ravel()]).astype(float)
    y = np.sin(X[:, 0] / 5.0) + 0.1 * rng.normal(size=len(X))
    fitted = residual_gp("map").set_params(random_state=0).fit(X, y)
    (param,) = [p for p in fitted._model.space.params if p.kind == "lengthscale"]
    assert param.size == 2 and param.prior == residual_lengthscale_prior()
    # MAP lengthscales respect the prior: none is pushed below the lattice spacing.
    assert np.all(fitted.hyperparameters_["lengthscale"] > LENGTHSCALE_FLOOR)


@pytest.mark.parametrize(
    "kwargs", [{"floor": "1"}, {"mass_below": "0.01"}, {"shape": None}, {"floor": True}]
)
def test_prior_settings_that_are_not_numbers_name_the_argument(kwargs):
    # Before: numpy's "ufunc 'isfinite' not supported" or "'<' not supported", and True
    # passed as a floor of 1.
    (name,) = kwargs
    with pytest.raises(TypeError, match=f"^{name} must be a real number"):
        residual_lengthscale_prior(**kwargs)
