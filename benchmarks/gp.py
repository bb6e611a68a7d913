"""Timing and agreement benchmark for ``GPRegression`` against scikit-learn.

Table (a): exact GP regression with an ARD RBF kernel plus Gaussian noise, fitted by maximum
marginal likelihood (type-II; ``GPRegression`` with flat priors, so both codes maximise the same
objective) on the same data, at n = 1000, 2000, 4000: fit time (wall and CPU), log marginal
likelihood per point and the time ratio. scikit-learn runs with its defaults (L-BFGS-B from the
kernel's initial values, ``n_restarts_optimizer=0``); bayesphys with its defaults (one
full-data L-BFGS-B start, from a 500-point subset fit for n >= 1000). Table (b): sparse fits at
n = 50 000 (SGPR with learned inducing inputs, and minibatch SVGP) and an exact fit on a
2000-point subset, with their test RMSE against the noise-free function.

Table (c), with ``--nuts`` (instead of (a) and (b)): NUTS over the hyperparameters against PyMC
(``pm.sample`` on a ``pm.gp.Marginal`` model with the same priors, chains and draws), on the
default path of both (``GPRegression(method=NUTS(...))``; PyMC with one chain per usable core,
``cores=min(chains, usable cores)``: its own default, ``cpu_count // 2``, would run the chains
one after another on a 2-core machine; the CPU column counts PyMC's chain processes, so read it
where the two codes use the cores differently): a small
posteriordb-style problem (11 points on a 1-d grid, RBF kernel, Gamma lengthscale, HalfNormal
outputscale and noise, 4 x (1000 + 2500)) and one parity class of the nuclear-mass residuals
(500 even-even S2n residuals of FRDM95 against AME2020, ARD RBF over (Z, N), log-normal priors).
It prints wall seconds (PyMC's with and without its model compilation), the smallest bulk ESS
over the hyperparameters (ArviZ, the same call for both), ESS per second and the ratio.
PyTensor is linked against SciPy's OpenBLAS for PyMC's compiled BLAS ops (``link_pytensor_blas``;
the header says what it uses), as a BLAS-equipped PyMC installation would be.

Run ``python benchmarks/gp.py`` (or ``--quick`` for a smoke test with small sizes), and
``python benchmarks/gp.py --nuts [--quick]`` for table (c).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _common import format_table, machine_header, timed, usable_cores
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process import kernels as sk
from threadpoolctl import threadpool_limits  # ships with scikit-learn

from bayesphys import results
from bayesphys.core.priors import Gamma, HalfNormal, LogNormal
from bayesphys.gp import GPRegression
from bayesphys.inference import NUTS, SGPR, SVGP

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


def link_pytensor_blas() -> str:
    """Point PyTensor (PyMC's compiler) at SciPy's OpenBLAS; call before PyTensor is imported.

    PyTensor compiles its BLAS ops (matrix products, gemv, ger) against a BLAS it finds on the
    system; a pip-installed stack has none it recognises, so it falls back to calls through
    NumPy's C API ("Using NumPy C-API based implementation for BLAS functions"). NumPy's own
    OpenBLAS is the ILP64 build (64-bit integers, symbols ``scipy_dgemm_64_``), which
    PyTensor's 32-bit-integer calls cannot use; SciPy's wheel carries the LP64 build of the
    same library (symbols ``scipy_dgemm_``, ...). PyTensor links that one here, its Fortran
    names (``dgemm_``) mapped to the prefixed ones by preprocessor macros. A ``blas__ldflags``
    or ``gcc__cxxflags`` already in ``PYTENSOR_FLAGS`` is left as it is.

    Returns
    -------
    str
        What PyTensor will link (for the header).
    """
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "pytensor" in sys.modules or "blas__ldflags" in flags or "gcc__cxxflags" in flags:
        return "as configured (PYTENSOR_FLAGS or already imported)"
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS, so threadpoolctl lists it)
    from threadpoolctl import threadpool_info

    spec = importlib.util.find_spec("pytensor")
    if spec is None or not spec.submodule_search_locations:
        return "pytensor not installed"
    # The Fortran BLAS names PyTensor's compiled code declares (and may call).
    header = Path(spec.submodule_search_locations[0], "tensor", "blas_headers.py").read_text()
    names = sorted(set(re.findall(r"\b([sdcz][a-z0-9]+_)\s*\(", header)))
    for info in threadpool_info():
        path = Path(info.get("filepath", ""))
        if info.get("internal_api") != "openblas" or not path.name.startswith("lib"):
            continue
        library = ctypes.CDLL(str(path))
        for prefix in ("", "scipy_"):  # a plain OpenBLAS, or SciPy's prefixed LP64 build
            if not hasattr(library, f"{prefix}dgemm_"):
                continue
            link = f"-L{path.parent} -l{path.name[3:].split('.so')[0]}"
            link += f" -Xlinker -rpath -Xlinker {path.parent}"  # PYTENSOR_FLAGS splits on ","
            macros = " ".join(
                f"-D{name}={prefix}{name}" for name in names if hasattr(library, prefix + name)
            )
            extra = f",gcc__cxxflags={macros}" if prefix else ""
            os.environ["PYTENSOR_FLAGS"] = f"{flags},blas__ldflags={link}{extra}".lstrip(",")
            symbols = f", symbols {prefix}*" if prefix else ""
            return f"{path.name} (OpenBLAS {info.get('version')}, LP64{symbols})"
    return "none found (PyTensor falls back to NumPy C-API calls)"


def pytensor_blas_in_use() -> str:
    """The ``blas__ldflags`` PyTensor runs with (imports it)."""
    import warnings

    import pytensor

    with warnings.catch_warnings():  # reading the flag warns when no BLAS is linked; we say so
        warnings.simplefilter("ignore", UserWarning)
        return pytensor.config.blas__ldflags or "none (NumPy C-API fallback)"


def small_problem(seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """11 points on a grid (posteriordb's gp_pois_regr inputs), y from a smooth curve plus noise,
    with the priors of posteriordb's gp_regr: Gamma(25, 4) lengthscale, half-normal signal and
    noise (here on the outputscale, the signal variance, and on the noise sd)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-10.0, 10.0, 11)
    y = 3.0 * np.sin(x / 3.0) + 0.5 * rng.normal(size=11)
    priors = {"lengthscale": Gamma(25.0, 4.0), "outputscale": HalfNormal(2.0)}
    return x[:, None], y, {"priors": priors, "noise": HalfNormal(1.0)}


def parity_class_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``n`` even-even nuclei: S2n residuals of FRDM95 against AME2020 over (Z, N), with
    log-normal priors as GPRegression's defaults (centred on the data's scales)."""
    from bayesphys.bma._residuals import observable_table, parity_class
    from bayesphys.data import masses

    exp = observable_table(masses.load_ame(2020), "S2n", "AME2020")
    model = observable_table(masses.load_model("FRDM95", warn=False), "S2n", "FRDM95")
    both = exp.merge(model, on=["Z", "N"], suffixes=("_exp", "_model"))
    both = both[parity_class(both["Z"], both["N"]) == "ee"]
    rows = np.sort(np.random.default_rng(seed).choice(len(both), n, replace=False))
    both = both.iloc[rows]
    X = both[["Z", "N"]].to_numpy(float)
    y = (both["value_exp"] - both["value_model"]).to_numpy()
    rms = float(np.sqrt(np.mean(y**2)))
    priors = {
        "lengthscale": LogNormal(np.log(X.std(0)), 1.5),
        "outputscale": LogNormal(float(np.log(rms**2)), 1.5),
    }
    return X, y, {"priors": priors, "noise": LogNormal(float(np.log(0.1 * rms)), 2.0)}


def _pymc_prior(pm, name: str, prior, shape=None):
    kw = {} if shape is None else {"shape": shape}
    if isinstance(prior, Gamma):
        return pm.Gamma(name, alpha=prior.alpha, beta=prior.beta, **kw)
    if isinstance(prior, HalfNormal):
        return pm.HalfNormal(name, sigma=prior.sigma, **kw)
    return pm.LogNormal(name, mu=np.asarray(prior.mu), sigma=prior.sigma, **kw)


def run_pymc_gp(X, y, spec, draws: int, tune: int, chains: int, seed: int):
    """``pm.sample`` of the marginal GP, one chain per usable core; returns (wall s incl.
    compile, CPU s of this process, sampling s, min ESS, leapfrog steps per draw)."""
    import pymc as pm

    def run():
        with pm.Model():
            p = X.shape[1]
            priors = spec["priors"]
            ls = _pymc_prior(pm, "lengthscale", priors["lengthscale"], p if p > 1 else None)
            scale = _pymc_prior(pm, "outputscale", priors["outputscale"])
            noise = _pymc_prior(pm, "noise", spec["noise"])
            gp = pm.gp.Marginal(cov_func=scale * pm.gp.cov.ExpQuad(p, ls=ls))
            gp.marginal_likelihood("y", X=X, y=y, sigma=noise)
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=min(chains, usable_cores()),
                random_seed=seed,
                progressbar=False,
                compute_convergence_checks=False,
            )

    children = os.times()
    wall, cpu, idata = timed(run)
    after = os.times()  # PyMC's parallel chains run in child processes, joined by now
    cpu += (after.children_user - children.children_user) + (
        after.children_system - children.children_system
    )
    sampling = float(idata.sample_stats.attrs["sampling_time"])
    steps = float(idata.sample_stats["n_steps"].values.mean())
    return wall, cpu, sampling, _min_ess(idata), steps


def run_ours_gp(X, y, spec, draws: int, tune: int, chains: int, seed: int):
    """``GPRegression(method=NUTS(...))`` on its defaults; returns (wall s, CPU s, min ESS,
    leapfrog steps per draw)."""
    gp = GPRegression(method=NUTS(draws=draws, tune=tune, chains=chains), random_state=seed, **spec)
    wall, cpu, gp = timed(lambda: gp.fit(X, y, progressbar=False))
    steps = float(gp.idata_.sample_stats["n_steps"].values.mean())
    return wall, cpu, _min_ess(gp.idata_), steps


def _min_ess(idata) -> float:
    names = ["lengthscale", "outputscale", "noise"]
    return float(results.ess(idata, var_names=names).to_array().values.min())


def bench_nuts(problems, seed: int) -> str:
    rows = []
    nan = float("nan")
    for label, (X, y, spec), (chains, tune, draws) in problems:
        setting = f"{label}, {chains} x ({tune} + {draws})"
        pm_wall, pm_cpu, pm_sampling, pm_ess, pm_steps = run_pymc_gp(
            X, y, spec, draws, tune, chains, seed
        )
        wall, cpu, ess, steps = run_ours_gp(X, y, spec, draws, tune, chains, seed)
        pm_rate, pm_rate_sampling, ours = pm_ess / pm_wall, pm_ess / pm_sampling, ess / wall
        pm_compile = pm_wall - pm_sampling
        pm_row = [pm_wall, pm_compile, pm_cpu, pm_ess, pm_steps, pm_rate, pm_rate_sampling]
        rows.append([f"{setting}: PyMC", *pm_row, nan, nan])
        ours_row = [wall, 0.0, cpu, ess, steps, ours, ours, ours / pm_rate, ours / pm_rate_sampling]
        rows.append([f"{setting}: bayesphys", *ours_row])
    header = [
        "run",
        "wall s",
        "compile s",
        "CPU s",
        "min ESS",
        "steps/draw",
        "ESS/s",
        "ESS/s excl. compile",
        "ratio",
        "ratio excl. compile",
    ]
    return (
        "(c) NUTS over the GP hyperparameters: bulk ESS (smallest over the hyperparameters) per "
        "wall second; PyMC's wall includes its compilation (pm.sample's total minus its "
        "sampling_time; PyMC runs min(chains, usable cores) chains at once); CPU s: this "
        "process and PyMC's chain processes; ratio: bayesphys' ESS/s "
        "over PyMC's, with and without PyMC's compilation\n" + format_table(header, rows)
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
    parser.add_argument(
        "--nuts", action="store_true", help="table (c): NUTS against PyMC instead of (a), (b)"
    )
    parser.add_argument(
        "--nuts-large",
        type=int,
        nargs=3,
        default=(2, 150, 150),
        metavar=("CHAINS", "TUNE", "DRAWS"),
        help="NUTS settings of the n = 500 problem (both libraries; the default keeps the run "
        "within minutes, PyMC taking most of them)",
    )
    args = parser.parse_args(argv)
    threads = args.threads or None
    if args.nuts:
        linked = link_pytensor_blas()  # before PyMC imports PyTensor
        print(machine_header(("numpy", "scipy", "torch", "pymc", "pytensor")))
        print(f"BLAS threads: {threads or 'library defaults'}")
        print(f"PyTensor BLAS: {linked}; blas__ldflags: {pytensor_blas_in_use()}\n", flush=True)
        small = (2, 200, 300) if args.quick else (4, 1000, 2500)
        large = (2, 100, 100) if args.quick else tuple(args.nuts_large)
        n_large = 200 if args.quick else 500
        problems = [
            ("n = 11, RBF", small_problem(args.seed), small),
            (f"n = {n_large}, ee class, ARD RBF", parity_class_problem(n_large, args.seed), large),
        ]
        with threadpool_limits(limits=threads):
            print(bench_nuts(problems, args.seed))
        return
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
