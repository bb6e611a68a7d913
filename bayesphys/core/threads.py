"""The one torch/BLAS thread limiter.

Small tensors gain nothing from intra-op threads, while on a loaded machine OpenMP threads
spin-wait for each other; every family and every Dask task sets its thread count here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["set_torch_threads", "torch_threads"]


def set_torch_threads(num_threads: int | None) -> int:
    """Set torch's intra-op thread count (``None``: unchanged); return the previous count.

    Dask tasks call this without restoring: a worker process keeps the count it was given.
    """
    import torch  # lazily: workers and `bayesphys list` should not pay for it up front

    before = torch.get_num_threads()
    if num_threads is not None and num_threads != before:
        torch.set_num_threads(num_threads)
    return before


@contextlib.contextmanager
def torch_threads(num_threads: int | None, *, blas: bool = True) -> Iterator[None]:
    """Run the block with ``num_threads`` torch threads (``None``: unchanged), then restore.

    ``blas=True`` also limits the BLAS that numpy and scipy call (threadpoolctl), for code that
    mixes torch with LAPACK calls through numpy.
    """
    before = set_torch_threads(num_threads)
    try:
        if num_threads is None or not blas:
            yield
        else:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=num_threads, user_api="blas"):
                yield
    finally:
        set_torch_threads(before)
