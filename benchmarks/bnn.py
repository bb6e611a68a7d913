"""Effective samples per second of BNN predictions: bayesphys vs PyMC NUTS, same net and data.

The target is the posterior predictive mean ``f(x)`` at test points (weights are not
identifiable, predictions are what users need converged). Both samplers see the same network
(1-10-1, tanh), the same priors (every weight and bias ``Normal(0, 1)``, noise
``HalfNormal(1)`` in the units of y) and the same standardised data. For each run the table gives
wall time (PyMC: sampling only, compilation listed separately), the mean number of leapfrog steps
(gradient evaluations) per draw and chain, the median and minimum over test points of the bulk ESS
of ``f(x)``, the median ESS per second, the worst R-hat and the largest distance of the
predictive mean from a long reference run in units of its posterior sd.

Run ``python benchmarks/bnn.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Sequence

import numpy as np
from _common import format_table, machine_header, timed

from bayesphys import results
from bayesphys.bnn import BayesianNeuralNetwork
from bayesphys.inference import HMC, NUTS, SGHMC

HIDDEN = 10


def data(n: int, seed: int):
    """1-D regression with a gap in the inputs (as in the tests)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-3, -1, n // 2), rng.uniform(1, 3, n - n // 2)])
    y = np.sin(x) + 0.1 * x + 0.15 * rng.normal(size=n)
    return x[:, None], y


def f_pymc(idata, x_std: np.ndarray, y_mean: float, y_scale: float) -> np.ndarray:
    """Predictive mean draws ``(chain, draw, n)`` from PyMC weight draws, in units of y."""
    post = idata.posterior
    w0, b0 = post["W0"].values, post["b0"].values
    w1, b1 = post["W1"].values, post["b1"].values
    h = np.tanh(np.einsum("nd,cgdh->cgnh", x_std, w0) + b0[:, :, None, :])
    return y_mean + y_scale * (np.einsum("cgnh,cgh->cgn", h, w1[..., 0]) + b1[..., None])


def mean_steps(idata) -> float:
    """Mean leapfrog steps per kept draw and chain (NaN for samplers without them)."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "n_steps" not in stats:
        return float("nan")
    return float(stats["n_steps"].values.mean())


def run_pymc(X, y, X_test, draws: int, tune: int, chains: int, seed: int):
    """NUTS in PyMC on the standardised problem; returns (f draws, sample s, compile s, steps)."""
    import pymc as pm

    x_mean, x_scale = X.mean(0), X.std(0)
    y_mean, y_scale = y.mean(), y.std()
    xs, ys = (X - x_mean) / x_scale, (y - y_mean) / y_scale

    def build():
        with pm.Model() as model:
            w0 = pm.Normal("W0", 0.0, 1.0, shape=(1, HIDDEN))
            b0 = pm.Normal("b0", 0.0, 1.0, shape=HIDDEN)
            w1 = pm.Normal("W1", 0.0, 1.0, shape=(HIDDEN, 1))
            b1 = pm.Normal("b1", 0.0, 1.0)
            sigma = pm.HalfNormal("sigma", 1.0)  # in units of y, as bayesphys' Gaussian noise
            f = pm.math.dot(pm.math.tanh(pm.math.dot(xs, w0) + b0), w1)[:, 0] + b1
            pm.Normal("y", f, sigma / y_scale, observed=ys)
            logp = model.compile_logp()
            dlogp = model.compile_dlogp()
            point = model.initial_point()
            logp(point), dlogp(point)
        return model

    compile_s, _, model = timed(build)

    def draw():
        with model:
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=1,
                random_seed=seed,
                progressbar=False,
                compute_convergence_checks=False,
            )

    sample_s, _, idata = timed(draw)
    xt = (X_test - x_mean) / x_scale
    return f_pymc(idata, xt, y_mean, y_scale), sample_s, compile_s, mean_steps(idata)


def run_ours(X, y, X_test, method, seed: int):
    """bayesphys fit with an inference object; returns (f draws, wall s, leapfrog steps/draw)."""
    model = BayesianNeuralNetwork(hidden=(HIDDEN,), method=method, random_state=seed)
    wall, _, _ = timed(lambda: model.fit(X, y, progressbar=False))
    pp = model.sample_posterior_predictive(X_test, random_state=0)
    return pp.posterior_predictive["f"].values, wall, mean_steps(model.idata_)


def row(
    name: str, f: np.ndarray, wall: float, steps: float, ref_mean: np.ndarray, ref_sd: np.ndarray
):
    ess = np.asarray(results.ess(f))
    rhat = np.asarray(results.rhat(f))
    err = np.max(np.abs(f.mean(axis=(0, 1)) - ref_mean) / ref_sd)
    n = f.shape[0] * f.shape[1]
    return [
        name,
        n,
        wall,
        "-" if np.isnan(steps) else steps,
        float(np.median(ess)),
        float(ess.min()),
        float(np.median(ess)) / wall,
        float(rhat.max()),
        float(err),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: print the machine header and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    import pymc  # noqa: F401  (pymc sets its logger's level on import; quieten it afterwards)

    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    draws, tune = (100, 100) if args.quick else (500, 500)
    X, y = data(50, args.seed)
    X_test = np.linspace(-3.5, 3.5, 15)[:, None]

    ref, _, _ = run_ours(X, y, X_test, HMC(draws=2 * draws, tune=tune, chains=16), args.seed + 100)
    ref_mean, ref_sd = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1))
    rows = []
    f, sample_s, compile_s, steps = run_pymc(X, y, X_test, draws, tune, 4, args.seed)
    rows.append(
        row(
            f"PyMC NUTS, 4 chains (+{compile_s:.1f} s compile)",
            f,
            sample_s,
            steps,
            ref_mean,
            ref_sd,
        )
    )
    for name, method in [
        ("bayesphys hmc, 4 chains", HMC(draws=draws, tune=tune, chains=4)),
        ("bayesphys hmc, 16 chains", HMC(draws=draws, tune=tune, chains=16)),
        (
            "bayesphys nuts (tree depth <= 7), 4 chains",
            NUTS(draws=draws, tune=tune, chains=4, max_treedepth=7),
        ),
        # default burn-in (2000 steps), draws * 10 steps kept every 10th
        (
            "bayesphys sghmc, 4 chains, batch 16, thin 10",
            SGHMC(draws=draws, chains=4, batch_size=16),
        ),
    ]:
        f, wall, steps = run_ours(X, y, X_test, method, args.seed)
        rows.append(row(name, f, wall, steps, ref_mean, ref_sd))

    print(machine_header(("numpy", "torch", "pymc")))
    print(
        "PyMC runs its chains one after another (cores=1), bayesphys vectorises them in one "
        "process on one thread"
    )
    print(
        f"n=50 points, network 1-{HIDDEN}-1 tanh ({3 * HIDDEN + 1} weights + sigma), "
        f"{draws} draws/chain after {tune} tuning steps; ESS of f(x) at 15 test points; "
        f"err: max |mean - reference| / posterior sd (reference: bayesphys hmc, 16 x "
        f"{2 * draws} draws)\n"
    )
    header = [
        "run",
        "draws",
        "wall s",
        "steps/draw",
        "ESS med",
        "ESS min",
        "ESS/s",
        "max R-hat",
        "err",
    ]
    print(format_table(header, rows))


if __name__ == "__main__":
    main()
