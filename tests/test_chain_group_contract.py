"""What the one chain-group runner (``bayesphys.core.chains.run_groups``) promises, checked once
for every family that runs groups through it: core ``sample(chain_groups=...)``, BNN NUTS, GP
NUTS (in order and on threads) and ``vmc.estimate(walker_groups=...)``.

1. Ctrl-C during the second group keeps the first group's complete draws (bit for bit those of
   the uninterrupted run), drops the partial group, marks the result and warns once, naming
   how far it got.
2. Ctrl-C before any group completes re-raises ``KeyboardInterrupt`` (and warns nothing).
3. Inside each group task torch runs with the thread count its family's limiter sets
   (``bayesphys.core.threads``); the caller's count is back afterwards.
4. Equal seeds give bit-identical results whether the groups run in order or on threads.

Ctrl-C is simulated by the family's per-step call (a log density or a walker step) raising
``KeyboardInterrupt`` at a chosen call of a chosen group task. The runner itself, with stub
tasks, is tested in tests/core/test_chains.py.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from bayesphys import vmc
from bayesphys.bnn import BayesianNeuralNetwork, posterior
from bayesphys.bnn.inference import groups as bnn_groups
from bayesphys.core.chains import groups_progress
from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted
from bayesphys.core.samplers import sampling
from bayesphys.gp import GPRegression
from bayesphys.gp.inference import nuts as gp_nuts
from bayesphys.gp.inference import nuts_target
from bayesphys.inference import NUTS
from bayesphys.samplers import sample
from bayesphys.vmc import estimation as vmc_estimation
from bayesphys.vmc.estimation import MixingWarning
from bayesphys.vmc.samplers import Walkers

pytestmark = pytest.mark.filterwarnings("ignore:.*diverged:RuntimeWarning")

# A torch thread count outside the group tasks that no limiter sets (they set 1 or leave it).
CALLER_THREADS = 2


class Probe:
    """Counts each group task's per-step calls, records torch's thread count at them, and
    raises KeyboardInterrupt (as Ctrl-C does inside a running group) at call ``k`` of task
    ``i`` for each ``(i, k)`` in ``stop_at``. Tasks are numbered by their place in the task
    lists handed to ``run_groups``, over all stages of a fit (GP NUTS: pilot, then draws), so
    that the numbers are the same in order and on threads."""

    def __init__(self, stop_at: set[tuple[int, int]] = frozenset()):
        self.stop_at = set(stop_at)
        self.calls: list[int] = []  # per task
        self.threads: set[int] = set()
        self._lock = threading.Lock()
        self._current = threading.local()

    def wrap_runner(self, run_groups: Callable[..., list]) -> Callable[..., list]:
        """``run_groups`` whose tasks tell :meth:`step` which task is running."""

        def runner(fn, tasks, *args, **kwargs):
            offset = len(self.calls)
            self.calls.extend([0] * len(tasks))

            def task_fn(task):
                place = next(i for i, t in enumerate(tasks) if t is task)
                self._current.index = offset + place
                try:
                    return fn(task)
                finally:
                    self._current.index = None

            return run_groups(task_fn, tasks, *args, **kwargs)

        return runner

    def step(self) -> None:
        index = getattr(self._current, "index", None)
        if index is None:  # outside the group tasks (a family's warm start)
            return
        with self._lock:
            self.calls[index] += 1
            self.threads.add(torch.get_num_threads())
            hit = (index, self.calls[index]) in self.stop_at
        if hit:
            raise KeyboardInterrupt


def _patch_step(monkeypatch, probe: Probe, cls: type, name: str) -> None:
    original = getattr(cls, name)

    def patched(self, *args, **kwargs):
        probe.step()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, patched)


@dataclasses.dataclass
class Family:
    """One family's grouped run, with two groups, and how to read its result."""

    name: str
    fit: Callable[[Probe], Any]  # run with the probe installed
    module: Any  # the module that calls run_groups
    step: tuple[type, str] | None  # per-step method to probe (None: fit calls probe.step)
    draws: Callable[[Any], np.ndarray]  # (chain or walker, ...)
    marks: Callable[[Any], tuple[bool, list[dict]]]  # interrupted flag, attrs of the groups
    n_units: int  # chains or walkers
    first_task: int  # index of the first group task of the sampling stage
    late: int  # calls before a group's end that fall in its draws
    progress: Callable[[int], str]  # of a run that kept the first of two groups, by its size
    torch_threads: int | None  # set inside the tasks (None: the caller's count)
    threaded: Callable[[Probe], Any] | None = None  # the same run on threads


# --- core sample -----------------------------------------------------------------------------

CORE_RWM = {"method": "rwm", "draws": 50, "tune": 20, "random_state": 1, "progressbar": False}


def _core_fit(probe: Probe):
    def log_prob(theta: torch.Tensor) -> torch.Tensor:
        probe.step()
        return -0.5 * (theta**2).sum(-1)

    init = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return sample(log_prob, init, chain_groups=2, **CORE_RWM)


def _core_marks(result) -> tuple[bool, list[dict]]:
    return result.interrupted and is_interrupted(result), [
        dict(result.to_inference_data().posterior.attrs)
    ]


# --- estimators (BNN, GP): idata_ ------------------------------------------------------------


def _posterior_draws(estimator) -> np.ndarray:
    """Every per-draw value of ``idata_`` (posterior, sample_stats, log_likelihood, ...),
    ``(chain, draw, -1)``."""
    idata = estimator.idata_
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    columns = [
        value.values.astype(np.float64).reshape(chains, draws, -1)
        for group in idata.groups()
        for value in idata[group].values()
        if value.dims[:2] == ("chain", "draw")
    ]
    return np.concatenate(columns, axis=-1)


def _estimator_marks(estimator) -> tuple[bool, list[dict]]:
    idata = estimator.idata_
    flag = estimator.interrupted_ is True and is_interrupted(estimator)
    return flag, [dict(idata[group].attrs) for group in idata.groups()]


BNN_RNG = np.random.default_rng(0)
BNN_X = BNN_RNG.uniform(-2, 2, size=(30, 1))
BNN_Y = np.sin(BNN_X[:, 0]) + 0.1 * BNN_RNG.normal(size=30)
BNN_NUTS = NUTS(draws=30, tune=20, chains=2, max_treedepth=4, chain_groups=2)


def _bnn_fit(probe: Probe):
    net = BayesianNeuralNetwork(hidden=(3,), method=BNN_NUTS, random_state=2)
    return net.fit(BNN_X, BNN_Y, progressbar=False)


GP_RNG = np.random.default_rng(5)
GP_X = GP_RNG.uniform(0, 4, size=(25, 1))
GP_Y = np.sin(2 * GP_X[:, 0]) + 0.2 * GP_RNG.normal(size=25)
# tune = 50: 20 NUTS iterations under the Laplace whitening, 15 pilot draws, then 15 more.
GP_NUTS = NUTS(draws=20, tune=50, chains=2, chain_groups=2)


def _gp_fit(probe: Probe, chain_threads: int = 1):
    gp = GPRegression(
        ard=False, method=GP_NUTS, random_state=4, num_threads=1, chain_threads=chain_threads
    )
    return gp.fit(GP_X, GP_Y, progressbar=False)


# --- vmc estimate ----------------------------------------------------------------------------


def _vmc_fit(probe: Probe):
    dot, wf = vmc.QuantumDot(2), vmc.GaussianJastrow(0.45, "pade", beta=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixingWarning)
        return vmc.estimate(
            wf, dot, vmc.Metropolis(), 40, 64, 10, walker_groups=2, random_state=3,
            progressbar=False,
        )  # fmt: skip


def _vmc_marks(est) -> tuple[bool, list[dict]]:
    idata = est.idata
    return est.interrupted and is_interrupted(est), [dict(idata[g].attrs) for g in idata.groups()]


def _draws_per_chain(draws: int) -> Callable[[int], str]:
    return lambda kept: groups_progress(kept, 2 * kept, 1, 2, f"{draws} of {draws} draws per chain")


FAMILIES = {
    "core-sample": Family(
        "core-sample",
        _core_fit,
        sampling,
        None,
        lambda r: r.samples.numpy(),
        _core_marks,
        n_units=4,
        first_task=0,
        late=3,
        progress=_draws_per_chain(CORE_RWM["draws"]),
        torch_threads=None,  # the core sampler leaves the caller's count
    ),
    "bnn-nuts": Family(
        "bnn-nuts",
        _bnn_fit,
        bnn_groups,
        # Every full-batch evaluation (log_prob included) goes through value_and_grad.
        (posterior.Posterior, "value_and_grad"),
        _posterior_draws,
        _estimator_marks,
        n_units=2,
        first_task=0,
        late=3,
        progress=_draws_per_chain(BNN_NUTS.draws),
        torch_threads=1,
    ),
    "gp-nuts": Family(
        "gp-nuts",
        _gp_fit,
        gp_nuts,
        (nuts_target.ChainDensity, "evaluate"),
        _posterior_draws,
        _estimator_marks,
        n_units=2,
        first_task=2,  # tasks 0 and 1 are the pilot runs
        late=10,
        progress=_draws_per_chain(GP_NUTS.draws),
        torch_threads=1,  # num_threads
        threaded=lambda probe: _gp_fit(probe, chain_threads=2),
    ),
    "vmc-estimate": Family(
        "vmc-estimate",
        _vmc_fit,
        vmc_estimation,
        (Walkers, "step_with_energy"),
        lambda est: est.local_energies,
        _vmc_marks,
        n_units=40,
        first_task=0,
        late=3,
        progress=lambda kept: groups_progress(
            kept, 2 * kept, 1, 2, "64 of 64 steps per walker", unit="walker"
        ),
        torch_threads=1,  # one torch thread beside numba's step
    ),
}
THREADED = [name for name, family in FAMILIES.items() if family.threaded is not None]


def _run(monkeypatch, family: Family, probe: Probe, *, threaded: bool = False):
    with monkeypatch.context() as patch:
        patch.setattr(family.module, "run_groups", probe.wrap_runner(family.module.run_groups))
        if family.step is not None:
            _patch_step(patch, probe, *family.step)
        return (family.threaded if threaded else family.fit)(probe)


@pytest.fixture
def caller_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(CALLER_THREADS)
    yield CALLER_THREADS
    torch.set_num_threads(before)


def _cases() -> list[tuple[str, bool]]:
    """Every family in order, and those that offer threads on threads."""
    return [(name, False) for name in FAMILIES] + [(name, True) for name in THREADED]


CASES = pytest.mark.parametrize(
    ("name", "threaded"),
    _cases(),
    ids=[f"{name}-{'threads' if threaded else 'in-order'}" for name, threaded in _cases()],
)


def _interrupt_warnings(record) -> list[str]:
    return [str(w.message) for w in record if w.category is InterruptedRunWarning]


@CASES
def test_ctrl_c_in_the_second_group_keeps_the_first_complete_group_marked(
    monkeypatch, name, threaded
):
    family = FAMILIES[name]
    counting = Probe()
    full = _run(monkeypatch, family, counting, threaded=threaded)
    flag, attrs = family.marks(full)
    assert not flag and all("interrupted" not in a for a in attrs)
    second = family.first_task + 1
    assert len(counting.calls) == second + 1 and counting.calls[second] > family.late
    group_size = family.n_units // 2
    # Early (tuning or the first steps) and late (its draws) in the second group.
    for call in (3, counting.calls[second] - family.late):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            cut = _run(monkeypatch, family, Probe({(second, call)}), threaded=threaded)
        full_draws, kept = family.draws(full), family.draws(cut)
        # The first group's draws, bit for bit; nothing of the partial second group.
        assert kept.shape == (group_size, *full_draws.shape[1:]), call
        np.testing.assert_array_equal(kept, full_draws[:group_size])
        flag, attrs = family.marks(cut)
        assert flag and all(a["interrupted"] == 1 for a in attrs)
        messages = _interrupt_warnings(record)
        one_warning = len(messages) == 1 and family.progress(group_size) in messages[0]
        if (name, threaded) == ("gp-nuts", True) and not one_warning:
            # Known break, reported (not fixed here): each GP group silences its inner
            # sample()'s warning with warnings.catch_warnings(), which swaps the process-wide
            # filters and is not thread-safe. On threads the groups' swaps interleave: the
            # inner warning ("sample(method='nuts') interrupted: keeping 16 of 20 ...") leaks
            # out, or the ignore filter outlives the groups and swallows GPRegression.fit's.
            pytest.xfail(f"GP NUTS on threads, Ctrl-C at call {call}: warnings {messages}")
        assert len(messages) == 1, messages  # one warning, not one per layer
        assert family.progress(group_size) in messages[0]
        assert re.search(r"\b1 of 2 \w+ groups", messages[0])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_progress_is_the_runners_wording(monkeypatch, name):
    """The warning and the ``interrupted_progress`` attrs say the same, in the words of
    ``core.chains.groups_progress``."""
    family = FAMILIES[name]
    counting = Probe()
    _run(monkeypatch, family, counting)
    second = family.first_task + 1
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        cut = _run(monkeypatch, family, Probe({(second, counting.calls[second] - family.late)}))
    group_size = family.n_units // 2
    # The runner's part, before the family's "how far each kept chain got".
    unit = "walker" if name == "vmc-estimate" else "chain"
    expected = groups_progress(group_size, 2 * group_size, 1, 2, "", unit=unit).rsplit(",", 1)[0]
    (message,) = _interrupt_warnings(record)
    _, attrs = family.marks(cut)
    progress = {a["interrupted_progress"] for a in attrs}
    assert len(progress) == 1 and progress.pop() in message
    assert expected in message


@CASES
def test_ctrl_c_before_any_group_completes_reraises(monkeypatch, name, threaded, caller_threads):
    family = FAMILIES[name]
    # Early in each group (on threads both run when Ctrl-C comes; in order the second does
    # not start).
    first = family.first_task
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterruptedRunWarning)  # nothing kept, nothing to say
        with pytest.raises(KeyboardInterrupt):
            _run(monkeypatch, family, Probe({(first, 3), (first + 1, 3)}), threaded=threaded)
    assert torch.get_num_threads() == caller_threads  # the limiter restored it


@CASES
def test_group_tasks_run_with_the_limiters_torch_threads(monkeypatch, name, threaded,
                                                         caller_threads):  # fmt: skip
    family = FAMILIES[name]
    probe = Probe()
    _run(monkeypatch, family, probe, threaded=threaded)
    assert len(probe.calls) >= 2 and all(n > 0 for n in probe.calls)
    expected = caller_threads if family.torch_threads is None else family.torch_threads
    assert probe.threads == {expected}
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("name", THREADED)
def test_equal_seeds_give_equal_results_in_order_and_on_threads(monkeypatch, name):
    family = FAMILIES[name]
    in_order = _run(monkeypatch, family, Probe())
    threaded_probe = Probe()
    on_threads = _run(monkeypatch, family, threaded_probe, threaded=True)
    assert len(threaded_probe.calls) >= 2
    for group in in_order.idata_.groups():
        for var, value in in_order.idata_[group].items():
            np.testing.assert_array_equal(
                on_threads.idata_[group][var].values, value.values, err_msg=f"{group}.{var}"
            )
    # Two distinct chains: equal draws would hide a shared seed.
    draws = family.draws(in_order)
    assert not np.array_equal(draws[0], draws[1])


@pytest.mark.parametrize("limit", [1, 2])
def test_compiled_nuts_in_each_group_uses_the_limiters_thread_count(monkeypatch, limit):
    """The compiled NUTS kernel starts no more threads in a group task than the one thread
    limiter allows there (as torch's count), so groups on threads or Dask workers do not
    oversubscribe the cores."""
    pytest.importorskip("numba")
    from bayesphys.core.samplers import compiled_nuts
    from bayesphys.core.threads import torch_threads
    from tests.core.test_compiled_nuts import TARGET

    seen = []  # (limiter's count, chains, kernel threads) at each compiled step
    original = compiled_nuts._step_threads

    def spy(n_chains, threads=None):
        used = original(n_chains, threads)
        seen.append((torch.get_num_threads(), n_chains, used))
        return used

    monkeypatch.setattr(compiled_nuts, "_step_threads", spy)
    init = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch_threads(limit, blas=False):
        sample(
            TARGET, init, method=compiled_nuts.CompiledNUTS(), draws=5, tune=5, chain_groups=2,
            random_state=1, progressbar=False, compute_convergence_checks=False,
        )  # fmt: skip
    assert len(seen) == 2 * 10  # both groups' steps went through the compiled kernel
    assert set(seen) == {(limit, 2, limit)}


@pytest.mark.parametrize("limit", [1, 2])
def test_bnn_chain_groups_pass_the_limiters_thread_count_to_the_compiled_kernel(monkeypatch, limit):
    """A BNN group task drops torch to one intra-op thread, but its compiled NUTS chains get
    the limiter's count for the task (capped at the group's chains)."""
    pytest.importorskip("numba")
    from bayesphys.core.samplers import compiled_nuts
    from bayesphys.core.threads import torch_threads

    seen = []
    original = compiled_nuts._step_threads

    def spy(n_chains, threads=None):
        used = original(n_chains, threads)
        seen.append((n_chains, used))
        return used

    monkeypatch.setattr(compiled_nuts, "_step_threads", spy)
    method = NUTS(draws=5, tune=5, chains=4, max_treedepth=3, chain_groups=2)
    with torch_threads(limit, blas=False):
        BayesianNeuralNetwork(hidden=(3,), method=method, random_state=2).fit(
            BNN_X, BNN_Y, progressbar=False
        )
    assert seen and set(seen) == {(2, limit)}
