"""Timings of the flagship model averaging (issue 19 targets: MAP < 2 min on 2 cores, NUTS < 15).

Runs the ``nuclear-mass-bma`` study as a user does (``run_study``: data, 48 residual GP fits
for the twelve models of the full configuration, five weighting schemes, chart, drip lines,
figures and report) and prints wall and CPU seconds, in-process and on a local Dask cluster of
``--workers`` processes in the same run (the peer: the same work spread over the cores), with
the default scheme's held-out test rms and log score so that a faster run that got worse shows
up. ``--nuts`` adds the run with NUTS residual hyperparameters (``residual_gp("nuts")``) and the
worst convergence over the residual GPs; ``--fast`` times the ``--fast`` configuration.
Run ``python benchmarks/bma.py [--workers 2] [--nuts] [--fast]`` from the repository root.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _common import format_table, machine_header, timed

from bayesphys import results
from bayesphys.core._open_client import open_client
from bayesphys.studies import run_study


def convergence(bma) -> dict:
    """Worst ESS and R-hat over every hyperparameter of every residual GP, and divergences."""
    fits = [gp for m in bma.corrected_.values() for gp in m.residual_models.values()]
    ess = [results.ess(gp.idata_).to_array().values.min() for gp in fits]
    rhat = [results.rhat(gp.idata_).to_array().values.max() for gp in fits]
    stats = [gp.idata_.sample_stats for gp in fits]
    return {
        "min_ess": float(np.min(ess)),
        "max_rhat": float(np.max(rhat)),
        "divergences": int(sum(s["diverging"].values.sum() for s in stats)),
    }


def flagship(residual_method: str, fast: bool, workers: int | None) -> list:
    """One timed run of the study; a table row."""
    with tempfile.TemporaryDirectory() as tmp:
        config = None
        if residual_method != "map":
            config = Path(tmp) / "override.toml"
            config.write_text(f'[model]\nresidual_method = "{residual_method}"\n')
        with open_client(None, workers) as client:
            wall, cpu, outcome = timed(
                lambda: run_study(
                    "nuclear-mass-bma", Path(tmp) / "out", fast=fast, config=config, client=client
                )
            )
    result = outcome.result
    row = result["schemes"].loc[result["bma"].weights]
    extra = convergence(result["bma"]) if residual_method == "nuts" else {}
    where = f"dask {workers} workers" if workers else "in-process"
    return [
        f"{residual_method}, {where}",
        len(result["bma"].corrected_),
        wall,
        cpu,  # this process only: Dask workers' CPU is not counted
        row["test_rms"],
        row["test_log_score"],
        extra.get("min_ess", float("nan")),
        extra.get("max_rhat", float("nan")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuts", action="store_true", help="also time NUTS hyperparameters")
    parser.add_argument("--fast", action="store_true", help="the --fast configuration")
    parser.add_argument("--workers", type=int, help="also run on a local Dask cluster")
    args = parser.parse_args()
    print(machine_header())
    methods = ["map", "nuts"] if args.nuts else ["map"]
    rows = []
    for method in methods:
        for workers in [None, args.workers] if args.workers else [None]:
            rows.append(flagship(method, args.fast, workers))
            print(format_table(HEADER, rows[-1:]), flush=True)
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
    "max_rhat",
]

if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    main()
