"""Walker-steps per second of VMC: bayesphys (torch) against a plain vectorised numpy version.

System: two electrons in a 2-D harmonic trap (omega = 1) with the Gaussian x Pade-Jastrow trial
function at its optimum (alpha = 0.494, beta = 0.4). Algorithm per step, identical in both
implementations: all-particle Gaussian Metropolis move of every walker, ``ln|psi|^2`` at the
proposal, accept/reject, then the analytic local energy of every walker at its current position.
No Python loop over walkers in either. Both runs report the mean energy as an agreement check
(exact ground state 3.0; this trial function gives ~3.0004).

Rows: numpy; bayesphys.vmc as users call it (core kernel + ``local_energy``); and the same
library pieces fused into one step by ``torch.compile``.

Run ``python benchmarks/vmc.py`` (1e5 walkers) or ``--quick`` (1e4 walkers, fewer steps);
``--threads 1`` pins torch to one thread (numpy's elementwise operations use one).
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


def numpy_vmc(n_walkers: int, n_steps: int, burn_in: int, seed: int) -> tuple[float, float]:
    """Plain numpy Metropolis VMC; returns (seconds for n_steps, mean local energy)."""
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
    total, start = 0.0, 0.0
    for t in range(burn_in + n_steps):
        if t == burn_in:
            start = time.perf_counter()
        proposal = R + STEP * rng.standard_normal(R.shape)
        lp_new = log_p(proposal)
        accept = np.log(rng.random(n_walkers)) < lp_new - lp
        R = np.where(accept[:, None, None], proposal, R)
        lp = np.where(accept, lp_new, lp)
        e = local_energy(R)
        if t >= burn_in:
            total += e.mean()
    return time.perf_counter() - start, total / n_steps


def torch_vmc(n_walkers: int, n_steps: int, burn_in: int, seed: int) -> tuple[float, float]:
    """The same algorithm with bayesphys.vmc (core RandomWalkMetropolis + analytic E_L)."""
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(ALPHA, "pade", beta=BETA).requires_grad_(False)
    walkers = Walkers(wf, system, vmc.Metropolis(STEP, adapt=False), n_walkers,
                      torch.Generator().manual_seed(seed))  # fmt: skip
    total, start = 0.0, 0.0
    with torch.no_grad():
        for t in range(burn_in + n_steps):
            if t == burn_in:
                start = time.perf_counter()
            walkers.step()
            e = vmc.local_energy(wf, system, walkers.positions).total
            if t >= burn_in:
                total += float(e.mean())
    return time.perf_counter() - start, total / n_steps


@functools.cache
def _fused_step():
    """Compiled once and reused by every repeat (compilation takes tens of seconds)."""
    system = vmc.HarmonicTrap(2, 2, 1.0, "coulomb")
    wf = vmc.GaussianJastrow(ALPHA, "pade", beta=BETA).requires_grad_(False)

    def step(R, lp, noise, log_u):
        proposal = R + STEP * noise
        lp_new = 2.0 * wf.log_psi(proposal)
        accept = log_u < lp_new - lp
        R = torch.where(accept[:, None, None], proposal, R)
        lp = torch.where(accept, lp_new, lp)
        grad, lap = wf.grad_lap(R)
        energy = -0.5 * (lap + (grad * grad).sum((-1, -2))) + system.potential(R)
        return R, lp, energy

    return wf, torch.compile(step, dynamic=False)


def compiled_vmc(n_walkers: int, n_steps: int, burn_in: int, seed: int) -> tuple[float, float]:
    """One step (move, accept, local energy) from the same bayesphys pieces, fused by
    ``torch.compile`` into a few C++ loops; random numbers still come from a seeded generator.
    The burn-in steps also absorb the compilation (tens of seconds, not timed)."""
    wf, fused = _fused_step()
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(n_walkers, 2, 2, generator=g, dtype=torch.float64)
    total, start = 0.0, 0.0
    with torch.no_grad():
        lp = 2.0 * wf.log_psi(R)
        for t in range(burn_in + n_steps):
            if t == burn_in:
                start = time.perf_counter()
            noise = torch.randn(R.shape, generator=g, dtype=R.dtype)
            log_u = torch.log(torch.rand(n_walkers, generator=g, dtype=R.dtype))
            R, lp, e = fused(R, lp, noise, log_u)
            if t >= burn_in:
                total += float(e.mean())
    return time.perf_counter() - start, total / n_steps


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run both implementations and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e4 walkers, 20 steps")
    parser.add_argument("--walkers", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    args = parser.parse_args(argv)
    n_walkers = args.walkers or (10_000 if args.quick else 100_000)
    n_steps = args.steps or (20 if args.quick else 50)
    burn_in = 5
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    print(f"two electrons, 2-D, Pade-Jastrow; {n_walkers} walkers x {n_steps} steps, "
          f"best of {args.repeats}\n")  # fmt: skip
    rows = []
    runners = [("numpy (plain, vectorised)", numpy_vmc), ("bayesphys.vmc (eager)", torch_vmc)]
    if not args.no_compile:
        runners.append(("bayesphys.vmc, torch.compile", compiled_vmc))
    for name, run in runners:
        runs = [run(n_walkers, n_steps, burn_in, args.seed + k) for k in range(args.repeats)]
        seconds = min(r[0] for r in runs)
        rows.append((name, n_walkers * n_steps / seconds, runs[0][1]))
    base = rows[0][1]
    print(f"{'implementation':28s} {'walker-steps/s':>15s} {'speed-up':>9s} {'<E_L>':>9s}")
    print("-" * 64)
    for name, rate, energy in rows:
        print(f"{name:28s} {rate:15.3e} {rate / base:9.2f} {energy:9.5f}")


if __name__ == "__main__":
    main()
