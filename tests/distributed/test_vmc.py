"""``vmc.estimate`` on Dask: walker groups give the same numbers wherever they run."""

import numpy as np
import pandas as pd
import pytest
import torch

from bayesphys import vmc
from bayesphys.core.distributed import open_client

distributed = pytest.importorskip("dask.distributed")

from tests.distributed._cluster import killing_once  # noqa: E402

FIELDS = [
    "energy",
    "stderr",
    "variance",
    "acceptance",
    "tau_corr",
    "kinetic",
    "kinetic_stderr",
    "potential",
    "potential_stderr",
    "r12",
    "step_size",
]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Workers run one torch thread; the in-process references must too to be bit for bit equal:
    # a multi-threaded matrix product (the SR overlap matrix) splits its sums by thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _problem():
    # Two electrons in a 2-d Coulomb dot with a Pade-Jastrow trial function: the fused step,
    # kinetic/potential split, pair distances and density are all exercised.
    system = vmc.HarmonicTrap(2, 2, omega=1.0, interaction="coulomb")
    return vmc.GaussianJastrow(0.9, "pade", beta=0.4), system


def _estimate(on=None, sampler=None, **kwargs):
    wf, system = _problem()
    sampler = sampler or vmc.Metropolis(1.0)
    return vmc.estimate(
        wf, system, sampler, 90, 48, 16, random_state=7, progressbar=False, client=on, **kwargs
    )


def _assert_identical(a, b):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x == y or (np.isnan(x) and np.isnan(y)), (name, x, y)
    np.testing.assert_array_equal(a.local_energies, b.local_energies)
    np.testing.assert_array_equal(a.density, b.density)
    np.testing.assert_array_equal(a.blocking.stderr_by_level, b.blocking.stderr_by_level)


@pytest.mark.parametrize("sampler", [vmc.Metropolis(1.0), vmc.Langevin(0.2)], ids=repr)
def test_estimate_on_two_workers_is_bit_for_bit_in_process(client, sampler):
    reference = _estimate(sampler=sampler, walker_groups=3)
    _assert_identical(_estimate(client, sampler=sampler, walker_groups=3), reference)
    # Groups do change the numbers (own seeds), and they still estimate the same energy.
    single = _estimate(sampler=sampler)
    assert not np.array_equal(single.local_energies, reference.local_energies)
    assert reference.local_energies.shape == (90, 48)
    assert abs(single.energy - reference.energy) < 5 * (single.stderr + reference.stderr)
    assert reference.density.sum() * (reference.density_r[1] - reference.density_r[0]) > 0


def test_one_group_on_a_worker_is_the_in_process_default(client):
    _assert_identical(_estimate(client, walker_groups=1), _estimate())


def test_estimate_on_one_worker_is_the_same():
    with open_client(workers=1) as one:
        _assert_identical(_estimate(one, walker_groups=3), _estimate(walker_groups=3))
        _assert_same_optimisation(_optimize(one, walker_groups=2), _optimize(walker_groups=2))


def test_estimate_survives_a_killed_worker(client, tmp_path):
    reference = _estimate(walker_groups=4)
    with killing_once(client, tmp_path, "vmc-estimate", "-2"):
        result = _estimate(client, walker_groups=4)
    _assert_identical(result, reference)


def test_estimate_rejects_bad_client_and_groups():
    with pytest.raises(TypeError, match="client"):
        _estimate("foo")
    with pytest.raises(ValueError, match="walker_groups"):
        _estimate(walker_groups=91)
    with pytest.raises(ValueError, match="walker_groups"):
        _estimate(walker_groups=0)


def _optimize(on=None, optimizer="adam", **kwargs):
    wf, system = _problem()
    lr = {"adam": 0.02, "sr": 0.2}[optimizer]
    options = {"n_walkers": 90, "steps_per_iteration": 4, "burn_in": 20, "progressbar": False}
    return vmc.optimize(
        wf, system, vmc.Metropolis(1.0), optimizer, 6, learning_rate=lr, random_state=3, client=on,
        **(options | kwargs),
    )  # fmt: skip


def _assert_same_optimisation(a, b):
    pd.testing.assert_frame_equal(a.history, b.history, rtol=0, atol=0)
    for p, q in zip(a.wavefunction.parameters(), b.wavefunction.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("optimizer", ["adam", "sr"])
def test_optimize_on_two_workers_is_bit_for_bit_in_process(client, optimizer):
    reference = _optimize(optimizer=optimizer, walker_groups=3)
    _assert_same_optimisation(_optimize(client, optimizer, walker_groups=3), reference)
    # One group on a worker is the in-process default.
    _assert_same_optimisation(
        _optimize(client, optimizer, walker_groups=1), _optimize(optimizer=optimizer)
    )


def test_optimize_walkers_stay_on_their_worker(client):
    with distributed.get_task_stream(client) as stream:
        _optimize(client, walker_groups=4, checkpoint_every=100)
    where: dict = {}
    for task in stream.data:
        key = str(task["key"])
        # vmc-optimize-<token>-<iteration>-<group>: the iterations of each group
        if key.startswith("vmc-optimize-") and not key.startswith(("vmc-optimize-s",)):
            group = key.rsplit("-", 1)[1]
            where.setdefault(group, set()).add(task["worker"])
    assert len(where) == 4
    # Between two copies back (none here before the end) a group never changes worker.
    assert all(len(workers) == 1 for workers in where.values()), where


def test_optimize_survives_a_killed_worker(client, tmp_path):
    reference = _optimize(walker_groups=4, checkpoint_every=3)
    # Iteration 5 of group 2: its state of iteration 4 dies with the worker and is recomputed
    # from the copy taken after iteration 3.
    with killing_once(client, tmp_path, "vmc-optimize-", "-5-2"):
        result = _optimize(client, walker_groups=4, checkpoint_every=3)
    _assert_same_optimisation(result, reference)


def test_quantum_dot_study_on_the_cluster_matches_in_process(client, tmp_path):
    from bayesphys.studies import load_study, supports_client

    assert supports_client("quantum-dot-vmc") and supports_client("bnn-mass-residuals")
    study, config = load_study("quantum-dot-vmc")
    config["fast"] = {**config["fast"], "n_iterations": 3, "estimate_steps": 32}
    config["run"] = {**config["run"], "walker_groups": 2}
    # Workers run torch on one thread; matrix products of the RBM's SR step round differently
    # with two, so the in-process reference uses one as well.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = study.run(config, tmp_path / "here", fast=True)["table"]
    finally:
        torch.set_num_threads(threads)
    remote = study.run(config, tmp_path / "there", fast=True, client=client)["table"]
    pd.testing.assert_frame_equal(remote, local, rtol=0, atol=0)
