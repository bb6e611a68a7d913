"""Tests for bayesphys.core.priors against scipy.stats, PyMC, torch and numerical integration."""

import copy
import dataclasses
import math
import pickle
import warnings

import numpy as np
import pymc as pm
import pytensor
import pytest
import torch
from scipy import integrate, special, stats

from bayesphys.core import priors as P
from bayesphys.core.priors.shrinkage import log_exp_e1

# (prior, equivalent frozen scipy distribution); array cases broadcast to batch shape (3,).
CASES = [
    (P.Normal(1.0, 2.0), stats.norm(1.0, 2.0)),
    (P.Normal([0.0, 1.0, -2.0], [1.0, 0.5, 3.0]), stats.norm([0.0, 1.0, -2.0], [1.0, 0.5, 3.0])),
    (P.HalfNormal(2.0), stats.halfnorm(scale=2.0)),
    (P.HalfNormal([0.5, 1.0, 4.0]), stats.halfnorm(scale=[0.5, 1.0, 4.0])),
    (P.Laplace(0.5, 1.5), stats.laplace(0.5, 1.5)),
    (P.StudentT(3.0, 1.0, 2.0), stats.t(3.0, 1.0, 2.0)),
    (P.StudentT([1.5, 4.0, 30.0], 0.0, [1.0, 3.0, 0.5]), stats.t([1.5, 4.0, 30.0], 0, [1, 3, 0.5])),
    (P.Cauchy(0.5, 2.0), stats.cauchy(0.5, 2.0)),
    (P.HalfCauchy(1.5), stats.halfcauchy(scale=1.5)),
    (P.Gamma(2.5, 3.0), stats.gamma(2.5, scale=1 / 3.0)),
    (P.Gamma([0.5, 1.0, 5.0], 2.0), stats.gamma([0.5, 1.0, 5.0], scale=0.5)),
    (P.InverseGamma(6.0, 2.0), stats.invgamma(6.0, scale=2.0)),
    (P.LogNormal(0.3, 0.5), stats.lognorm(0.5, scale=np.exp(0.3))),
    (P.Exponential(2.0), stats.expon(scale=0.5)),
    (P.Exponential([0.5, 1.0, 3.0]), stats.expon(scale=1 / np.array([0.5, 1.0, 3.0]))),
    (P.Uniform(-1.0, 3.0), stats.uniform(-1.0, 4.0)),
    (P.Uniform([-1.0, 0.0, 2.0], 3.0), stats.uniform([-1.0, 0.0, 2.0], [4.0, 3.0, 1.0])),
]
IDS = [repr(p) for p, _ in CASES]
# Priors whose scipy distribution has four finite moments (sample-variance error is known).
LIGHT = [c for c in CASES if not isinstance(c[0], P.Cauchy | P.HalfCauchy | P.StudentT)]
LIGHT += [(P.StudentT(10.0, 1.0, 2.0), stats.t(10.0, 1.0, 2.0))]
HORSESHOES = [P.Horseshoe(1.0), P.Horseshoe(0.3), P.Horseshoe([0.1, 1.0, 5.0])]


def _grid(prior) -> np.ndarray:
    """x values spanning and leaving the support, shaped to broadcast against the batch."""
    x = np.concatenate([np.linspace(-6.0, 12.0, 361), [0.0, 1e-3, 50.0]])
    return x[:, None] if prior.batch_shape else x


def _inside(prior, x):
    """Points of the grid strictly inside the support for every batch element."""
    if prior.support == "interval":
        lo, hi = np.max(prior.lower), np.min(prior.upper)
    else:
        lo, hi = (0.0 if prior.support == "positive" else -np.inf), np.inf
    return x[((x > lo) & (x < hi)).reshape(len(x))]


# ------------------------------------------------------------------------------ densities
@pytest.mark.parametrize(("prior", "ref"), CASES, ids=IDS)
def test_logpdf_matches_scipy(prior, ref):
    x = _grid(prior)
    expected = ref.logpdf(x)
    out = prior.logpdf(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("tau", [0.5, 2.0])
@pytest.mark.parametrize("x", [0.05, 0.5, 1.0, 2.5, 10.0, 100.0])
def test_horseshoe_logpdf_matches_hierarchical_integral(x, tau):
    # p(x) = int_0^inf HalfCauchy(lam; 1) N(x; 0, (tau lam)^2) dlam
    def integrand(lam):
        return stats.halfcauchy.pdf(lam) * stats.norm.pdf(x, 0.0, tau * lam)

    scale = x / tau  # the integrand peaks near lam ~ x / tau
    value = sum(
        integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
        for a, b in [(0, scale), (scale, 10 * scale), (10 * scale, np.inf)]
    )
    np.testing.assert_allclose(P.Horseshoe(tau).logpdf(x), np.log(value), rtol=1e-9)


def test_horseshoe_pole_tails_and_no_warnings():
    hs = P.Horseshoe(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = hs.logpdf([0.0, 1e-300, 1e8, 1e200, -1e300, np.inf])
    assert out[0] == np.inf  # logarithmic pole of E1 at the origin
    assert np.isfinite(out[1:5]).all() and out[5] == -np.inf
    # Cauchy-like tail: p(x) -> 2 tau / (x^2 sqrt(2 pi^3)).
    expected = np.log(2.0 / 1e16) - 0.5 * np.log(2 * np.pi**3)
    np.testing.assert_allclose(out[2], expected, rtol=1e-12)
    np.testing.assert_allclose(hs.logpdf(-3.0), hs.logpdf(3.0))


def test_log_exp_e1_is_continuous_across_the_asymptotic_switch():
    z = np.array([1e-8, 0.5, 1.0, 50.0, 99.9, 100.1, 300.0, 650.0])
    expected = np.log(special.exp1(z)) + z
    np.testing.assert_allclose(log_exp_e1(np.log(z)), expected, rtol=1e-13)


def test_density_normalises_numerically():
    for prior in [P.Horseshoe(0.7), P.StudentT(2.5, 0.0, 1.0), P.InverseGamma(1.5, 1.0)]:

        def pdf(x, p=prior):
            return float(np.exp(p.logpdf(x)))

        # Split at 0 (the horseshoe's log pole) and at +-1 (heavy tails on infinite pieces).
        pieces = [(0, 1), (1, np.inf)]
        if prior.support == "real":
            pieces += [(-np.inf, -1), (-1, 0)]
        total = sum(integrate.quad(pdf, a, b, limit=200)[0] for a, b in pieces)
        assert total == pytest.approx(1.0, abs=1e-7), repr(prior)


# ------------------------------------------------------------------------------ backends
@pytest.mark.parametrize(("prior", "ref"), CASES, ids=IDS)
def test_torch_log_prob_equals_logpdf(prior, ref):
    x = _inside(prior, _grid(prior))
    dist = prior.to_torch()
    out = dist.log_prob(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out, prior.logpdf(x), rtol=1e-10, atol=1e-12)
    assert dist.batch_shape == torch.Size(prior.batch_shape)


@pytest.mark.parametrize("prior", HORSESHOES, ids=repr)
def test_horseshoe_torch_log_prob_and_gradient(prior):
    x = np.concatenate([-np.geomspace(1e-4, 1e4, 60), np.geomspace(1e-4, 1e4, 60)])[:, None]
    xt = torch.tensor(x, requires_grad=True)
    log_p = prior.to_torch().log_prob(xt)
    np.testing.assert_allclose(log_p.detach().numpy(), prior.logpdf(x), rtol=1e-10)
    (grad,) = torch.autograd.grad(log_p.sum(), xt)
    # d/dx log p = (x / tau^2) (1 - 1 / (z e^z E1(z))), z = x^2 / (2 tau^2); the reference
    # cancels catastrophically for large z (relative error ~ z * eps), so stop at |x| = 100.
    keep = np.abs(x[:, 0]) <= 100
    x, grad = x[keep], grad[keep]
    tau = np.asarray(prior.scale)
    z = x**2 / (2 * tau**2)
    expected = x / tau**2 * (1 - 1 / (z * np.exp(log_exp_e1(np.log(z)))))
    expected = expected.sum(-1, keepdims=True)  # autograd sums over the batch axis
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-8, atol=1e-12)


def test_torch_float32_and_sampling_shapes():
    dist = P.Gamma([1.0, 2.0], 3.0).to_torch(torch.float32)
    assert dist.sample((5,)).shape == (5, 2) and dist.mean.dtype == torch.float32
    torch.manual_seed(0)
    hs = P.Horseshoe([1.0, 2.0]).to_torch()
    draws = hs.sample((4000,))
    assert draws.shape == (4000, 2)
    # Median of |x| for tau = 1 from the numpy hierarchy (same law), loose check.
    ref = np.median(np.abs(P.Horseshoe(1.0).sample(200_000, rng=0)))
    assert abs(torch.median(draws[:, 0].abs()).item() - ref) < 0.15 * ref


def _pymc_cases():
    return [c for c in CASES] + [(P.StudentT(1.0), stats.t(1.0))]


def test_to_pymc_logp_equals_logpdf():
    cases = _pymc_cases()
    values, outputs = [], []
    with pm.Model():
        for i, (prior, _) in enumerate(cases):
            rv = prior.to_pymc(f"v{i}")
            x = _inside(prior, _grid(prior))[::25]
            x = np.broadcast_to(x, np.broadcast_shapes(x.shape, prior.batch_shape))
            values.append(x)
            outputs.append(pm.logp(rv, x))
    # One compiled function for all priors keeps the test fast.
    results = pytensor.function([], outputs)()
    for (prior, _), x, out in zip(cases, values, results, strict=True):
        # Tight on purpose: Python-float parameters would make pytensor compute in float32
        # (errors ~2e-8). atol covers PyMC's own HalfCauchy, whose log(2) is float32 (2e-9).
        np.testing.assert_allclose(out, prior.logpdf(x), rtol=1e-11, atol=3e-9, err_msg=repr(prior))


def test_to_pymc_passes_shape_and_dims():
    with pm.Model(coords={"coef": ["a", "b", "c", "d"]}) as model:
        P.Normal(0.0, 10.0).to_pymc("w", dims="coef")
        s = P.HalfNormal(1.0).to_pymc("s", shape=2)
    assert tuple(model.initial_point()["w"].shape) == (4,)
    assert s.type.shape == (2,)


def test_horseshoe_to_pymc_is_non_centred_hierarchy():
    prior = P.Horseshoe([0.5, 2.0])
    with pm.Model() as model:
        x = prior.to_pymc("beta")
    names = {rv.name for rv in model.free_RVs}
    assert names == {"beta_lambda", "beta_raw"}
    assert [d.name for d in model.deterministics] == ["beta"]
    fn = pytensor.function([model["beta_lambda"], model["beta_raw"]], x)
    lam, raw = np.array([1.5, 0.2]), np.array([-0.3, 2.0])
    np.testing.assert_allclose(fn(lam, raw), np.array([0.5, 2.0]) * lam * raw)
    # The lambda prior is HalfCauchy(1).
    np.testing.assert_allclose(
        pm.logp(model["beta_lambda"], lam).eval(), stats.halfcauchy.logpdf(lam)
    )


# -------------------------------------------------------------------- unconstrained space
ALL_PRIORS = [p for p, _ in CASES] + HORSESHOES


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=repr)
def test_log_prob_unconstrained_equals_change_of_variables(prior):
    z = torch.linspace(-4.0, 4.0, 81, dtype=torch.float64)[:, None]
    if not prior.batch_shape:
        z = z[:, 0]
    x = prior.transform.forward(z)
    expected = prior.logpdf(x.numpy()) + prior.transform.log_abs_det_jacobian(z).numpy()
    out = prior.log_prob_unconstrained(z)
    assert out.shape == expected.shape
    mask = np.isfinite(expected)  # the horseshoe pole at z = 0
    np.testing.assert_allclose(out.numpy()[mask], expected[mask], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "prior",
    [
        P.Normal(1.0, 2.0),
        P.HalfNormal(2.0),
        P.HalfCauchy(1.5),
        P.Gamma(2.5, 3.0),
        P.InverseGamma(3.0, 2.0),
        P.LogNormal(0.3, 0.5),
        P.Exponential(2.0),
        P.Uniform(-1.0, 3.0),
    ],
    ids=repr,
)
def test_log_prob_unconstrained_integrates_to_one(prior):
    def density(z):
        return math.exp(prior.log_prob_unconstrained(torch.tensor(z, dtype=torch.float64)))

    total = sum(
        integrate.quad(density, a, b, limit=200, epsabs=1e-12)[0]
        for a, b in [(-np.inf, -5), (-5, 0), (0, 5), (5, np.inf)]
    )
    assert total == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    "prior",
    [
        P.HalfNormal(1.0),
        P.HalfCauchy(1.0),
        P.Gamma(3.0, 1.0),
        P.InverseGamma(3.0, 1.0),
        P.LogNormal(0.0, 1.0),
        P.Exponential(1.0),
        P.Uniform(0.0, 1.0),
    ],
    ids=repr,
)
def test_log_prob_unconstrained_is_finite_with_finite_gradient_far_out(prior):
    # Where exp(z) under- or overflows a naive log p(exp(z)) + z gives -inf or NaN.
    z = torch.tensor([-800.0, -60.0, 60.0, 700.0], dtype=torch.float64, requires_grad=True)
    out = prior.log_prob_unconstrained(z)
    (grad,) = torch.autograd.grad(out.sum(), z)
    assert not torch.isnan(out).any() and not torch.isnan(grad).any()
    assert torch.isfinite(out[1:3]).all()


# ------------------------------------------------------------------------------ sampling
@pytest.mark.parametrize(("prior", "ref"), LIGHT, ids=[repr(p) for p, _ in LIGHT])
def test_sample_moments_within_monte_carlo_error(prior, ref):
    n = 100_000
    draws = prior.sample(n, rng=np.random.default_rng(123))
    assert draws.shape == (n, *prior.batch_shape)
    var = ref.var()
    kurt = ref.stats(moments="k")  # excess kurtosis
    se_mean = np.sqrt(var / n)
    se_var = var * np.sqrt((kurt + 2.0) / n)  # Var(s^2) = sigma^4 (kurt + 2) / n
    assert np.all(np.abs(draws.mean(0) - ref.mean()) < 5 * se_mean)
    assert np.all(np.abs(draws.var(0) - var) < 5 * se_var)


def _horseshoe_cdf(tau, x):
    pdf = lambda t: float(np.exp(P.Horseshoe(tau).logpdf(t)))  # noqa: E731
    return 0.5 + np.sign(x) * integrate.quad(pdf, 0.0, abs(x), limit=200)[0]


@pytest.mark.parametrize("prior", [p for p, _ in CASES] + HORSESHOES[:2], ids=repr)
def test_sample_empirical_cdf_matches(prior):
    # Works for heavy tails too: the ECDF at a point is a binomial proportion.
    n = 50_000
    draws = prior.sample(n, rng=7)
    if isinstance(prior, P.Horseshoe):
        points = [-2.0, 0.1, 1.0]
        cdf = np.array([_horseshoe_cdf(prior.scale, x) for x in points])
    else:
        ref = dict(zip(IDS, (r for _, r in CASES), strict=True))[repr(prior)]
        points = np.quantile(draws.reshape(n, -1), [0.1, 0.5, 0.9], axis=0).mean(1)
        cdf = ref.cdf(np.asarray(points)[:, None] if prior.batch_shape else points)
    ecdf = (draws[None] <= np.reshape(points, (-1,) + (1,) * draws.ndim)).mean(1)
    se = np.sqrt(cdf * (1 - cdf) / n)
    assert np.all(np.abs(ecdf - cdf) < 5 * se + 1e-12)


def test_sample_shapes_and_seeding():
    prior = P.Normal([0.0, 1.0, 2.0], 1.0)
    assert prior.sample().shape == (3,)
    assert prior.sample(5).shape == (5, 3)
    assert prior.sample((2, 4)).shape == (2, 4, 3)
    assert P.Normal().sample().shape == ()
    np.testing.assert_array_equal(prior.sample(4, rng=1), prior.sample(4, rng=1))
    gen = np.random.default_rng(1)
    np.testing.assert_array_equal(prior.sample(4, rng=gen), prior.sample(4, rng=1))
    assert P.HalfNormal(1.0).sample(1000, rng=0).min() >= 0
    assert P.Horseshoe([1.0, 2.0]).sample((3,), rng=0).shape == (3, 2)


# -------------------------------------------------------------------------------- moments
@pytest.mark.parametrize(("prior", "ref"), LIGHT, ids=[repr(p) for p, _ in LIGHT])
def test_mean_and_variance_match_scipy(prior, ref):
    np.testing.assert_allclose(prior.mean, ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(prior.variance, ref.var(), rtol=1e-12)
    assert np.shape(prior.mean) == prior.batch_shape


@pytest.mark.parametrize(
    ("prior", "attr"),
    [
        (P.Cauchy(), "mean"),
        (P.Cauchy(), "variance"),
        (P.HalfCauchy(), "mean"),
        (P.StudentT(1.0), "mean"),
        (P.StudentT([3.0, 2.0]), "variance"),
        (P.InverseGamma(1.0, 1.0), "mean"),
        (P.InverseGamma(2.0, 1.0), "variance"),
        (P.Horseshoe(1.0), "variance"),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_undefined_moments_raise(prior, attr):
    with pytest.raises(ValueError, match=f"{type(prior).__name__}: {attr}"):
        getattr(prior, attr)


def test_horseshoe_mean_and_studentt_heavy_mean():
    assert P.Horseshoe([1.0, 2.0]).mean.tolist() == [0.0, 0.0]
    assert P.StudentT(1.5, mu=2.0).mean == 2.0


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: P.Normal(0.0, -1.0), r"Normal: sigma must be > 0, got -1\.0"),
        (lambda: P.Normal(np.nan, 1.0), "Normal: mu must be finite"),
        (lambda: P.Normal(0.0, np.inf), "Normal: sigma must be finite, got inf"),
        (lambda: P.HalfNormal(0.0), "HalfNormal: sigma must be > 0, got 0.0"),
        (lambda: P.Laplace(b=-2), "Laplace: b must be > 0"),
        (lambda: P.StudentT(nu=0.0), "StudentT: nu must be > 0"),
        (lambda: P.StudentT(3.0, sigma=-1.0), "StudentT: sigma must be > 0"),
        (lambda: P.Cauchy(beta=0.0), "Cauchy: beta must be > 0"),
        (lambda: P.HalfCauchy(beta=-1.0), "HalfCauchy: beta must be > 0"),
        (lambda: P.Gamma(0.0, 1.0), "Gamma: alpha must be > 0"),
        (lambda: P.Gamma(1.0, [1.0, -3.0]), r"Gamma: beta must be > 0, got -3\.0 \(in an array"),
        (lambda: P.InverseGamma(-1.0, 1.0), "InverseGamma: alpha must be > 0"),
        (lambda: P.LogNormal(sigma=0.0), "LogNormal: sigma must be > 0"),
        (lambda: P.Exponential(lam=0.0), "Exponential: lam must be > 0"),
        (lambda: P.Uniform(2.0, 1.0), "Uniform: lower must be < upper, got lower=2.0"),
        (lambda: P.Uniform([0.0, 5.0], 3.0), "Uniform: lower must be < upper"),
        (lambda: P.Horseshoe(scale=-0.1), "Horseshoe: scale must be > 0"),
        (lambda: P.Normal([0.0, 1.0], [1.0, 2.0, 3.0]), "Normal: parameter shapes"),
    ],
)
def test_invalid_parameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("bad", ["a", None, True, 1 + 2j, [["x"]], object()])
def test_non_numeric_parameters_raise_type_error(bad):
    with pytest.raises(TypeError, match="Normal: mu"):
        P.Normal(mu=bad)


# ------------------------------------------------------------------- identity and pickling
@pytest.mark.parametrize("prior", [*ALL_PRIORS, P.Fixed(2.0)], ids=repr)
def test_pickle_round_trip_equality_and_hash(prior):
    clone = pickle.loads(pickle.dumps(prior))
    assert clone == prior and hash(clone) == hash(prior)
    assert copy.deepcopy(prior) == prior
    np.testing.assert_array_equal(clone.logpdf(0.5), prior.logpdf(0.5))
    for value in clone.params.values():
        assert isinstance(value, float) or not value.flags.writeable


def test_immutability_equality_and_repr():
    prior = P.Normal(0, 10)
    assert repr(prior) == "Normal(mu=0.0, sigma=10.0)"
    assert repr(P.Gamma(2.0, [1.0, 3.0])) == "Gamma(alpha=2.0, beta=[1., 3.])"
    with pytest.raises(dataclasses.FrozenInstanceError):
        prior.sigma = 1.0
    with pytest.raises(ValueError, match="read-only"):
        P.Normal([0.0, 1.0]).mu[0] = 5.0
    assert prior == P.Normal(0.0, 10.0) and prior != P.Normal(0.0, 11.0)
    assert P.Normal(0.0, 1.0) != P.Laplace(0.0, 1.0)
    assert P.Normal([0.0, 1.0]) == P.Normal(np.array([0.0, 1.0]))
    assert P.Normal([0.0, 0.0]) != P.Normal(0.0)
    assert len({P.Normal(0.0, 1.0), P.Normal(0, 1), P.HalfNormal(1.0)}) == 2


def test_support_transform_and_batch_shape():
    expected = {
        P.Normal(): "real",
        P.HalfNormal(): "positive",
        P.Gamma(1.0, 1.0): "positive",
        P.Uniform(0.0, 2.0): "interval",
        P.Horseshoe(): "real",
    }
    for prior, support in expected.items():
        assert prior.support == support
        assert prior.transform.support == support
    assert P.Uniform(0.0, 2.0).transform.forward(np.array(50.0)) == pytest.approx(2.0)
    assert P.Normal([0.0, 1.0], [[1.0], [2.0]]).batch_shape == (2, 2)
    assert P.Normal().batch_shape == ()


def test_fixed_and_as_prior():
    fixed = P.as_prior(2.0, "sigma")
    assert fixed == P.Fixed(2.0)
    assert P.as_prior(P.HalfNormal(1.0)) == P.HalfNormal(1.0)
    np.testing.assert_array_equal(fixed.logpdf([2.0, 1.0]), [0.0, -np.inf])
    np.testing.assert_array_equal(fixed.sample(3, rng=0), [2.0, 2.0, 2.0])
    assert fixed.mean == 2.0 and fixed.variance == 0.0
    assert fixed.to_torch().log_prob(torch.tensor(2.0, dtype=torch.float64)).item() == 0.0
    with pm.Model() as model:
        const = fixed.to_pymc("sigma")
    assert not model.free_RVs and float(const.eval()) == 2.0
    with pytest.raises(TypeError, match="sigma must be a Prior or a number"):
        P.as_prior("wide", "sigma")
