"""Iterative work on groups whose state stays where it was computed (walkers of ``vmc.optimize``).

:class:`ResidentGroups` holds one state per group and advances all groups by one iteration at a
time with a pure function ``fn(state, *args) -> (new_state, summary)``. In-process the states
are plain objects; on a Dask cluster each state is a task result kept in the memory of the
worker that computed it, the next iteration's task runs there, and only the small ``summary``
comes back. A worker lost mid-run is survived by Dask itself: the lost states are recomputed
from their lineage, which :meth:`ResidentGroups.snapshot` cuts by bringing the states here (the
next iteration then starts from that copy).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bayesphys.core.distributed import check_client, pin_torch_threads

# A worker lost while the client gathers can leave a summary "cancelled: already forgotten"
# (Dask forgets a key whose dependents were released during the recomputation). The iteration
# is resubmitted from the same states under new keys: its numbers do not depend on the attempt.
CANCELLED_RESUBMITS = 2


class ResidentGroups:
    """States of ``n`` groups, advanced in lockstep in-process or on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client or None
        ``None``: run every group here, in group order.
    name : str
        Prefix of the Dask task keys.
    retries : int
        Extra attempts of a task that raised.
    torch_threads : int or None
        Torch threads of a worker while it runs a group's task (``None``: unchanged).
    """

    def __init__(
        self, client=None, *, name: str, retries: int = 2, torch_threads: int | None = 1
    ) -> None:
        self.client = check_client(client)
        self.name = name
        self.retries = int(retries)
        self.torch_threads = torch_threads
        self._token = uuid.uuid4().hex
        self._handles: list = []  # states here, or futures of (state, summary) / state there
        self._iteration = 0
        self._pins: list[str | None] | None = None  # worker of each group, once known

    def start(self, fn: Callable[..., Any], calls: Sequence[tuple]) -> None:
        """Create the states: group ``i`` is ``fn(*calls[i])`` (run where the group will live)."""
        if self.client is None:
            self._handles = [fn(*args) for args in calls]
            return
        self._handles = [
            self._submit(fn, *args, key=f"{self.name}-start-{self._token}-{i}")
            for i, args in enumerate(calls)
        ]

    def resume(self, states: Sequence[Any]) -> None:
        """Continue from plain states (a checkpoint); they travel with the next tasks."""
        self._handles = list(states)
        self._pins = None

    def share(self, value: Any) -> Any:
        """``value`` as every task of this run should receive it: sent to each worker once.

        In-process it is ``value`` itself; on a cluster a future of a copy kept on every
        worker, so that large constant arguments (a wave function, a system) are not pickled
        again with every task.
        """
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=True, hash=False)

    def advance(self, fn: Callable[..., tuple[Any, Any]], *args: Any) -> list:
        """One iteration of every group: ``fn(state, *args)``; return the summaries in order.

        The states move on only when every group succeeded, so after an exception (or Ctrl-C)
        the groups are still at the previous iteration.
        """
        self._iteration += 1
        if self.client is None:
            outcomes = [fn(handle, *args) for handle in self._handles]
            self._handles = [state for state, _ in outcomes]
            return [summary for _, summary in outcomes]
        pins = self._pins or [None] * len(self._handles)
        for attempt in range(1 + CANCELLED_RESUBMITS):
            tag = f"{self._token}-{self._iteration}" + (f"-r{attempt}" if attempt else "")
            pairs = [
                self._submit(_advance, fn, handle, *args, key=f"{self.name}-{tag}-{i}", on=pin)
                for i, (handle, pin) in enumerate(zip(self._handles, pins, strict=True))
            ]
            # Runs where its pair is: only the summary crosses the network.
            summaries = [
                self.client.submit(_summary_of, pair, key=f"{self.name}-sum-{tag}-{i}")
                for i, pair in enumerate(pairs)
            ]
            try:
                out = self.client.gather(summaries)
                break
            except BaseException as exc:
                self.client.cancel(pairs + summaries)
                if attempt == CANCELLED_RESUBMITS or not _cancelled_by_scheduler(exc):
                    raise
        # The summaries are released when these futures go (no blocking cancel round trip).
        self._handles = pairs
        if self._pins is None:
            # Left alone, work stealing moves a group whose state is small to an idle worker
            # (and its state with it): pin each group to where it now is, once per copy back.
            where = self.client.who_has(pairs)
            self._pins = [next(iter(where.get(p.key, ())), None) for p in pairs]
        return out

    def snapshot(self) -> list:
        """The current states, brought here (and the Dask lineage cut at this point)."""
        if self.client is None:
            return list(self._handles)
        tag = f"{self._token}-{self._iteration}"
        futures = [
            self.client.submit(_state_of, handle, key=f"{self.name}-state-{tag}-{i}")
            if _is_future(handle)
            else handle
            for i, handle in enumerate(self._handles)
        ]
        states = self.client.gather(futures)
        self.client.cancel([f for f in futures if _is_future(f)])
        self.resume(states)
        return states

    def close(self, cleanup: Callable[[str], Any] | None = None, token: str | None = None) -> None:
        """Drop the states; run ``cleanup(token)`` here and on every worker (caches)."""
        if self.client is not None:
            self.client.cancel([h for h in self._handles if _is_future(h)])
            if cleanup is not None:
                self.client.run(cleanup, token)
        if cleanup is not None:
            cleanup(token)
        self._handles = []

    def _submit(self, fn, *args, key: str, on: str | None = None):
        # Loose restriction: a pinned task may still run elsewhere if its worker is gone.
        where = {} if on is None else {"workers": [on], "allow_other_workers": True}
        return self.client.submit(
            pin_torch_threads,
            fn,
            self.torch_threads,
            *args,
            key=key,
            pure=False,
            retries=self.retries,
            **where,
        )


@dataclass(frozen=True)
class _Outcome:
    """A group's task result on a worker: the state stays, the summary is fetched."""

    state: Any
    summary: Any


def _cancelled_by_scheduler(exc: BaseException) -> bool:
    """A future the scheduler cancelled or forgot (not the user's Ctrl-C, not a task error)."""
    return type(exc).__name__ in ("FutureCancelledError", "CancelledError")


def _is_future(handle) -> bool:
    return hasattr(handle, "key") and hasattr(handle, "status")


def _state_of(handle):
    # A handle resolves to an _Outcome after an iteration, to the bare state after start().
    return handle.state if isinstance(handle, _Outcome) else handle


def _summary_of(outcome: _Outcome):
    return outcome.summary


def _advance(fn, previous, *args) -> _Outcome:
    return _Outcome(*fn(_state_of(previous), *args))
