"""Walker-steps per second of ``vmc.estimate`` against the shared plain-numpy VMC peer.

Work (issue 18, goal 1): two electrons in a 2-D harmonic trap (omega = 1, Coulomb) with the
Gaussian x Pade-Jastrow trial function near its optimum, 1e5 walkers, all-particle Gaussian
Metropolis moves, the closed-form local energy of every walker at every step. The peer is
``../shared/bench/numpy_vmc.py`` (vectorised numpy, masked in-place updates; its ``alpha`` is
twice ours: ``|psi|^2 = exp(-alpha_peer r^2 ...)``), imported and run in the same process.
Ours is ``vmc.estimate`` on its default path (``Metropolis()``, default threads, no opt-in
flags), timed end to end: set-up, burn-in, the recorded steps and the analysis (blocking
errors, mixing checks, density). Both take 100 steps per walker (peer: 100 steps, the energy
averaged after 20; ours: 20 burn-in + 80 recorded) and both evaluate E_L at every step.

Rows:
- the peer; ``vmc.estimate`` default, bar hidden; the same with the progress bar shown (the
  default for a user: running figures every 0.5 s and a last line with the split R-hat, all
  from sums kept during the steps); ``Metropolis(engine="torch")``, the torch fused step (the
  generic chain) for comparison. ``x peer`` compares wall times, ``x peer (CPU)`` CPU times
  (the latter reads more steadily on a machine loaded by other processes; ours uses two
  threads, the peer one, so on a quiet 2-core machine the wall ratio is the higher);
- the N = 6 and N = 12 quantum dots with the Slater x Pade-Jastrow trial function, on the
  default path (the numba step of ``vmc/_numba_slater.py``) and on the torch path
  (``Metropolis(engine="torch")``), in walker-steps per second, per core and per CPU second,
  beside the figures quoted for the C++ course code (about 1.9e6 /s/core for 2e Pade,
  1.7e5 /s/core for 12e Slater-Jastrow; not rerun here).

Run from the repository root: ``python benchmarks/vmc.py`` (1e5 walkers, best of 3, interleaved)
or ``--quick`` (1e5 walkers, best of 1, smaller N = 6/12 runs). ``--n12-band`` instead optimises
the N = 12 dot to its reference band and times that.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from _common import format_table, machine_header, timed, usable_cores

from bayesphys import vmc

PEER_PATH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "numpy_vmc.py"
ALPHA, BETA, STEP = 0.494, 0.4, 1.0  # ours; the peer's alpha is 2 * ALPHA
COURSE_2E, COURSE_12E = 1.9e6, 1.7e5  # C++ course code, walker-steps /s/core (quoted)


def load_peer():
    """The shared numpy peer as a module (its ``run(n_walkers, n_steps, ...)``)."""
    spec = importlib.util.spec_from_file_location("numpy_vmc", PEER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_run(peer, n_walkers: int, n_steps: int, seed: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and mean energy of the peer (its own timer covers the steps)."""
    _, cpu, (rate, energy) = timed(
        lambda: peer.run(n_walkers, n_steps, alpha=2 * ALPHA, beta=BETA, step=STEP, seed=seed)
    )
    return n_walkers * n_steps / rate, cpu, energy


def ours(n_walkers: int, n_steps: int, seed: int, **options) -> tuple[float, float, object]:
    """Wall and CPU seconds of one ``vmc.estimate`` call end to end, and its estimate."""
    sampler = vmc.Metropolis(STEP, **options.pop("sampler", {}))
    wf = vmc.GaussianJastrow(ALPHA, "pade", beta=BETA)
    burn_in = n_steps // 5
    return timed(
        lambda: vmc.estimate(
            wf,
            vmc.QuantumDot(2),
            sampler,
            n_walkers,
            n_steps - burn_in,
            burn_in,
            random_state=seed,
            **{"progressbar": False, **options},
        )
    )


def slater_dot(
    n: int, n_walkers: int, n_steps: int, seed: int, engine: str = "auto"
) -> tuple[float, float, object]:
    """Walker-steps per wall and per CPU second and the estimate for the N-electron
    Slater-Jastrow dot (``engine="auto"``: the default, numba; ``"torch"``: the torch path)."""
    wf = vmc.SlaterJastrow(n, alpha=0.45, beta=0.5)

    def run(walkers: int, steps: int):
        # A quarter of the run: the correlation time of E_L is 10-45 steps for these dots, so
        # 100 of 400 steps lets the energy column mean something (20 steps left a visible bias).
        burn_in = steps // 4
        return vmc.estimate(
            wf,
            vmc.QuantumDot(n),
            vmc.Metropolis(engine=engine),
            walkers,
            steps - burn_in,
            burn_in,
            random_state=seed,
            progressbar=False,
        )

    run(64, 24)  # the numba cache load (or compilation) stays outside the timing
    wall, cpu, est = timed(lambda: run(n_walkers, n_steps))
    return n_walkers * n_steps / wall, n_walkers * n_steps / cpu, est


def main(argv: list[str] | None = None) -> None:
    """Run the peer and ours interleaved and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="best of 1, small N = 6/12 runs")
    parser.add_argument("--walkers", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=100, help="steps per walker, incl. burn-in")
    parser.add_argument("--repeats", type=int, default=None, help="best of (default 3, quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n12-band", action="store_true", help="optimise the N = 12 dot")
    parser.add_argument("--threads", type=int, default=None, help="torch (and numba) threads")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(machine_header(("numpy", "torch", "numba")))
    if args.n12_band:
        n12_band(args.seed + 1)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    peer = load_peer()
    W, n = args.walkers, args.steps
    work = W * n
    # Compile (or load the numba cache) outside the timings: its cost is printed separately.
    first, _, _ = ours(1000, 20, 0)
    rows_spec = {
        "estimate, default (bar hidden)": {},
        "estimate, default, bar shown (R-hat)": {"progressbar": True},
        "estimate, Metropolis(engine='torch')": {"sampler": {"engine": "torch"}},
    }
    if args.quick:
        del rows_spec["estimate, Metropolis(engine='torch')"]
    best: dict[str, tuple[float, float, object]] = {}
    for k in range(repeats):  # interleaved: every row sees the same drift of the load
        runs = {"numpy peer": peer_run(peer, W, n, args.seed + k)}
        for name, options in rows_spec.items():
            runs[name] = ours(W, n, args.seed + k, **dict(options))
        for name, run in runs.items():
            if name not in best or run[0] < best[name][0]:
                best[name] = run
    peer_wall, peer_cpu = best["numpy peer"][0], best["numpy peer"][1]
    rows = []
    for name, (wall, cpu, result) in best.items():
        if name == "numpy peer":
            energy = f"{result:.5f}"
        else:
            energy = f"{result.energy:.5f} +- {result.stderr:.5f}"
        rows.append([name, work / wall, peer_wall / wall, work / cpu, peer_cpu / cpu, energy])
    print(
        f"\nN = 2, 2-D, Pade-Jastrow (alpha = {ALPHA}, beta = {BETA}); {W} walkers x {n} steps, "
        f"E_L every step, best of {repeats}; first call in this process (numba cache load or "
        f"compile, 1000 walkers x 20 steps): {first:.2f} s"
    )
    header = ["work", "walker-steps/s", "x peer", "walker-steps/CPU-s", "x peer (CPU)", "<E_L>"]
    print(format_table(header, rows))
    est = best["estimate, default (bar hidden)"][2]
    diff = abs(est.energy - best["numpy peer"][2])
    print(f"|E(ours) - E(peer)| = {diff:.2e} = {diff / est.stderr:.1f} x our error bar "
          "(the peer reports no error bar)")  # fmt: skip

    cores = usable_cores()
    sizes = {6: (2000, 100), 12: (500, 100)} if args.quick else {6: (5000, 400), 12: (1000, 400)}
    dot_rows = []
    for N, (walkers, steps) in sizes.items():
        course = COURSE_2E if N == 2 else COURSE_12E if N == 12 else float("nan")
        for engine, what in (("auto", "default (numba)"), ("torch", "engine='torch'")):
            rate, cpu_rate, est_n = slater_dot(N, walkers, steps, args.seed, engine)
            label = f"N = {N} Slater-Jastrow, {what}, {walkers} x {steps}"
            energy = f"{est_n.energy:.4f} +- {est_n.stderr:.4f}"
            dot_rows.append([label, rate, rate / cores, cpu_rate, course, energy])
    two = best["estimate, default (bar hidden)"]
    dot_rows.insert(0, ["N = 2 Pade-Jastrow (the run above)", work / two[0], work / two[0] / cores,
                        work / two[1], COURSE_2E, f"{two[2].energy:.5f}"])  # fmt: skip
    print(
        f"\nquantum dots (omega = 1), vmc.estimate, Metropolis all-electron moves; per core = "
        f"/ {cores} cores; walkers x steps (25 % burn-in); the two engines sample the same "
        "|psi|^2 with their own random streams"
    )
    header = ["work", "walker-steps/s", "per core", "per CPU-s", "C++ course /s/core", "<E_L>"]
    print(format_table(header, dot_rows))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def n12_band(seed: int) -> None:
    """Optimise the N = 12 dot (SR) to its reference band (65.70-65.80, DMC 65.7001); times."""
    band = (65.70, 65.80)
    system = vmc.QuantumDot(12)
    start_wf = vmc.SlaterJastrow(12, alpha=0.45, beta=0.5)
    t_fit, _, fit = timed(
        lambda: vmc.optimize(
            start_wf,
            system,
            vmc.Metropolis(),
            "sr",
            50,
            1000,
            learning_rate=0.2,
            random_state=seed,
            progressbar=False,
        )
    )
    t_est, _, est = timed(
        lambda: vmc.estimate(
            fit.wavefunction,
            system,
            vmc.Langevin(0.05),
            1000,
            400,
            100,
            random_state=seed + 1,
            progressbar=False,
        )
    )
    inside = band[0] - 3 * est.stderr < est.energy < band[1] + 3 * est.stderr
    print(f"optimise (SR, 50 x 1000 walkers x 10 steps): {t_fit:7.1f} s")
    print(f"estimate (Langevin, 1000 walkers x 400 steps): {t_est:7.1f} s")
    print(f"E = {est.energy:.4f} +- {est.stderr:.4f}: {'inside' if inside else 'OUTSIDE'} the "
          f"band {band}; load now {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
