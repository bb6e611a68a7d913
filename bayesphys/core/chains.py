"""The one runner of chain and walker groups: split, seed, run, keep what Ctrl-C leaves.

A family splits its chains (or walkers) into groups (:func:`check_groups`, :func:`split_sizes`),
gives each group a seed (:func:`group_seeds`) and hands one picklable task per group to
:func:`run_groups`, which runs them in this process (one after the other, or on threads) or
on a Dask client, and applies the one interrupt rule of groups. :func:`groups_progress` says
how far an interrupted run got. The Dask plumbing itself is in
:mod:`bayesphys.core.distributed`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from bayesphys.core.distributed import map_tasks, spawn_seeds
from bayesphys.core.validation import check_positive_int

__all__ = [
    "check_groups",
    "group_seeds",
    "groups_progress",
    "run_groups",
    "split_sizes",
]


def group_seeds(random_state, n_groups: int) -> list:
    """Seeds of ``n_groups`` task groups: ``[random_state]`` itself for one group, else spawned.

    One group keeps the caller's seed (or ``torch.Generator``) untouched, so a run without
    groups is the former single-population run bit for bit; several groups get independent
    :func:`~bayesphys.core.distributed.spawn_seeds` streams (a ``torch.Generator`` contributes
    one draw as their root).
    """
    if n_groups == 1:
        return [random_state]
    import torch

    if isinstance(random_state, torch.Generator):
        random_state = int(torch.randint(2**62, (1,), generator=random_state))
    return spawn_seeds(random_state, n_groups)


def split_sizes(n: int, n_groups: int) -> list[int]:
    """Sizes of ``n_groups`` groups of ``n`` items, differing by at most one, larger first."""
    base, extra = divmod(int(n), int(n_groups))
    return [base + (i < extra) for i in range(int(n_groups))]


def check_groups(groups, n_units: int, default: int, *, name: str, unit: str) -> int:
    """``groups`` as an int in ``[1, n_units]`` (``None``: ``default``), or a clear error.

    Parameters
    ----------
    groups : int or None
        Requested number of groups (``walker_groups``, ``chain_groups``).
    n_units : int
        Items to split (walkers, chains).
    default : int
        Used when ``groups`` is None (clipped to ``n_units``).
    name, unit : str
        Argument name and item name for the error message.
    """
    if groups is None:
        return max(1, min(int(default), int(n_units)))
    groups = check_positive_int(groups, name)
    if groups > n_units:
        raise ValueError(f"{name} ({groups}) exceeds the number of {unit} ({n_units})")
    return int(groups)


def run_groups(
    fn: Callable[[Any], Any],
    tasks: list,
    client=None,
    *,
    finished: Callable[[Any, Any], bool],
    name: str,
    progress: str | None = None,
    threads: int = 1,
    stop: threading.Event | None = None,
    torch_threads: int | None = 1,
) -> list:
    """Run group tasks (chains, walkers) and keep what an interruption leaves complete.

    Every group is one call ``fn(task)``: in this process one after the other
    (``threads=1``), in this process on a pool of ``threads`` threads (for work that releases
    the GIL, such as LAPACK), or as one task of
    :func:`~bayesphys.core.distributed.map_tasks` on a Dask ``client``. A group function that
    catches ``KeyboardInterrupt`` itself returns a partial result (or re-raises it when it has
    nothing); ``finished(result, task)`` tells whether a result is complete.

    The one rule for groups after Ctrl-C (see :mod:`bayesphys.core.interrupts`): the groups
    that finished are kept and partial ones dropped; if none finished, the partial result of
    the first group that has one is kept (one after the other, the groups after an
    interrupted one do not start, so that is the interrupted group's own work). The caller
    marks its result interrupted whenever fewer results than tasks come back or one is
    unfinished (:func:`groups_progress`) and warns once, naming how far it got.

    Parameters
    ----------
    fn : callable
        The group function, module-level (it is pickled to Dask workers).
    tasks : list
        One task per group.
    client : dask.distributed.Client or None
        ``None`` runs the groups in this process.
    finished : callable
        ``finished(result, task)``: whether a group's result is complete.
    name : str
        Prefix of the Dask task keys and subject of the error when nothing is kept.
    progress : str, optional
        With a client, show a bar of finished groups with this description.
    threads : int
        In-process only: groups that run at once on threads. Only the main thread sees
        Ctrl-C; it then sets ``stop`` and waits for the running groups to return.
    stop : threading.Event, optional
        With ``threads > 1``: set on Ctrl-C. The caller shares it with its tasks, whose group
        functions should stop at the next step and return what they completed.
    torch_threads : int or None
        With a client: torch threads in each worker (see
        :func:`~bayesphys.core.distributed.map_tasks`).

    Returns
    -------
    list
        All results if every group finished, else the kept ones (see above).

    Raises
    ------
    KeyboardInterrupt
        If the run was interrupted before any group produced a result.
    """
    threads = check_positive_int(threads, "threads")
    if client is not None:
        results = map_tasks(
            fn,
            tasks,
            client,
            name=name,
            partial=True,
            progress=progress,
            torch_threads=torch_threads,
        )
    elif threads > 1 and len(tasks) > 1:
        results = _run_on_threads(fn, tasks, min(threads, len(tasks)), stop)
    else:
        results = []
        try:
            for task in tasks:
                results.append(fn(task))
                if not finished(results[-1], task):
                    break
        except KeyboardInterrupt:
            pass
        results += [None] * (len(tasks) - len(results))
    done = [r for r, t in zip(results, tasks, strict=True) if r is not None and finished(r, t)]
    if len(done) == len(tasks) or (len(tasks) == 1 and results[0] is not None):
        return results
    if not done:
        done = [r for r in results if r is not None][:1]
        if not done:
            raise KeyboardInterrupt(f"{name} interrupted before any group produced a result")
    return done


def _run_on_threads(
    fn: Callable[[Any], Any], tasks: list, workers: int, stop: threading.Event | None
) -> list:
    """``fn`` of each task on ``workers`` threads; ``None`` for a group Ctrl-C left empty."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chain-group") as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        try:
            wait(futures)
        except KeyboardInterrupt:
            if stop is not None:
                stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
    results = []
    for future in futures:
        if future.cancelled() or isinstance(future.exception(), KeyboardInterrupt):
            # Not started, or stopped before it had anything to return.
            results.append(None)
        else:
            results.append(future.result())  # re-raises a group's error
    return results


def groups_progress(
    kept_chains: int, chains: int, kept_groups: int, groups: int, done: str, *, unit: str = "chain"
) -> str:
    """How far an interrupted run of chain groups got, for :func:`~bayesphys.core.interrupts.
    warn_interrupted` and the ``interrupted_progress`` attribute.

    ``done`` says how far each kept chain got (e.g. "25 of 40 draws per chain"); ``unit`` names
    what a group holds (``"walker"`` for VMC walker groups).

    Examples
    --------
    >>> groups_progress(4, 6, 2, 3, "50 of 50 draws per chain")
    '4 of 6 chains (2 of 3 chain groups), 50 of 50 draws per chain'
    >>> groups_progress(2, 2, 1, 1, "25 of 40 draws per chain")
    '25 of 40 draws per chain'
    >>> groups_progress(20, 40, 1, 2, "64 of 64 steps per walker", unit="walker")
    '20 of 40 walkers (1 of 2 walker groups), 64 of 64 steps per walker'
    """
    if kept_chains == chains:
        return done
    return f"{kept_chains} of {chains} {unit}s ({kept_groups} of {groups} {unit} groups), {done}"
