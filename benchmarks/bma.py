"""Timings of the flagship model averaging (issue 19 targets: MAP < 2 min on 2 cores, NUTS < 15).

Runs the ``nuclear-mass-bma`` study as a user does (``run_study``: data, 48 residual GP fits
for the twelve models of the full configuration, five weighting schemes, chart, drip lines,
figures and report) and prints wall and CPU seconds, in-process and on a local Dask cluster of
``--workers`` processes in the same run (the peer: the same work spread over the cores), with
the default scheme's held-out test rms and log score so that a faster run that got worse shows
up. ``--nuts`` adds the run with NUTS residual hyperparameters (``residual_gp("nuts")``) and the
worst convergence over the residual GPs; ``--fast`` times the ``--fast`` configuration.
Run ``python benchmarks/bma.py [--workers 2] [--nuts] [--nuts-only] [--fast]`` from the
repository root.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from _common import format_table, machine_header, timed

from bayesphys.bma._residuals import convergence_checks, residual_convergence
from bayesphys.core._open_client import open_client
from bayesphys.studies import run_study

NUTS_CONFIG = Path(__file__).parent.parent / "case_studies" / "nuclear_mass_bma" / "nuts.toml"


def _workers_cpu(client) -> float:
    """CPU seconds the Dask workers' processes have used so far (0 without a client)."""
    if client is None:
        return 0.0
    return float(sum(client.run(time.process_time).values()))


def flagship(residual_method: str, fast: bool, workers: int | None) -> tuple[list, list[str]]:
    """One timed run of the study: a table row, and the report's checks of the residual GPs."""
    config = NUTS_CONFIG if residual_method == "nuts" else None
    with tempfile.TemporaryDirectory() as tmp, open_client(None, workers) as client:
        before = _workers_cpu(client)
        wall, cpu, outcome = timed(
            lambda: run_study(
                "nuclear-mass-bma", Path(tmp) / "out", fast=fast, config=config, client=client
            )
        )
        cpu += _workers_cpu(client) - before
    result = outcome.result
    row = result["schemes"].loc[result["bma"].weights]
    table = residual_convergence(result["bma"].corrected_)
    nan = float("nan")
    where = f"dask {workers} workers" if workers else "in-process"
    return [
        f"{residual_method}, {where}",
        len(result["bma"].corrected_),
        wall,
        cpu,
        row["test_rms"],
        row["test_log_score"],
        table["min_ess_bulk"].min() if len(table) else nan,
        table["min_ess_bulk"].median() if len(table) else nan,
        table["max_rhat"].max() if len(table) else nan,
        int(table["divergences"].sum()) if len(table) else 0,
    ], convergence_checks(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuts", action="store_true", help="also time NUTS hyperparameters")
    parser.add_argument("--nuts-only", action="store_true", help="time NUTS, not MAP")
    parser.add_argument("--fast", action="store_true", help="the --fast configuration")
    parser.add_argument("--workers", type=int, help="also run on a local Dask cluster")
    args = parser.parse_args()
    print(machine_header())
    methods = ["map", "nuts"] if args.nuts else ["map"]
    methods = ["nuts"] if args.nuts_only else methods
    rows = []
    for method in methods:
        for workers in [None, args.workers] if args.workers else [None]:
            row, checks = flagship(method, args.fast, workers)
            rows.append(row)
            print(format_table(HEADER, rows[-1:]), flush=True)
            for line in checks:
                print(f"  {row[0]}: {line}", flush=True)
    print()
    print(format_table(HEADER, rows))


HEADER = [
    "run",
    "models",
    "wall_s",
    "cpu_s",
    "test_rms_MeV",
    "test_log_score",
    "min_ess",
    "median_min_ess",
    "max_rhat",
    "divergences",
]

if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
