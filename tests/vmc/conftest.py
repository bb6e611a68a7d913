"""Shared settings of the VMC tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # The walkers' tensors are small (~1e3 x 4): a second intra-op thread gains nothing, and on a
    # shared, oversubscribed 2-core machine thread hand-offs made the suite ~10x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
