"""Random numbers for the next fused Metropolis step, drawn on a second core meanwhile.

Drawing the uniforms from torch's Mersenne Twister is a large part of a fused step over many
walkers. The step itself never touches the generator otherwise, so a background thread
can draw step ``t + 1``'s uniforms while step ``t`` computes, in exactly the order a serial run
would: the chain is unchanged. Drawing ahead is speculative: :meth:`UniformPrefetcher.cancel`
waits for a pending draw and rewinds the generator to the state it had before it, so whoever
reads or uses the generator afterwards sees it exactly as after the last consumed step.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class _Pending:
    future: Future
    generator: torch.Generator
    shape: tuple[int, ...]
    n_walkers: int
    rewind: Tensor  # generator state before the speculative draw
    slot: int


def _draw(
    generator: torch.Generator, shape: tuple[int, ...], n_walkers: int, out: tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    u, log_u = out
    torch.rand(shape, generator=generator, dtype=torch.float64, out=u)
    torch.log(u[-n_walkers:], out=log_u)
    return u, log_u


class UniformPrefetcher:
    """Double-buffered uniforms (and ``ln u`` of the last ``n_walkers``) for successive steps."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: _Pending | None = None
        self._slots: list[tuple[Tensor, Tensor] | None] = [None, None]
        self._next_slot = 0
        self._lock = threading.Lock()

    def take(
        self, generator: torch.Generator, shape: tuple[int, ...], n_walkers: int
    ) -> tuple[Tensor, Tensor]:
        """This step's ``(u, ln u[-n_walkers:])``; starts drawing the next step's."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and (pending.generator, pending.shape, pending.n_walkers) == (
            generator, shape, n_walkers
        ):  # fmt: skip
            current = pending.future.result()
            slot = pending.slot
        else:
            if pending is not None:
                self._rewind(pending)
            slot = self._next_slot
            current = _draw(generator, shape, n_walkers, self._buffers(slot, shape, n_walkers))
        ahead = 1 - slot
        rewind = generator.get_state()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="vmc-uniforms")
        future = self._executor.submit(
            _draw, generator, shape, n_walkers, self._buffers(ahead, shape, n_walkers)
        )
        with self._lock:
            self._pending = _Pending(future, generator, shape, n_walkers, rewind, ahead)
            self._next_slot = ahead
        return current

    def cancel(self) -> None:
        """Drop a speculative draw and rewind its generator (no-op if none is pending)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._rewind(pending)

    def close(self) -> None:
        """Cancel and stop the background thread."""
        self.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @staticmethod
    def _rewind(pending: _Pending) -> None:
        # The draw must be over before the state is reset, or it would advance it again.
        pending.future.exception()
        pending.generator.set_state(pending.rewind)

    def _buffers(self, slot: int, shape: tuple[int, ...], n_walkers: int):
        bufs = self._slots[slot]
        if bufs is None or bufs[0].shape != shape or bufs[1].shape[0] != n_walkers:
            bufs = (
                torch.empty(shape, dtype=torch.float64),
                torch.empty(n_walkers, dtype=torch.float64),
            )
            self._slots[slot] = bufs
        return bufs

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)

    def __getstate__(self) -> dict:
        # Pickled with its sampler (Dask, deepcopy): threads and buffers are not state.
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
