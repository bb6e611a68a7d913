"""The one thread limiter (core/threads.py)."""

import torch
from threadpoolctl import threadpool_info

from bayesphys.core.threads import set_torch_threads, torch_threads


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_limits_and_restores_torch_and_blas():
    before, blas_before = torch.get_num_threads(), _blas_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        assert all(n == 1 for n in _blas_threads())
    assert torch.get_num_threads() == before and _blas_threads() == blas_before
    with torch_threads(1, blas=False):
        assert torch.get_num_threads() == 1 and _blas_threads() == blas_before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_restored_after_an_exception_and_set_returns_the_previous_count():
    before = torch.get_num_threads()
    try:
        with torch_threads(1):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert torch.get_num_threads() == before
    assert set_torch_threads(1) == before
    assert set_torch_threads(before) == 1
