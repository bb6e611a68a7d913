"""Timing and agreement benchmark for ``GPRegression`` against scikit-learn.

Table (a): exact GP regression with an ARD RBF kernel plus Gaussian noise, fitted by maximum
marginal likelihood (type-II; ``GPRegression`` with flat priors, so both codes maximise the same
objective) on the same data, at n = 1000, 2000, 4000: fit time (wall and CPU), log marginal
likelihood per point and the time ratio. scikit-learn runs with its defaults (L-BFGS-B from the
kernel's initial values, ``n_restarts_optimizer=0``); bayesphys with its defaults (one
full-data L-BFGS-B start, from a 500-point subset fit for n >= 1000). Table (b): sparse fits at
n = 50 000 (SGPR with learned inducing inputs, and minibatch SVGP) and an exact fit on a
2000-point subset, with their test RMSE against the noise-free function.

Run ``python benchmarks/gp.py`` (or ``--quick`` for a smoke test with small sizes).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
from _common import format_table, machine_header, timed
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process import kernels as sk
from threadpoolctl import threadpool_limits  # ships with scikit-learn

from bayesphys.gp import GPRegression
from bayesphys.inference import SGPR, SVGP

P = 3  # input features
NOISE = 0.1
FLAT = {"lengthscale": None, "outputscale": None, "noise": None}


def truth(X: np.ndarray) -> np.ndarray:
    """A smooth test function in which the third feature matters little (ARD has work to do)."""
    return np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 1] + 0.05 * X[:, 2] ** 2


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, P))
    return X, truth(X) + NOISE * rng.normal(size=n)


def bench_exact(sizes: Sequence[int], seed: int, threads: int | None) -> str:
    rows = []
    for n in sizes:
        X, y = synthetic(n, seed)
        kernel = sk.ConstantKernel(1.0, (1e-5, 1e5)) * sk.RBF(np.ones(P), (1e-5, 1e5))
        kernel = kernel + sk.WhiteKernel(0.1, (1e-10, 1e5))
        t_sk, c_sk, ref = timed(
            lambda X=X, y=y, kernel=kernel: GaussianProcessRegressor(kernel, random_state=seed).fit(
                X, y
            )
        )
        t_bp, c_bp, gp = timed(
            lambda X=X, y=y: GPRegression(priors=FLAT, random_state=seed, num_threads=threads).fit(
                X, y
            )
        )
        rows.append(
            [
                str(n),
                t_sk,
                t_bp,
                t_bp / t_sk,
                c_bp / c_sk,
                ref.log_marginal_likelihood_value_ / n,
                gp.log_marginal_likelihood_ / n,
                # Signed, in scientific notation: equal optima differ by ~1e-7.
                f"{gp.log_marginal_likelihood_ - ref.log_marginal_likelihood_value_:+.1e}",
            ]
        )
    header = [
        "n",
        "sklearn s",
        "bayesphys s",
        "time ratio",
        "CPU ratio",
        "sklearn LML/n",
        "bayesphys LML/n",
        "LML diff",
    ]
    title = (
        f"(a) exact GP, ARD RBF + noise, p = {P}, type-II maximum likelihood, one full-data start "
        "each (LML diff > 0: bayesphys found a higher optimum)\n"
    )
    return title + format_table(header, rows)


def bench_sparse(n: int, n_subset: int, seed: int, threads: int | None) -> str:
    X, y = synthetic(n, seed)
    X_test, _ = synthetic(2000, seed + 1)
    f_test = truth(X_test)
    fits = {"SGPR": SGPR(), "SVGP": SVGP()}
    rows = []
    for name, method in fits.items():
        wall, cpu, gp = timed(
            lambda method=method: GPRegression(
                method=method, random_state=seed, num_threads=threads
            ).fit(X, y, progressbar=False)
        )
        rmse = float(np.sqrt(np.mean((gp.predict(X_test) - f_test) ** 2)))
        m = len(gp.inducing_points_)
        label = f"{name}, n = {n}, m = {m}"
        rows.append([label, wall, cpu, rmse, gp.log_marginal_likelihood_ / n])
    wall, cpu, exact = timed(
        lambda: GPRegression(random_state=seed, num_threads=threads).fit(X[:n_subset], y[:n_subset])
    )
    rmse = float(np.sqrt(np.mean((exact.predict(X_test) - f_test) ** 2)))
    rows.append([f"exact MAP, n = {n_subset} subset", wall, cpu, rmse, float("nan")])
    return (
        "(b) sparse GPs at large n (test RMSE against the noise-free truth; bound/n: the "
        "collapsed bound or ELBO per point)\n"
        + format_table(["fit", "time s", "CPU s", "test RMSE", "bound/n"], rows)
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: print the machine header and both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for both libraries (numpy BLAS for scikit-learn, torch for bayesphys); "
        "0 leaves both at their defaults",
    )
    args = parser.parse_args(argv)
    threads = args.threads or None
    sizes, sparse = (
        ((200, 400), (5000, 400)) if args.quick else ((1000, 2000, 4000), (50_000, 2000))
    )
    print(machine_header(("numpy", "scipy", "scikit-learn", "torch")))
    print(f"threads per library: {threads or 'library defaults'}\n", flush=True)
    with threadpool_limits(limits=threads):
        # Warm-up: first-call costs (imports, kernel set-up) are not fit time, for either code.
        X, y = synthetic(50, args.seed)
        GaussianProcessRegressor(sk.RBF(np.ones(P)) + sk.WhiteKernel()).fit(X, y)
        GPRegression(priors=FLAT, random_state=0).fit(X, y)
        print(bench_exact(sizes, args.seed, threads), end="\n\n", flush=True)
        print(bench_sparse(*sparse, seed=args.seed, threads=threads))


if __name__ == "__main__":
    main()
