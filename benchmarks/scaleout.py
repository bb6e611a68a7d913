"""Wall time of distributed work in-process against 1 and 2 Dask workers, side by side.

Each scenario runs the same computation with ``client=None`` and on local clusters of 1 and 2
worker processes (one thread each), checks that every run gives the same numbers, and prints the
best time of ``--repeats`` runs. Worker start-up and the package import in the workers are timed
apart (``start s``) and excluded, as is one untimed warm-up run per mode (first-call costs).
Run ``python benchmarks/scaleout.py`` (``--quick``: smaller problems). Needs
``pip install 'bayesphys[distributed]'``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from bayesphys.core.distributed import open_client

WORKER_COUNTS = (1, 2)


@dataclass(frozen=True)
class Scenario:
    """A benchmark row: ``run(client)`` does the work and returns numbers to compare."""

    name: str
    size: str
    run: Callable[[object], np.ndarray]
    work: int | None = None  # units of work per run (walker-steps) for a rate column
    iterations: int | None = None  # optimisation iterations per run, for a ms/iteration column


def bma_scenario(quick: bool) -> Scenario:
    """Fit, validate and predict with ``MassModelAveraging`` (one task per model and class)."""
    from bayesphys.bma import MassModelAveraging
    from bayesphys.data.masses import load_ame, new_measurements

    models = ["FRDM95", "DUZU"] if quick else ["FRDM95", "HFB14", "HFB26", "KTUY05", "DUZU"]
    z_max = 40 if quick else 100
    train = load_ame(2003).query(f"8 <= Z <= {z_max}")
    test = new_measurements(2003, 2020, "S2n", z_range=(8, z_max))

    def run(client) -> np.ndarray:
        bma = MassModelAveraging(models, weights="predictive", random_state=0)
        bma.fit(train, test, client=client)
        pred = bma.predict(test, client=client)
        return np.concatenate([bma.weights_.to_numpy(), pred["bma_mean"].to_numpy()])

    size = f"{len(models)} models x 4 classes, Z <= {z_max}, {len(train)} nuclei"
    return Scenario("BMA fit + predict (MAP)", size, run)


def vmc_scenario(quick: bool) -> Scenario:
    """``vmc.estimate`` of a 2-d two-electron Coulomb dot, walkers split into groups (tasks).

    The number of walker groups is fixed (not the number of workers), so every mode computes
    exactly the same chains; ``rate`` converts the best time into walker-steps per second.
    """
    from bayesphys import vmc

    walkers, steps, burn_in, groups = (2000, 200, 50, 4) if quick else (8000, 1000, 200, 8)
    wf = vmc.GaussianJastrow(0.9, "pade", beta=0.4)
    system = vmc.HarmonicTrap(2, 2, interaction="coulomb")

    def run(client) -> np.ndarray:
        est = vmc.estimate(
            wf, system, vmc.Metropolis(1.0), walkers, steps, burn_in, random_state=0,
            progressbar=False, walker_groups=groups, client=client,
        )  # fmt: skip
        return np.array([est.energy, est.stderr, est.kinetic, est.r12, est.acceptance])

    size = f"{walkers} walkers x {steps + burn_in} steps in {groups} groups"
    return Scenario("VMC estimate", size, run, work=walkers * (steps + burn_in))


def gp_nuts_scenario(quick: bool) -> Scenario:
    """``GPRegression(method=NUTS(...))`` with one chain group per chain (a task each)."""
    from bayesphys.gp import GPRegression
    from bayesphys.inference import NUTS
    from bayesphys.priors import LogNormal

    n, chains, tune, draws = (200, 2, 50, 50) if quick else (400, 2, 100, 100)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 5.0, size=(n, 2))
    y = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.1 * rng.normal(size=n)
    priors = {"lengthscale": LogNormal(0.0, 1.0), "outputscale": LogNormal(0.0, 1.0)}

    def run(client) -> np.ndarray:
        method = NUTS(chains=chains, tune=tune, draws=draws, chain_groups=chains)
        gp = GPRegression(
            priors=priors, noise=LogNormal(-2.0, 1.0), method=method, random_state=0
        ).fit(X, y, progressbar=False, client=client)
        return np.concatenate([v.values.ravel() for v in gp.idata_.posterior.values()])

    size = f"n = {n}, 2-d ARD RBF, {chains} chains x ({tune} tune + {draws} draws)"
    return Scenario("GP NUTS", size, run)


def _optimize_run(walkers: int, steps: int, iterations: int, groups: int, burn_in: int):
    from bayesphys import vmc

    wf = vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    system = vmc.HarmonicTrap(2, 2, interaction="coulomb")

    def run(client) -> np.ndarray:
        res = vmc.optimize(
            wf, system, vmc.Metropolis(1.0), "sr", iterations, walkers, learning_rate=0.3,
            random_state=0, steps_per_iteration=steps, burn_in=burn_in, progressbar=False,
            walker_groups=groups, client=client,
        )  # fmt: skip
        return res.history[["energy", "stderr", "factors.0.alpha"]].to_numpy().ravel()

    return run


def vmc_optimize_scenario(quick: bool) -> Scenario:
    """``vmc.optimize`` (SR) with walker groups resident on the workers: sums per iteration."""
    walkers, steps, iterations, groups = (2000, 10, 20, 4) if quick else (8000, 20, 40, 8)
    run = _optimize_run(walkers, steps, iterations, groups, burn_in=50)
    size = f"{walkers} walkers, {iterations} iterations x {steps} steps, {groups} groups"
    return Scenario("VMC optimize", size, run, walkers * steps * iterations, iterations)


def vmc_overhead_scenario(quick: bool) -> Scenario:
    """Almost no work per iteration (4 groups of 5 walkers, one step): the cost of a round trip
    (parameters out, sums back) per iteration."""
    iterations = 50 if quick else 100
    run = _optimize_run(20, 1, iterations, 4, burn_in=5)
    return Scenario("VMC optimize overhead", f"20 walkers, {iterations} iterations x 1 step, "
                    "4 groups", run, iterations=iterations)  # fmt: skip


# One entry per distributed entry point; each adds a row to the table.
SCENARIOS: dict[str, Callable[[bool], Scenario]] = {
    "bma": bma_scenario,
    "gp-nuts": gp_nuts_scenario,
    "vmc": vmc_scenario,
    "vmc-optimize": vmc_optimize_scenario,
    "vmc-overhead": vmc_overhead_scenario,
}


def best_time(scenario: Scenario, client, repeats: int) -> tuple[float, np.ndarray]:
    result = scenario.run(client)  # warm-up: imports, first-call compilation, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = scenario.run(client)
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(scenario: Scenario, repeats: int) -> dict:
    row = {"scenario": scenario.name, "size": scenario.size}
    row["in-process s"], reference = best_time(scenario, None, repeats)
    same = True
    for n in WORKER_COUNTS:
        start = time.perf_counter()
        with open_client(workers=n) as client:
            client.run(__import__, "bayesphys")
            row[f"start {n}w s"] = time.perf_counter() - start
            row[f"{n} worker{'s' if n > 1 else ''} s"], result = best_time(
                scenario, client, repeats
            )
        same &= bool(np.allclose(result, reference, rtol=1e-12, atol=0, equal_nan=True))
    row["speed-up 2w"] = row["in-process s"] / row["2 workers s"]
    if scenario.work is not None:
        # Walker-steps per second (in millions), in-process / 1 worker / 2 workers.
        modes = ["in-process s", "1 worker s", "2 workers s"]
        row["Mwalker-steps/s"] = " / ".join(f"{scenario.work / row[m] / 1e6:.2f}" for m in modes)
    if scenario.iterations is not None:
        modes = ["in-process s", "1 worker s", "2 workers s"]
        row["ms/iteration"] = " / ".join(f"{1e3 * row[m] / scenario.iterations:.1f}" for m in modes)
    row["same result"] = "yes" if same else "NO"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems (~2 min)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per mode (best)")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SCENARIOS), default=None, help="scenarios to run"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in each worker: the columns differ only in the distribution
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average: {load:.1f}, torch {torch.__version__}")
    rows = [measure(SCENARIOS[key](args.quick), args.repeats) for key in args.only or SCENARIOS]
    table = pd.DataFrame(rows).set_index("scenario")
    print(table.drop(columns="size").to_string(float_format=lambda v: f"{v:.2f}"))
    for name, size in table["size"].items():
        print(f"{name}: {size}")


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
