"""Helpers every benchmark script shares: timing, the machine header and the printed table.

Run the scripts from the repository root (``python benchmarks/<name>.py``); Python puts
``benchmarks/`` on the import path, so ``from _common import ...`` works there.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata

import numpy as np


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def timed(func: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and CPU seconds (this process, all threads) of one call, and its result.

    On a machine shared with other jobs the wall time grows with their load and the CPU time
    much less, so scripts print both where a run is long enough for the difference to matter.
    """
    gc.collect()  # free a previous result outside the timed region
    start, cpu = time.perf_counter(), time.process_time()
    out = func()
    return time.perf_counter() - start, time.process_time() - cpu, out


def best_time(func: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls and the last call's result."""
    best, out = np.inf, None
    for _ in range(repeats):
        out = None
        wall, _, out = timed(func)
        best = min(best, wall)
    return best, out


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info  # ships with scikit-learn
    except ImportError:
        return "unknown"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not info:
        return "unknown"
    return f"{info[0]['internal_api']} ({info[0]['num_threads']} threads)"


def machine_header(packages: Sequence[str] = ("numpy", "scipy", "torch")) -> str:
    """Machine, load, versions and the command line: timings compare only on one machine."""
    try:
        import torch

        threads = f", torch threads {torch.get_num_threads()}"
    except ImportError:
        threads = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        versions = ", ".join(f"{p} {_version(p)}" for p in ("bayesphys", *packages))
    command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    return (
        f"machine: {platform.machine()} {platform.system()}, {usable_cores()} usable cores "
        f"(os.cpu_count={os.cpu_count()}){threads}, numpy BLAS {_blas()}, load average "
        f"{os.getloadavg()[0]:.2f} (other processes inflate timings)\n"
        f"python {platform.python_version()}, {versions}\n"
        f"command: {command}"
    )


def format_value(value: object) -> str:
    """A table cell: floats with 3 decimals in [1e-3, 1e5) (and 0), scientific otherwise."""
    if isinstance(value, bool) or not isinstance(value, float | np.floating):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.3f}"
    return f"{value:.2e}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(header)] + [[format_value(v) for v in row] for row in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]

    def line(row):
        first = row[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)])

    rule = "-" * len(line(cells[0]))
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])
