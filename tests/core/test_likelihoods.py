"""Tests for bayesphys.core.likelihoods against scipy.stats, torch and PyMC."""

import pickle

import numpy as np
import pymc as pm
import pytest
import torch
from scipy import special, stats

from bayesphys.core import likelihoods as L
from bayesphys.core.priors import Fixed, HalfNormal, InverseGamma

RNG = np.random.default_rng(20240601)
N, D, K = 7, 4, 3
Y = RNG.normal(size=N)
F = RNG.normal(size=(D, N))  # e.g. D posterior draws of the latent predictor
Y_ERR = RNG.uniform(0.1, 0.8, size=N)
SIGMA = RNG.uniform(0.2, 1.5, size=(D, 1))  # one sigma per draw, broadcast over points
Y01 = RNG.integers(0, 2, size=N)
YCAT = RNG.integers(0, K, size=N)
FCAT = RNG.normal(size=(D, N, K))
YCOUNT = RNG.poisson(3.0, size=N)


# ------------------------------------------------------------------------ numpy vs scipy
def test_gaussian_matches_scipy_with_total_variance():
    lik = L.Gaussian()
    out = lik.logpdf(Y, F, y_err=Y_ERR, sigma=SIGMA)
    expected = stats.norm.logpdf(Y, F, np.sqrt(Y_ERR**2 + SIGMA**2))
    assert out.shape == (D, N)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # Without y_err the noise is sigma alone.
    np.testing.assert_allclose(lik.logpdf(Y, F, sigma=SIGMA), stats.norm.logpdf(Y, F, SIGMA))


def test_gaussian_fixed_noise_and_variance_forms():
    # y_err = 0.3 and sigma = 0.4 add in quadrature to a total scale of 0.5.
    out = L.Gaussian(0.4).logpdf(Y, F, y_err=0.3)
    np.testing.assert_allclose(out, stats.norm.logpdf(Y, F, 0.5), rtol=1e-12)
    out = L.Gaussian(0.0).logpdf(Y, F, y_err=Y_ERR)
    np.testing.assert_allclose(out, stats.norm.logpdf(Y, F, Y_ERR), rtol=1e-12)
    var = SIGMA**2
    out = L.Gaussian(variance=InverseGamma(2.0, 1.0)).logpdf(Y, F, y_err=Y_ERR, variance=var)
    np.testing.assert_allclose(out, stats.norm.logpdf(Y, F, np.sqrt(Y_ERR**2 + var)), rtol=1e-12)
    out = L.Gaussian(variance=0.16).logpdf(Y, F, y_err=0.3)
    np.testing.assert_allclose(out, stats.norm.logpdf(Y, F, 0.5), rtol=1e-12)


def test_studentt_matches_scipy():
    lik = L.StudentT(nu=3.5)
    out = lik.logpdf(Y, F, y_err=Y_ERR, sigma=SIGMA)
    expected = stats.t.logpdf(Y, 3.5, F, np.sqrt(Y_ERR**2 + SIGMA**2))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    nu = np.array([[1.0], [2.0], [5.0], [50.0]])
    out = L.StudentT(nu=HalfNormal(10.0), noise=0.7).logpdf(Y, F, nu=nu)
    np.testing.assert_allclose(out, stats.t.logpdf(Y, nu, F, 0.7), rtol=1e-12)


def test_bernoulli_matches_scipy():
    f = np.concatenate([F, [[-40.0, -5.0, 0.0, 5.0, 40.0, 1.0, -1.0]]])
    out = L.Bernoulli().logpdf(Y01, f)
    expected = stats.bernoulli.logpmf(Y01, special.expit(f))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # Stable far in the tails where expit saturates to 0 or 1.
    np.testing.assert_allclose(L.Bernoulli().logpdf([0, 1], [800.0, -800.0]), [-800.0, -800.0])
    assert L.Bernoulli().logpdf([True, False], [0.0, 0.0]) == pytest.approx([np.log(0.5)] * 2)


def test_categorical_matches_softmax():
    out = L.Categorical().logpdf(YCAT, FCAT)
    probs = np.exp(FCAT) / np.exp(FCAT).sum(-1, keepdims=True)
    expected = np.log(probs[:, np.arange(N), YCAT])
    assert out.shape == (D, N)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # Shift invariance of the logits, with huge logits that would overflow exp.
    np.testing.assert_allclose(L.Categorical().logpdf(YCAT, FCAT + 1000.0), expected, rtol=1e-9)


def test_poisson_matches_scipy():
    out = L.Poisson().logpdf(YCOUNT, F)
    np.testing.assert_allclose(out, stats.poisson.logpmf(YCOUNT, np.exp(F)), rtol=1e-12)


# ------------------------------------------------------------------------- torch vs numpy
TORCH_CASES = [
    (L.Gaussian(), Y, F, {"y_err": Y_ERR, "sigma": SIGMA}),
    (L.Gaussian(0.3), Y, F, {}),
    (L.Gaussian(variance=InverseGamma(2.0, 1.0)), Y, F, {"variance": SIGMA**2, "y_err": 0.2}),
    (L.StudentT(nu=HalfNormal(5.0)), Y, F, {"y_err": Y_ERR, "sigma": SIGMA, "nu": 2.5}),
    (L.Bernoulli(), Y01, F, {}),
    (L.Categorical(), YCAT, FCAT, {}),
    (L.Poisson(), YCOUNT, F, {}),
]


@pytest.mark.parametrize(
    ("lik", "y", "f", "kw"), TORCH_CASES, ids=[repr(c[0]) + str(sorted(c[3])) for c in TORCH_CASES]
)
def test_torch_log_prob_equals_logpdf_and_is_differentiable(lik, y, f, kw):
    ft = torch.tensor(f, requires_grad=True)
    tkw = {k: (torch.tensor(v, requires_grad=True) if k != "y_err" else v) for k, v in kw.items()}
    out = lik.log_prob(torch.as_tensor(y), ft, **tkw)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), lik.logpdf(y, f, **kw), rtol=1e-12)
    out.sum().backward()
    assert ft.grad is not None and torch.isfinite(ft.grad).all()
    for key, value in tkw.items():
        if key != "y_err":
            assert value.grad is not None and torch.isfinite(value.grad).all()


def test_torch_float32_follows_f():
    out = L.Gaussian(0.5).log_prob(Y, torch.zeros(N, dtype=torch.float32))
    assert out.dtype == torch.float32


# -------------------------------------------------------------------------------- PyMC
def test_gaussian_to_pymc_creates_noise_rv_and_matches_logpdf():
    lik = L.Gaussian(HalfNormal(2.0))
    with pm.Model() as model:
        obs = lik.to_pymc("y", F[0], Y, y_err=Y_ERR)
    assert [rv.name for rv in model.free_RVs] == ["y_sigma"]
    assert obs is model["y"] and obs in model.observed_RVs
    logp = model.compile_logp(vars=[obs])
    value = logp({"y_sigma_log__": np.log(0.7)})
    assert value == pytest.approx(lik.logpdf(Y, F[0], y_err=Y_ERR, sigma=0.7).sum(), rel=1e-12)


def test_gaussian_to_pymc_variance_prior_and_given_rvs():
    lik = L.Gaussian(variance=InverseGamma(3.0, 2.0))
    with pm.Model() as model:
        obs = lik.to_pymc("y", F[0], Y, y_err=Y_ERR)
    assert [rv.name for rv in model.free_RVs] == ["y_variance"]
    value = model.compile_logp(vars=[obs])({"y_variance_log__": np.log(0.5)})
    expected = lik.logpdf(Y, F[0], y_err=Y_ERR, variance=0.5).sum()
    assert value == pytest.approx(expected, rel=1e-12)
    # A parameter passed in is used instead of a new RV.
    with pm.Model() as model:
        s = pm.HalfNormal("s", 1.0)
        L.Gaussian().to_pymc("obs", F[0], Y, sigma=s)
    assert [rv.name for rv in model.free_RVs] == ["s"]


@pytest.mark.parametrize(
    ("lik", "y", "f", "kw"),
    [
        (L.Gaussian(0.4), Y, F[0], {"y_err": Y_ERR}),
        (L.Gaussian(0.0), Y, F[0], {"y_err": Y_ERR}),
        (L.StudentT(nu=3.0, noise=0.6), Y, F[0], {"y_err": Y_ERR}),
        (L.StudentT(nu=HalfNormal(1.0), noise=HalfNormal(1.0)), Y, F[0], {"nu": 4.0, "sigma": 0.3}),
        (L.Bernoulli(), Y01, F[0], {}),
        (L.Categorical(), YCAT, FCAT[0], {}),
        (L.Poisson(), YCOUNT, F[0], {}),
    ],
    ids=["gaussian", "gaussian-yerr-only", "studentt", "studentt-given", "bern", "cat", "poisson"],
)
def test_to_pymc_observed_logp_equals_logpdf(lik, y, f, kw):
    with pm.Model() as model:
        obs = lik.to_pymc("y", f, y, **kw)
    assert not model.free_RVs
    np.testing.assert_allclose(pm.logp(obs, y).eval(), lik.logpdf(y, f, **kw), rtol=1e-10)


def test_studentt_to_pymc_names_free_params():
    with pm.Model() as model:
        L.StudentT(nu=HalfNormal(10.0)).to_pymc("obs", F[0], Y, dims=None)
    assert sorted(rv.name for rv in model.free_RVs) == ["obs_nu", "obs_sigma"]


# ------------------------------------------------------------------------------ sampling
def test_gaussian_sample_variance_is_total_variance():
    n = 200_000
    draws = L.Gaussian(2.0).sample(np.full(n, 1.0), y_err=1.5, rng=3)
    var = 1.5**2 + 2.0**2
    assert abs(draws.mean() - 1.0) < 5 * np.sqrt(var / n)
    assert abs(draws.var() - var) < 5 * var * np.sqrt(2.0 / n)  # Normal: kurtosis 0


def test_sample_shapes_seeding_and_frequencies():
    n = 100_000
    f = np.array([-1.0, 0.5, 2.0])
    b = L.Bernoulli().sample(np.broadcast_to(f, (n, 3)), rng=1)
    p = special.expit(f)
    assert b.shape == (n, 3) and set(np.unique(b)) <= {0, 1}
    assert np.all(np.abs(b.mean(0) - p) < 5 * np.sqrt(p * (1 - p) / n))
    c = L.Poisson().sample(np.broadcast_to(f, (n, 3)), rng=2)
    assert np.all(np.abs(c.mean(0) - np.exp(f)) < 5 * np.sqrt(np.exp(f) / n))
    logits = np.array([0.0, 1.0, -1.0])
    labels = L.Categorical().sample(np.broadcast_to(logits, (n, 3)), rng=4)
    probs = special.softmax(logits)
    freq = np.bincount(labels, minlength=3) / n
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / n))
    t = L.StudentT(nu=4.0, noise=1.0)
    np.testing.assert_array_equal(t.sample(F, rng=5), t.sample(F, rng=5))
    assert L.Gaussian().sample(F, sigma=SIGMA, rng=0).shape == (D, N)


# ---------------------------------------------------------------------- parameters, errors
def test_free_fixed_params_and_noise_kind():
    assert L.Gaussian().free_params == {"sigma": HalfNormal(1.0)}
    assert L.Gaussian().noise_kind == "sigma" and L.Gaussian().fixed_params == {}
    assert L.Gaussian(0.5).fixed_params == {"sigma": 0.5}
    assert L.Gaussian(0.5).noise_kind == "fixed" and L.Gaussian(0.5).fixed_variance == 0.25
    ig = L.Gaussian(variance=InverseGamma(2.0, 1.0))
    assert ig.noise_kind == "variance" and ig.param_name == "variance"
    assert ig.free_params == {"variance": InverseGamma(2.0, 1.0)} and ig.fixed_variance is None
    fixed_var = L.Gaussian(variance=2.0)
    assert fixed_var.noise_kind == "fixed" and fixed_var.fixed_params == {"variance": 2.0}
    assert L.Gaussian(Fixed(0.5)) == L.Gaussian(0.5)  # a point-mass prior is a fixed value
    st = L.StudentT(nu=HalfNormal(10.0), noise=0.2)
    assert st.free_params == {"nu": HalfNormal(10.0)} and st.fixed_params == {"sigma": 0.2}
    assert L.Bernoulli().free_params == {} and L.Poisson().fixed_params == {}


def test_pickle_equality_and_repr():
    for lik in [
        L.Gaussian(),
        L.Gaussian(variance=InverseGamma(2.0, 1.0)),
        L.StudentT(),
        L.Poisson(),
    ]:
        clone = pickle.loads(pickle.dumps(lik))
        assert clone == lik and hash(clone) == hash(lik)
    assert repr(L.Gaussian(0.5)) == "Gaussian(noise=0.5, variance=None)"


@pytest.mark.parametrize(
    "y_err", [0.0, -1.0, np.nan, np.inf, [0.1, 0.2], np.ones((2, N))], ids=lambda v: repr(v)[:12]
)
def test_bad_y_err_raises(y_err):
    lik = L.Gaussian(0.5)
    with pytest.raises(ValueError, match="y_err"):
        lik.logpdf(Y, F[0], y_err=y_err)
    with pytest.raises(ValueError, match="y_err"):
        lik.log_prob(Y, torch.as_tensor(F[0]), y_err=y_err)
    with pytest.raises(ValueError, match="y_err"):
        L.StudentT(noise=0.5).logpdf(Y, F[0], y_err=y_err)


@pytest.mark.parametrize(
    ("lik", "y", "f"),
    [
        (L.Bernoulli(), [0, 2, 1], np.zeros(3)),
        (L.Bernoulli(), [0.5, 1, 0], np.zeros(3)),
        (L.Bernoulli(), [-1, 1, 0], np.zeros(3)),
        (L.Categorical(), [0, 3], np.zeros((2, 3))),
        (L.Categorical(), [0, -1], np.zeros((2, 3))),
        (L.Categorical(), [0, 1.5], np.zeros((2, 3))),
        (L.Poisson(), [0, -1], np.zeros(2)),
        (L.Poisson(), [0, 1.5], np.zeros(2)),
        (L.Poisson(), [0, np.nan], np.zeros(2)),
    ],
)
def test_bad_labels_raise(lik, y, f):
    with pytest.raises(ValueError, match=f"{type(lik).__name__}: y must be"):
        lik.logpdf(y, f)
    with pytest.raises(ValueError, match="y must be"):
        lik.log_prob(y, torch.as_tensor(f))
    with pytest.raises(ValueError, match="y must be"), pm.Model():
        lik.to_pymc("obs", f, y)


def test_construction_and_call_errors():
    with pytest.raises(ValueError, match="not both"):
        L.Gaussian(1.0, variance=2.0)
    with pytest.raises(ValueError, match=r"Gaussian: noise must be finite and >= 0, got -1\.0"):
        L.Gaussian(-1.0)
    with pytest.raises(ValueError, match="variance must be finite"):
        L.Gaussian(variance=-2.0)
    with pytest.raises(TypeError, match="noise"):
        L.Gaussian("big")
    with pytest.raises(ValueError, match="StudentT: nu must be finite and > 0"):
        L.StudentT(nu=0.0)
    with pytest.raises(ValueError, match="noise=0 needs y_err"):
        L.Gaussian(0.0).logpdf(Y, F)
    with pytest.raises(ValueError, match="noise=0 needs y_err"):
        L.Gaussian(0.0).log_prob(Y, torch.as_tensor(F))
    with pytest.raises(ValueError, match="noise=0 needs y_err"), pm.Model():
        L.Gaussian(0.0).to_pymc("y", F[0], Y)
    with pytest.raises(ValueError, match="sigma is a free parameter"):
        L.Gaussian().logpdf(Y, F)
    with pytest.raises(ValueError, match="sigma is a free parameter"):
        L.Gaussian().sample(F)
    with pytest.raises(TypeError, match="unknown parameter"):
        L.Gaussian(0.5).logpdf(Y, F, sgima=1.0)
    with pytest.raises(TypeError, match="unknown parameter"):
        L.Bernoulli().logpdf(Y01, F, sigma=1.0)
    with pytest.raises(ValueError, match="y_err is only supported"):
        L.Poisson().logpdf(YCOUNT, F, y_err=1.0)
    with pytest.raises(ValueError, match="Gaussian: y contains NaN"):
        L.Gaussian(0.5).logpdf([np.nan], [0.0])
