"""Walker-steps per second of VMC: bayesphys (torch) against a plain vectorised numpy version.

System: two electrons in a 2-D harmonic trap (omega = 1) with the Gaussian x Pade-Jastrow trial
function at its optimum (alpha = 0.494, beta = 0.4). Algorithm per step, identical in both
implementations: all-particle Gaussian Metropolis move of every walker, ``ln|psi|^2`` at the
proposal, accept/reject, then the analytic local energy of every walker at its current position.
No Python loop over walkers in either. Both runs report the mean energy as an agreement check
(exact ground state 3.0; this trial function gives ~3.0004).

Rows: numpy; ``bayesphys.vmc`` generic (core ``RandomWalkMetropolis``, then ``local_energy``
factor by factor, i.e. ``Metropolis(fused=False)``); the library's fused step (the default of
``Metropolis`` for this trial function: one pass for move, ratio and closed-form local energy,
same chain as the generic path); the fused step compiled (``Metropolis(compile=True)``); and
both with the next step's random numbers drawn on the second core (``prefetch=True``).

Run ``python benchmarks/vmc.py`` (1e5 walkers) or ``--quick`` (1e4 walkers, fewer steps);
``--threads 1`` pins torch to one thread (numpy's elementwise operations use one). ``--n12``
instead times the N = 12 quantum dot (Slater x Pade-Jastrow) optimised to its reference band.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time

import numpy as np
import torch

from bayesphys import vmc
from bayesphys.vmc.samplers import Walkers

ALPHA, BETA, STEP = 0.494, 0.4, 1.0


def numpy_vmc(n_walkers: int, n_steps: int, burn_in: int, seed: int) -> tuple[float, ...]:
    """Plain numpy Metropolis VMC; returns wall and CPU seconds for n_steps, mean energy."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n_walkers, 2, 2))

    def log_p(R):
        r12 = np.linalg.norm(R[:, 0] - R[:, 1], axis=-1)
        return 2.0 * (-ALPHA * np.sum(R * R, axis=(1, 2)) + r12 / (1.0 + BETA * r12))

    def local_energy(R):
        diff = R[:, 0] - R[:, 1]
        r = np.linalg.norm(diff, axis=-1)
        denom = 1.0 + BETA * r
        du, d2u = 1.0 / denom**2, -2.0 * BETA / denom**3
        pull = (du / r)[:, None] * diff
        g0 = -2.0 * ALPHA * R[:, 0] + pull
        g1 = -2.0 * ALPHA * R[:, 1] - pull
        lap = -2.0 * ALPHA * 4 + 2.0 * (d2u + du / r)
        kinetic = -0.5 * (lap + np.sum(g0 * g0, -1) + np.sum(g1 * g1, -1))
        return kinetic + 0.5 * np.sum(R * R, axis=(1, 2)) + 1.0 / r

    lp = log_p(R)
    total, start, cpu = 0.0, 0.0, 0.0
    for t in range(burn_in + n_steps):
        if t == burn_in:
            start, cpu = time.perf_counter(), time.process_time()
        proposal = R + STEP * rng.standard_normal(R.shape)
        lp_new = log_p(proposal)
        accept = np.log(rng.random(n_walkers)) < lp_new - lp
        R = np.where(accept[:, None, None], proposal, R)
        lp = np.where(accept, lp_new, lp)
        e = local_energy(R)
        if t >= burn_in:
            total += e.mean()
    return time.perf_counter() - start, time.process_time() - cpu, total / n_steps


def torch_vmc(
    n_walkers: int,
    n_steps: int,
    burn_in: int,
    seed: int,
    *,
    fused: bool,
    compile: bool = False,
    prefetch: bool = False,
) -> tuple[float, ...]:
    """The same algorithm with bayesphys.vmc as users run it: ``Walkers.step_with_energy``.

    ``fused=False`` is the generic path (core ``RandomWalkMetropolis``, then ``local_energy``
    factor by factor); ``fused=True`` is the library's fused step (``Metropolis`` default),
    optionally compiled and with the random numbers of the next step drawn on a second thread
    (``prefetch``). The burn-in steps absorb the compilation (not timed).
    """
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(ALPHA, "pade", beta=BETA).requires_grad_(False)
    sampler = vmc.Metropolis(STEP, adapt=False, fused=fused, compile=compile, prefetch=prefetch)
    walkers = Walkers(wf, system, sampler, n_walkers, torch.Generator().manual_seed(seed))
    total, start, cpu = 0.0, 0.0, 0.0
    with torch.no_grad(), walkers.prefetching():
        for t in range(burn_in + n_steps):
            if t == burn_in:
                start, cpu = time.perf_counter(), time.process_time()
            _, e = walkers.step_with_energy()
            if t >= burn_in:
                total += float(e.total.mean())
    return time.perf_counter() - start, time.process_time() - cpu, total / n_steps


def n12_dot(seed: int = 1) -> None:
    """Optimise the N = 12 dot (Slater x Pade-Jastrow, SR) and estimate its energy; print times.

    The issue's target: inside the reference band 65.70-65.80 (DMC 65.7001) in under 10 minutes
    on 2 cores. Settings are those of the slow test ``tests/vmc/test_slater.py``.
    """
    band, dmc = (65.70, 65.80), 65.7001
    system = vmc.QuantumDot(12)
    start_wf = vmc.SlaterJastrow(12, alpha=0.45, beta=0.5)
    load = os.getloadavg()
    print(f"N = 12 dot, omega = 1; load average {load[0]:.1f} / {load[1]:.1f} (1 / 5 min)")
    t0 = time.perf_counter()
    fit = vmc.optimize(start_wf, system, vmc.Metropolis(), "sr", 50, 1000, learning_rate=0.2,
                       random_state=seed, progressbar=False)  # fmt: skip
    t1 = time.perf_counter()
    est = vmc.estimate(
        fit.wavefunction, system, vmc.Langevin(0.05), 1000, 400, 100, random_state=seed + 1,
        progressbar=False,
    )  # fmt: skip
    t2 = time.perf_counter()
    inside = band[0] - 3 * est.stderr < est.energy < band[1] + 3 * est.stderr
    print(f"optimise (SR, 50 x 1000 walkers x 10 steps): {t1 - t0:7.1f} s")
    print(f"estimate (Langevin, 1000 walkers x 400 steps): {t2 - t1:7.1f} s")
    print(f"total wall time: {t2 - t0:.1f} s ({(t2 - t0) / 60:.2f} min; target < 10 min)")
    print(f"E = {est.energy:.4f} +- {est.stderr:.4f} (variance {est.variance:.3f}); band "
          f"{band[0]}-{band[1]}: {'inside' if inside else 'OUTSIDE'}; DMC {dmc}")  # fmt: skip
    print(f"parameters: {fit.wavefunction.parameter_dict()}; load now {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the implementations interleaved and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e4 walkers, 20 steps")
    parser.add_argument("--walkers", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--n12", action="store_true", help="time the N = 12 dot instead")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    if args.n12:
        n12_dot(args.seed + 1)
        return
    n_walkers = args.walkers or (10_000 if args.quick else 100_000)
    n_steps = args.steps or (20 if args.quick else 50)
    burn_in = 5
    print(f"two electrons, 2-D, Pade-Jastrow; {n_walkers} walkers x {n_steps} steps, best of "
          f"{args.repeats} (interleaved); load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    runners = {
        "numpy (plain, vectorised)": numpy_vmc,
        "bayesphys.vmc generic": functools.partial(torch_vmc, fused=False),
        "bayesphys.vmc fused": functools.partial(torch_vmc, fused=True),
    }
    runners["bayesphys.vmc fused+prefetch"] = functools.partial(
        torch_vmc, fused=True, prefetch=True
    )
    if not args.no_compile:
        runners["bayesphys.vmc fused+compile"] = functools.partial(
            torch_vmc, fused=True, compile=True
        )
        runners["bayesphys.vmc fused+compile+prefetch"] = functools.partial(
            torch_vmc, fused=True, compile=True, prefetch=True
        )
    runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in runners}
    # Interleaved repeats: on a shared machine the load drifts; every row sees the same drift.
    for k in range(args.repeats):
        for name, run in runners.items():
            runs[name].append(run(n_walkers, n_steps, burn_in, args.seed + k))
    work = n_walkers * n_steps
    wall = {name: work / min(r[0] for r in rs) for name, rs in runs.items()}
    cpu = {name: work / min(r[1] for r in rs) for name, rs in runs.items()}
    base = "numpy (plain, vectorised)"
    print(f"{'implementation':38s} {'walker-steps/s':>15s} {'speed-up':>9s} {'CPU-time':>9s} "
          f"{'<E_L>':>9s}")  # fmt: skip
    print("-" * 84)
    for name in runners:
        print(f"{name:38s} {wall[name]:15.3e} {wall[name] / wall[base]:9.2f} "
              f"{cpu[name] / cpu[base]:9.2f} {runs[name][0][2]:9.5f}")  # fmt: skip
    print(
        "\nwalker-steps/s and speed-up from wall time (best of the repeats); CPU-time: the "
        "speed-up in process CPU time, less sensitive to other jobs on the machine"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
