"""ResidentGroups resubmits an iteration whose futures the scheduler cancelled or forgot."""

import pytest

from bayesphys.core.resident import CANCELLED_RESUBMITS, ResidentGroups

distributed = pytest.importorskip("dask.distributed")


def _step(state, increment):
    return state + increment, state * 10


def test_a_forgotten_summary_is_resubmitted_with_the_same_numbers(client, monkeypatch):
    groups = ResidentGroups(client, name="resident-test")
    groups.resume([1, 2, 3])
    gather = client.gather
    failures = {"left": CANCELLED_RESUBMITS}

    def flaky(futures, *args, **kwargs):
        if failures["left"] and any("-sum-" in f.key for f in futures):
            failures["left"] -= 1
            raise distributed.client.FutureCancelledError(futures[0].key, "already forgotten")
        return gather(futures, *args, **kwargs)

    monkeypatch.setattr(client, "gather", flaky)
    assert groups.advance(_step, 5) == [10, 20, 30]
    assert failures["left"] == 0
    assert groups.advance(_step, 1) == [60, 70, 80]
    assert groups.snapshot() == [7, 8, 9]
    groups.close()


def test_other_errors_and_repeated_cancellations_are_raised(client, monkeypatch):
    groups = ResidentGroups(client, name="resident-test")
    groups.resume([1, 2])
    gather = client.gather

    def cancelled(futures, *args, **kwargs):
        if any("-sum-" in f.key for f in futures):
            raise distributed.client.FutureCancelledError(futures[0].key, "already forgotten")
        return gather(futures, *args, **kwargs)

    monkeypatch.setattr(client, "gather", cancelled)
    with pytest.raises(distributed.client.FutureCancelledError):
        groups.advance(_step, 1)
    monkeypatch.setattr(client, "gather", gather)
    assert groups.snapshot() == [1, 2], "a failed iteration leaves the states where they were"
    groups.close()
