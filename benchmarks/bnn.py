"""Effective samples per second of BNN predictions: bayesphys vs PyMC NUTS, same net and data.

The target is the posterior predictive mean ``f(x)`` at test points (weights are not
identifiable, predictions are what users need converged). Both samplers see the same network
(1-20-1, tanh, as in issue 18), the same priors (every weight and bias ``Normal(0, 1)``, noise
``HalfNormal(1)`` in the units of y), the same standardised data (n = 120) and the same draws
(4 chains x (500 tuning + 500 kept)). For each run the table gives wall and CPU time (PyMC:
sampling only; its compilation is listed separately), the mean number of leapfrog steps
(gradient evaluations) per draw and chain, the median and minimum over test points of the bulk ESS
of ``f(x)``, the median ESS per second without and with PyMC's compile time, the ratio of that to
PyMC's (sampling only), the worst R-hat and the largest distance of the predictive mean from a
long reference run in units of its posterior sd. The first bayesphys row is the default path,
``BayesianNeuralNetwork(method="nuts")`` (``NUTS()``, tree depth <= 10, as PyMC's): the
compiled per-chain NUTS, whose one-time load (or first-run compile) is timed apart like PyMC's
compilation.

Run ``python benchmarks/bnn.py`` (``--quick`` for a smoke test, ``--nuts-only`` to skip the HMC and
SGHMC rows).
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

HIDDEN = 20
N_POINTS = 120


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

    sample_s, sample_cpu, idata = timed(draw)
    xt = (X_test - x_mean) / x_scale
    f = f_pymc(idata, xt, y_mean, y_scale)
    return f, sample_s, sample_cpu, compile_s, mean_steps(idata)


def run_ours(X, y, X_test, method, seed: int):
    """bayesphys fit with an inference object; returns (f draws, wall s, CPU s, steps/draw)."""
    model = BayesianNeuralNetwork(hidden=(HIDDEN,), method=method, random_state=seed)
    wall, cpu, _ = timed(lambda: model.fit(X, y, progressbar=False))
    pp = model.sample_posterior_predictive(X_test, random_state=0)
    return pp.posterior_predictive["f"].values, wall, cpu, mean_steps(model.idata_)


def load_compiled() -> float:
    """Seconds to load bayesphys' compiled NUTS transition and BNN density from numba's disk
    cache (on a machine's first run: to compile them), as the default NUTS path does once per
    process; counted like PyMC's compile time."""

    def load():
        from bayesphys.bnn import _numba_target  # noqa: F401
        from bayesphys.core.samplers._numba_nuts import transitions  # noqa: F401

    wall, _, _ = timed(load)
    return wall


def row(
    name: str,
    f: np.ndarray,
    times: tuple[float, float, float],
    steps: float,
    ref: tuple[np.ndarray, np.ndarray],
    peer: tuple[float, float] | None,
):
    """A table row; ``times`` is (wall, CPU, compile) seconds, ``ref`` the reference mean/sd,
    ``peer`` PyMC's median ESS per wall and per CPU second (sampling only)."""
    wall, cpu, compile_s = times
    ess = np.asarray(results.ess(f))
    rhat = np.asarray(results.rhat(f))
    err = np.max(np.abs(f.mean(axis=(0, 1)) - ref[0]) / ref[1])
    ess_per_s = float(np.median(ess)) / wall
    return [
        name,
        f.shape[0] * f.shape[1],
        wall,
        cpu,
        "-" if np.isnan(steps) else steps,
        float(np.median(ess)),
        float(ess.min()),
        ess_per_s,
        float(np.median(ess)) / (wall + compile_s),
        "-" if peer is None else ess_per_s / peer[0],
        "-" if peer is None else float(np.median(ess)) / cpu / peer[1],
        float(rhat.max()),
        float(err),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: print the machine header and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nuts-only", action="store_true", help="skip the HMC and SGHMC rows")
    args = parser.parse_args(argv)
    import pymc  # noqa: F401  (pymc sets its logger's level on import; quieten it afterwards)

    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    draws, tune = (100, 100) if args.quick else (500, 500)
    X, y = data(N_POINTS, args.seed)
    X_test = np.linspace(-3.5, 3.5, 15)[:, None]

    ref_f, *_ = run_ours(X, y, X_test, HMC(draws=2 * draws, tune=tune, chains=16), args.seed + 100)
    ref = ref_f.mean(axis=(0, 1)), ref_f.std(axis=(0, 1))
    f, sample_s, sample_cpu, compile_s, steps = run_pymc(X, y, X_test, draws, tune, 4, args.seed)
    peer = row("PyMC NUTS, 4 chains", f, (sample_s, sample_cpu, compile_s), steps, ref, None)
    rows = [peer]
    peer_rates = peer[7], peer[5] / sample_cpu
    runs = [
        ("bayesphys nuts default (NUTS(), depth <= 10)", NUTS(draws=draws, tune=tune, chains=4)),
        (
            "bayesphys nuts (tree depth <= 7), 4 chains",
            NUTS(draws=draws, tune=tune, chains=4, max_treedepth=7),
        ),
    ]
    if not args.nuts_only:
        runs += [
            ("bayesphys hmc, 4 chains", HMC(draws=draws, tune=tune, chains=4)),
            ("bayesphys hmc, 16 chains", HMC(draws=draws, tune=tune, chains=16)),
            # default burn-in (2000 steps), draws * 10 steps kept every 10th
            (
                "bayesphys sghmc, 4 chains, batch 16, thin 10",
                SGHMC(draws=draws, chains=4, batch_size=16),
            ),
        ]
    ours_compile_s = load_compiled()
    for name, method in runs:
        f, wall, cpu, steps = run_ours(X, y, X_test, method, args.seed)
        compiled = isinstance(method, NUTS)
        rows.append(
            row(name, f, (wall, cpu, ours_compile_s if compiled else 0.0), steps, ref, peer_rates)
        )

    print(machine_header(("numpy", "torch", "pymc")))
    print(
        "PyMC runs its chains one after another (cores=1); bayesphys NUTS runs each chain's tree "
        "in compiled code, chains on as many threads as there are usable cores (HMC/SGHMC: "
        "chains vectorised in torch on one thread)"
    )
    print(
        f"n={N_POINTS} points, network 1-{HIDDEN}-1 tanh ({3 * HIDDEN + 1} weights + sigma), "
        f"{draws} draws/chain after {tune} tuning steps; ESS of f(x) at 15 test points; "
        f"PyMC compile (model to C, once): {compile_s:.1f} s, not in its wall time; "
        f"bayesphys NUTS compiled code (numba, loaded from its disk cache or compiled): "
        f"{ours_compile_s:.2f} s, not in its wall time; 'ESS/s +compile' adds each's; "
        f"ratio: ESS/s over PyMC's ESS/s (sampling only), ratio CPU: the same per CPU second "
        "(less distorted by other processes' load); "
        f"err: max |mean - reference| / posterior sd (reference: bayesphys hmc, 16 x "
        f"{2 * draws} draws)\n"
    )
    header = [
        "run",
        "draws",
        "wall s",
        "CPU s",
        "steps/draw",
        "ESS med",
        "ESS min",
        "ESS/s",
        "ESS/s +compile",
        "ratio",
        "ratio CPU",
        "max R-hat",
        "err",
    ]
    print(format_table(header, rows))


if __name__ == "__main__":
    main()
