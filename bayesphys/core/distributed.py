"""Scale-out on ``dask.distributed``: the one place where model families meet Dask.

Families take a ``client=None`` argument and hand their independent units of work (one residual
fit, one chain, one group of walkers) to :func:`map_tasks`; with ``client=None`` the same tasks
run in this process, in order, so a family has a single code path. Random streams come from
:func:`spawn_seeds`, one per task, so results do not depend on how many workers run them.

Dask is an optional dependency (``pip install 'bayesphys[distributed]'``): it is imported only
when a client is actually used.

Chain and walker groups (split, seeds, the interrupt rule) are run by
:mod:`bayesphys.core.chains`; its names are still importable from here.
"""

from __future__ import annotations

import numbers
import uuid
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesphys.core._open_client import open_client
from bayesphys.core.progress import progress_bar
from bayesphys.core.threads import set_torch_threads

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Client

__all__ = [
    "check_client",
    "map_tasks",
    "open_client",
    "pin_torch_threads",
    "require_distributed",
    "spawn_seeds",
    "worker_count",
]

INSTALL_HINT = "pip install 'bayesphys[distributed]'"
# Seeds are 63-bit so that they fit a signed int64 (torch.manual_seed, numpy, PyMC) while two
# tasks practically never share a stream; 31-bit seeds collide by chance among ~10^4 tasks.
_SEED_BITS = 63


def require_distributed():
    """The ``distributed`` module, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as err:
        raise ImportError(
            f"running on a Dask cluster needs dask.distributed, which is not installed: "
            f"{INSTALL_HINT}"
        ) from err
    return distributed


def check_client(client, name: str = "client") -> Client | None:
    """Return ``client`` if it is ``None`` or a ``dask.distributed.Client``; else raise.

    Raises
    ------
    TypeError
        If ``client`` is something else (an address string, a cluster object, ...).
    ImportError
        If a client is given but dask.distributed is not installed.
    """
    if client is None:
        return None
    distributed = require_distributed()
    if not isinstance(client, distributed.Client):
        hint = " (wrap it: Client(cluster))" if hasattr(client, "scheduler_address") else ""
        raise TypeError(
            f"{name} must be a dask.distributed.Client or None, got {type(client).__name__}"
            f"{hint}; to connect to a scheduler address use open_client(scheduler=...)"
        )
    return client


def spawn_seeds(random_state, n: int) -> list[int]:
    """``n`` independent 63-bit seeds, one per task, from ``numpy.random.SeedSequence.spawn``.

    Task ``i`` always gets the ``i``-th child stream of ``random_state``, whichever worker runs
    it and however many workers there are, so results are the same in-process and on a cluster.

    Parameters
    ----------
    random_state : int, SeedSequence, Generator or None
        Root of the streams (``None``: fresh entropy; a Generator: one draw from it).
    n : int
        Number of tasks.

    Returns
    -------
    list of int
        Usable as ``random_state`` of every estimator, by ``numpy.random.default_rng`` and by
        ``torch.Generator().manual_seed``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    seed = random_state
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif isinstance(seed, np.random.Generator):
        root = np.random.SeedSequence(int(seed.integers(2**_SEED_BITS)))
    elif seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"random_state must be >= 0, got {seed}")
        root = np.random.SeedSequence(None if seed is None else int(seed))
    else:
        raise TypeError(
            "random_state must be None, an int, a SeedSequence or a Generator, got "
            f"{type(seed).__name__}"
        )
    shift = np.uint64(64 - _SEED_BITS)
    return [int(c.generate_state(1, np.uint64)[0] >> shift) for c in root.spawn(int(n))]


def pin_torch_threads(fn: Callable, torch_threads: int | None, *args: Any) -> Any:
    """``fn(*args)`` with torch set to ``torch_threads`` intra-op threads (runs on a worker).

    Torch defaults to one thread per core in every worker process, which oversubscribes a
    machine that runs several workers: tasks pin it to the Dask thread count.
    """
    set_torch_threads(torch_threads)
    return fn(*args)


def _run_task(task, fn: Callable, torch_threads: int | None) -> tuple[Any, list[tuple]]:
    # Warnings (non-convergence, divergences) would otherwise end in the worker's log only.
    with warnings.catch_warnings(record=True) as caught:
        result = pin_torch_threads(fn, torch_threads, task)
    return result, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def map_tasks(
    fn: Callable[[Any], Any],
    tasks: Iterable,
    client=None,
    *,
    name: str | None = None,
    retries: int = 2,
    torch_threads: int | None = 1,
    partial: bool = False,
    progress: str | None = None,
) -> list:
    """``[fn(task) for task in tasks]``, in this process or on a Dask cluster.

    Parameters
    ----------
    fn : callable
        A module-level function of one argument (it is pickled to the workers). It should get
        everything it needs, its seed included, from the task: plain data in, results out.
    tasks : iterable
        One picklable item per task.
    client : dask.distributed.Client or None
        ``None`` runs the tasks here, one after the other.
    name : str, optional
        Prefix of the Dask task keys (what the dashboard shows); default ``fn``'s name.
    retries : int
        Extra attempts for a task that raised (a transient failure). A task whose worker died
        is rerun by the scheduler in any case (``distributed.scheduler.allowed-failures``).
    torch_threads : int or None
        Torch threads in each worker process while it runs the tasks (``None``: unchanged).
        Ignored in-process, where the caller's setting applies.
    partial : bool
        On ``KeyboardInterrupt``, return the results of the tasks that finished and ``None``
        for the others instead of raising.
    progress : str, optional
        With a client, show a tqdm bar of finished tasks with this description.

    Returns
    -------
    list
        The results in task order.

    Notes
    -----
    Warnings a task raises on a worker are raised again here, once per distinct message.
    """
    client = check_client(client)
    tasks = list(tasks)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    results: list = [None] * len(tasks)
    if client is None:
        try:
            for i, task in enumerate(tasks):
                results[i] = fn(task)
        except KeyboardInterrupt:
            if not partial:
                raise
        return results
    distributed = require_distributed()
    prefix = name or getattr(fn, "__name__", "task")
    token = uuid.uuid4().hex
    keys = [f"{prefix}-{token}-{i}" for i in range(len(tasks))]
    # pure=False: equal inputs must not be merged into one task (each carries its own seed,
    # but a caller may legitimately repeat a task), nor served from an earlier run's result.
    futures = client.map(
        _run_task,
        tasks,
        fn=fn,
        torch_threads=torch_threads,
        key=keys,
        pure=False,
        retries=int(retries),
    )
    position = {key: i for i, key in enumerate(keys)}
    registry: dict = {}  # shared, so a warning that every task raised is shown once
    bar = progress_bar(len(tasks), progress or "", disable=progress is None)
    try:
        for future, (result, caught) in distributed.as_completed(
            futures, loop=client.loop, with_results=True
        ):
            results[position[future.key]] = result
            bar.update(1)
            for message, category, filename, lineno in caught:
                warnings.warn_explicit(message, category, filename, lineno, registry=registry)
    except KeyboardInterrupt:
        if not partial:
            raise
    finally:
        bar.close()
        # On an error the other tasks would run on for nothing; on success this frees memory.
        client.cancel(futures)
    return results


def worker_count(client) -> int:
    """Number of workers connected to ``client`` (1 for ``None``: this process)."""
    client = check_client(client)
    return 1 if client is None else len(client.nthreads())


_MOVED_TO_CHAINS = frozenset(
    {"check_groups", "group_seeds", "groups_progress", "run_groups", "split_sizes"}
)


def __getattr__(name: str):
    # The chain-group runner moved to bayesphys.core.chains, which imports map_tasks from
    # here: re-exported lazily (PEP 562) so that either module can be imported first.
    if name in _MOVED_TO_CHAINS:
        from bayesphys.core import chains

        return getattr(chains, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
