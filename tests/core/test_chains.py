"""The one chain-group runner, ``bayesphys.core.chains.run_groups``: in-process, on threads, and
the one interrupt rule (finished groups kept, partial ones dropped)."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import wait as real_wait

import numpy as np
import pytest

from bayesphys.core import chains, distributed
from bayesphys.core.chains import group_seeds, run_groups

N_DRAWS = 50


@dataclasses.dataclass
class Task:
    seed: int
    draws: int = N_DRAWS
    stop: threading.Event | None = None
    wait_for_stop: bool = False  # run until the stop event, then return the partial draws


def random_walk(task: Task) -> np.ndarray:
    """A group's "chain": a seeded random walk, cut short when the stop event is set."""
    rng = np.random.default_rng(task.seed)
    steps = []
    for _ in range(task.draws):
        if task.wait_for_stop and len(steps) == 3:
            assert task.stop.wait(timeout=30), "the runner never set the stop event"
        if task.stop is not None and task.stop.is_set():
            break
        steps.append(rng.standard_normal())
    return np.cumsum(steps)


def finished(result: np.ndarray, task: Task) -> bool:
    return len(result) == task.draws


def _tasks(n: int, **kwargs) -> list[Task]:
    return [Task(seed, **kwargs) for seed in group_seeds(11, n)]


def test_the_runner_lives_in_core_chains_and_distributed_reexports_it():
    assert distributed.run_groups is chains.run_groups
    assert distributed.split_sizes is chains.split_sizes


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threads_give_the_sequential_results_for_equal_seeds(threads):
    sequential = run_groups(random_walk, _tasks(5), finished=finished, name="walk")
    threaded = run_groups(random_walk, _tasks(5), finished=finished, name="walk", threads=threads)
    assert len(threaded) == 5
    for a, b in zip(sequential, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    # The groups are distinct streams: equal results would hide a shared seed.
    assert not np.array_equal(sequential[0], sequential[1])


def test_threads_ctrl_c_keeps_the_finished_groups_and_drops_the_partial_one(monkeypatch):
    stop = threading.Event()
    tasks = _tasks(3, stop=stop)
    tasks[1].wait_for_stop = tasks[2].wait_for_stop = True  # still running (or queued) at Ctrl-C
    calls = []

    def ctrl_c_once_group_0_is_done(futures, *args, **kwargs):
        calls.append(len(futures))
        if len(calls) == 1:
            real_wait(futures[:1])
            raise KeyboardInterrupt
        return real_wait(futures, *args, **kwargs)

    monkeypatch.setattr(chains, "wait", ctrl_c_once_group_0_is_done)
    kept = run_groups(random_walk, tasks, finished=finished, name="walk", threads=2, stop=stop)
    assert stop.is_set()
    assert len(kept) == 1  # groups 1 and 2 partial (dropped) or never started
    expected = run_groups(random_walk, _tasks(3), finished=finished, name="walk")[0]
    np.testing.assert_array_equal(kept[0], expected)


def test_threads_ctrl_c_with_no_finished_group_keeps_the_first_partial(monkeypatch):
    stop = threading.Event()
    tasks = _tasks(2, stop=stop, wait_for_stop=True)

    def ctrl_c_at_once(futures, *args, **kwargs):
        if not stop.is_set():
            raise KeyboardInterrupt
        return real_wait(futures, *args, **kwargs)

    monkeypatch.setattr(chains, "wait", ctrl_c_at_once)
    kept = run_groups(random_walk, tasks, finished=finished, name="walk", threads=2, stop=stop)
    assert len(kept) == 1 and 0 < len(kept[0]) < N_DRAWS


def test_sequential_interrupted_group_keeps_earlier_ones_and_later_ones_do_not_start():
    started = []

    def walk_interrupted_in_group_1(task: Task) -> np.ndarray:
        started.append(task.seed)
        result = random_walk(task)
        return result[:10] if len(started) == 2 else result  # Ctrl-C caught inside group 1

    tasks = _tasks(3)
    kept = run_groups(walk_interrupted_in_group_1, tasks, finished=finished, name="walk")
    assert len(started) == 2
    assert len(kept) == 1 and len(kept[0]) == N_DRAWS


def test_ctrl_c_before_any_result_raises():
    def interrupted(task):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="walk interrupted before any group"):
        run_groups(interrupted, _tasks(2), finished=finished, name="walk")
    with pytest.raises(KeyboardInterrupt, match="walk interrupted before any group"):
        run_groups(interrupted, _tasks(2), finished=finished, name="walk", threads=2)


def test_an_error_in_a_thread_is_raised_not_dropped():
    def fails(task):
        raise ValueError("bad group")

    with pytest.raises(ValueError, match="bad group"):
        run_groups(fails, _tasks(2), finished=finished, name="walk", threads=2)


@pytest.mark.parametrize("threads", [0, 1.5, "2"])
def test_threads_is_validated(threads):
    with pytest.raises((TypeError, ValueError), match="threads"):
        run_groups(random_walk, _tasks(2), finished=finished, name="walk", threads=threads)
