"""Argument checks, gradients, units and the minibatch samplers on exactly known posteriors."""

import numpy as np
import pytest
import torch

from bayesphys import results
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.bnn.inference.minibatch import Batcher
from bayesphys.bnn.inference.sghmc import fit_sghmc
from bayesphys.bnn.inference.vi import fit_vi
from bayesphys.bnn.network import Network
from bayesphys.bnn.posterior import FullBatchTarget, Posterior
from bayesphys.core.base import NotFittedError
from bayesphys.inference import HMC, NUTS, SGHMC, VI
from bayesphys.likelihoods import Bernoulli, Categorical, Gaussian, Poisson, StudentT
from bayesphys.priors import HalfNormal, InverseGamma, Laplace, Normal

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2))
Y = X[:, 0] - X[:, 1] + 0.1 * RNG.normal(size=12)
QUICK = VI(chains=1, draws=5, steps=5)


@pytest.mark.parametrize(
    ("params", "match", "error"),
    [
        ({"hidden": (0,)}, "hidden", ValueError),
        ({"hidden": ()}, "hidden", ValueError),
        ({"hidden": "20"}, "hidden", TypeError),
        ({"activation": "swish"}, "activation", ValueError),
        ({"weight_prior": HalfNormal(1.0)}, "weight_prior", ValueError),
        ({"weight_prior": "flat"}, "weight_prior", ValueError),
        ({"weight_prior": 1.0}, "weight_prior", TypeError),
        ({"likelihood": Poisson()}, "likelihood", TypeError),
        ({"random_state": "seed"}, "random_state", TypeError),
    ],
)
def test_bad_constructor_arguments_raise_in_fit(params, match, error):
    model = BayesianNeuralNetwork(**params, method=QUICK)  # stored unchanged, checked in fit
    with pytest.raises(error, match=match):
        model.fit(X, Y, progressbar=False)


@pytest.mark.parametrize(
    ("method", "match"),
    [
        ("mcmc", "supported: \\['hmc', 'nuts', 'sghmc', 'vi'\\]"),
        (VI(chains=0), "VI.chains"),
        (VI(draws=0), "VI.draws"),
        (HMC(tune=-1), "HMC.tune"),
        (NUTS(max_treedepth=0), "NUTS.max_treedepth"),
        (SGHMC(thin=0), "SGHMC.thin"),
        (VI(batch_size=0), "VI.batch_size"),
        (SGHMC(learning_rate=-0.1), "SGHMC.learning_rate"),
        (HMC(target_accept=1.5), "HMC.target_accept"),
        (HMC(chains=2, chain_groups=3), "chain_groups"),
    ],
)
def test_bad_method_settings(method, match):
    with pytest.raises(ValueError, match=match):
        BayesianNeuralNetwork(method=method).fit(X, Y, progressbar=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_err": -np.ones(12)}, "y_err"),
        ({"y_err": np.ones(5)}, "y_err"),
        ({"progressbar": "yes"}, "progressbar"),
        ({"client": "tcp://127.0.0.1:8786"}, "client"),
    ],
)
def test_bad_fit_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BayesianNeuralNetwork(method=QUICK).fit(X, Y, **{"progressbar": False, **kwargs})


def test_bad_data():
    bad = X.copy()
    bad[0, 0] = np.nan
    model = BayesianNeuralNetwork(method=QUICK)
    with pytest.raises(ValueError, match="X"):
        model.fit(bad, Y, progressbar=False)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, Y[:-1], progressbar=False)
    with pytest.raises(ValueError, match="y_err"):
        BayesianNeuralNetwork(likelihood=Bernoulli(), method=QUICK).fit(
            X, Y > 0, y_err=np.ones(12), progressbar=False
        )


def test_prediction_checks():
    with pytest.raises(NotFittedError):
        BayesianNeuralNetwork().predict(X)
    with pytest.raises(NotFittedError):
        BayesianNeuralNetwork().sample_prior_predictive(X)
    model = BayesianNeuralNetwork(hidden=(3,), method=QUICK).fit(X, Y, progressbar=False)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :1])
    assert not hasattr(model, "predict_proba")  # a regressor, as scikit-learn sees it
    assert not hasattr(model, "classes_")
    with pytest.raises(ValueError, match="draws"):
        model.sample_prior_predictive(X, draws=0)
    with pytest.raises(ValueError, match="y_err"):
        model.sample_posterior_predictive(X, y_err=np.ones(3))
    _, std = model.predict(X, return_std=True)
    _, total = model.predict(X, return_std=True, include_noise=True)
    assert np.all(total > std)


def test_results_are_in_original_units():
    """Same seed, rescaled y and noise prior: the standardised problem is identical."""
    method = VI(chains=1, draws=20, steps=50)
    base = BayesianNeuralNetwork(hidden=(3,), method=method, random_state=3).fit(
        X, Y, progressbar=False
    )
    lik = Gaussian(noise=HalfNormal(1000.0))
    scaled = BayesianNeuralNetwork(hidden=(3,), likelihood=lik, method=method, random_state=3)
    scaled.fit(X, 1000 * Y + 5, progressbar=False)
    np.testing.assert_allclose(scaled.predict(X), 1000 * base.predict(X) + 5, rtol=1e-8)
    np.testing.assert_allclose(
        scaled.idata_.posterior["sigma"].values, 1000 * base.idata_.posterior["sigma"].values
    )
    # The prior predictive uses the fitted scaling too: the same prior, in the units of y.
    prior_base = base.sample_prior_predictive(X[:4], draws=50, random_state=1)
    prior_scaled = scaled.sample_prior_predictive(X[:4], draws=50, random_state=1)
    for name in ("y", "f"):
        np.testing.assert_allclose(
            prior_scaled.prior_predictive[name].values,
            1000 * prior_base.prior_predictive[name].values + 5,
            rtol=1e-8,
        )


def test_new_y_err_adds_to_the_predictive_noise():
    model = BayesianNeuralNetwork(hidden=(3,), method=VI(chains=2, draws=200, steps=50))
    model.set_params(random_state=0).fit(X, Y, progressbar=False)
    pp = model.sample_posterior_predictive(X[:3], y_err=np.full(3, 10.0), random_state=0)
    residual = pp.posterior_predictive["y"].values - pp.posterior_predictive["f"].values
    sigma = model.idata_.posterior["sigma"].values[..., None]
    z = residual / np.sqrt(10.0**2 + sigma**2)  # standard normal if y_err adds to sigma
    assert abs(z.std() - 1.0) < 0.05  # 1200 draws: sd of the estimate ~0.02
    np.testing.assert_array_equal(pp.constant_data["y_err"].values, np.full(3, 10.0))


def test_prior_predictive_draws_every_parameter_from_its_prior():
    model = BayesianNeuralNetwork(
        hidden=(3,), weight_prior="hierarchical", method=QUICK, random_state=0
    ).fit(X, Y, progressbar=False)
    prior = model.sample_prior_predictive(X[:2], draws=4000, random_state=2).prior
    hyper = {"tau_W0", "tau_b0", "tau_W1", "tau_b1", "sigma"}
    assert set(prior.data_vars) == {"W0", "b0", "W1", "b1"} | hyper
    assert prior["W0"].dims == ("chain", "draw", "feature", "hidden0")
    # tau ~ Gamma(2, 2): mean 1, sd 1/sqrt(2); sigma ~ HalfNormal(1): mean sqrt(2/pi).
    tau = prior["tau_W0"].values
    assert abs(tau.mean() - 1.0) < 4 * 0.71 / np.sqrt(tau.size)
    sigma = prior["sigma"].values
    assert abs(sigma.mean() - np.sqrt(2 / np.pi)) < 4 * 0.6 / np.sqrt(sigma.size)
    # Given tau, the weights of the group are N(0, 1/tau): tau * w**2 has mean 1.
    scaled = prior["tau_W1"].values[..., None, None] * prior["W1"].values ** 2
    assert abs(scaled.mean() - 1.0) < 4 * np.sqrt(2 / scaled.size)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "softplus"])
@pytest.mark.parametrize(
    "likelihood",
    [Gaussian(noise=HalfNormal(1.0)), StudentT(noise=0.3), Bernoulli(), Categorical()],
    ids=["gaussian", "student", "bernoulli", "categorical"],
)
@pytest.mark.parametrize("prior", [Normal(0, 1), Laplace(0, 1), "hierarchical"])
def test_hand_written_gradient_matches_autograd(activation, likelihood, prior):
    rng = np.random.default_rng(1)
    n_out = 3 if isinstance(likelihood, Categorical) else 1
    discrete = isinstance(likelihood, Bernoulli | Categorical)
    y = rng.integers(0, max(n_out, 2), 30) if discrete else rng.normal(size=30)
    y_err = None if discrete else np.full(30, 0.1)
    net = Network(2, (5, 4), n_out, activation)
    x = torch.as_tensor(rng.normal(size=(30, 2)))
    post = Posterior(net, prior, likelihood, x, y, y_err, 2.0)
    theta = torch.randn(
        3, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    for idx in (None, rng.integers(0, 30, (3, 8))):
        value, grad = post.value_and_grad(theta, idx)
        t = theta.clone().requires_grad_(True)
        reference = post.log_prob_autograd(t, idx)
        (ref_grad,) = torch.autograd.grad(reference.sum(), t)
        torch.testing.assert_close(value, reference.detach())
        torch.testing.assert_close(grad, ref_grad, atol=1e-10, rtol=1e-8)


class _ConjugateMean:
    """Posterior of theta with y_i ~ N(theta_k, 1), theta_k ~ N(0, 1), for two coordinates.

    Exact posterior: N(sum(y) / (n + 1), 1 / (n + 1)) per coordinate. Exposes the interface the
    minibatch samplers use, so their noise/friction terms and the KL scaling are checked against
    a known answer.
    """

    def __init__(self, n=200, seed=0):
        rng = np.random.default_rng(seed)
        self.n = n
        self.y = torch.as_tensor(rng.normal([1.0, -2.0], 1.0, size=(n, 2)))
        self.mean = self.y.sum(0) / (n + 1)
        self.sd = 1.0 / np.sqrt(n + 1)

    def minibatch_log_prob(self, theta, idx):
        y = self.y.unsqueeze(0) if idx is None else self.y[torch.as_tensor(idx)]
        scale = 1.0 if idx is None else self.n / idx.shape[-1]
        lik = -0.5 * ((y - theta.unsqueeze(1)) ** 2).sum((1, 2))
        return -0.5 * (theta**2).sum(-1) + scale * lik

    def log_prob(self, theta):
        return self.minibatch_log_prob(theta, None)


def test_sghmc_samples_a_known_posterior():
    post = _ConjugateMean()
    gen = torch.Generator().manual_seed(0)
    # Overdispersed start, as the warm start of a BNN fit provides.
    init = post.mean + 3 * post.sd * torch.randn(4, 2, dtype=torch.float64, generator=gen)
    fit = fit_sghmc(
        post,
        init,
        draws=1000,
        burn_in=1000,
        thin=5,
        lr=0.01,
        friction=0.05,
        batcher=Batcher(post.n, 20, 4, gen),
        generator=gen,
        progressbar=False,
    )
    draws = fit.unconstrained.reshape(-1, 2)
    mcse = post.sd / np.sqrt(results.ess(fit.unconstrained.numpy()))
    np.testing.assert_array_less(np.abs(draws.mean(0).numpy() - post.mean.numpy()), 4 * mcse)
    sd = draws.std(0)
    assert torch.all((sd > 0.8 * post.sd) & (sd < 1.25 * post.sd)), sd / post.sd


def test_vi_minibatch_kl_scaling_gives_exact_posterior():
    """Mean-field VI is exact here; a KL not scaled to the minibatch would miss sd by sqrt(n/b)."""
    post = _ConjugateMean()
    gen = torch.Generator().manual_seed(1)
    init = torch.zeros(2, 2, dtype=torch.float64)
    fit = fit_vi(
        post,
        init,
        draws=4000,
        steps=3000,
        batcher=Batcher(post.n, 20, 2, gen),
        lr=0.01,
        generator=gen,
        progressbar=False,
    )
    draws = fit.unconstrained.reshape(-1, 2)
    torch.testing.assert_close(draws.mean(0), post.mean, atol=0.2 * post.sd, rtol=0)
    sd = draws.std(0)
    assert torch.all((sd > 0.85 * post.sd) & (sd < 1.15 * post.sd)), sd / post.sd


@pytest.mark.parametrize("hidden", [(6,), (5, 4)], ids=["one-layer", "two-layer"])
@pytest.mark.parametrize(
    "likelihood, y_err",
    [
        (Gaussian(), None),
        (Gaussian(noise=HalfNormal(0.4)), np.full(30, 0.1)),
        (Gaussian(variance=InverseGamma(2.0, 1.0)), None),
        (Gaussian(noise=0.3), None),
        (Gaussian(variance=0.2), np.full(30, 0.1)),
    ],
    ids=["halfnormal", "halfnormal-y_err", "variance-prior", "fixed-sigma", "fixed-var-y_err"],
)
@pytest.mark.parametrize("prior", [Normal(0, 1), Normal(0.3, 2.0)], ids=["std", "shifted"])
def test_closed_form_gradient_matches_autograd(hidden, likelihood, y_err, prior):
    rng = np.random.default_rng(2)
    net = Network(2, hidden, 1, "tanh")
    x = torch.as_tensor(rng.normal(size=(30, 2)))
    post = Posterior(net, prior, likelihood, x, rng.normal(size=30), y_err, 1.7)
    assert post.closed_form
    theta = torch.randn(
        4, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    value, grad = post.value_and_grad(theta)
    t = theta.clone().requires_grad_(True)
    reference = post.log_prob_autograd(t)
    (ref_grad,) = torch.autograd.grad(reference.sum(), t)
    torch.testing.assert_close(value, reference.detach(), atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(grad, ref_grad, atol=1e-10, rtol=1e-10)
    # The sampler target hands the same pair to the core kernels, without autograd.
    target_value, target_grad = FullBatchTarget(post).value_and_grad(theta)
    assert torch.equal(target_value, value) and torch.equal(target_grad, grad)


def test_closed_form_only_where_it_applies():
    x = torch.zeros((5, 1), dtype=torch.float64)
    net = Network(1, (3,), 1, "tanh")
    y = np.zeros(5)
    assert not Posterior(net, Laplace(0, 1), Gaussian(), x, y, None, 1.0).closed_form
    assert not Posterior(net, "hierarchical", Gaussian(), x, y, None, 1.0).closed_form
    assert not Posterior(net, Normal(0, 1), StudentT(noise=0.3), x, y, None, 1.0).closed_form
