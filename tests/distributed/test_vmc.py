"""``vmc.estimate`` on Dask: walker groups give the same numbers wherever they run."""

import numpy as np
import pytest

from bayesphys import vmc
from bayesphys.core.distributed import open_client
from tests.distributed.test_cluster import KillOnce, client  # noqa: F401 (fixture)

pytest.importorskip("dask.distributed")

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


def _problem():
    # Two electrons in a 2-d Coulomb dot with a Pade-Jastrow trial function: the fused step,
    # kinetic/potential split, pair distances and density are all exercised.
    system = vmc.HarmonicTrap(2, 2, omega=1.0, interaction="coulomb")
    return vmc.GaussianJastrow(0.9, "pade", beta=0.4), system


def _estimate(on=None, sampler=None, **kwargs):
    wf, system = _problem()
    sampler = sampler or vmc.Metropolis(1.0)
    return vmc.estimate(wf, system, sampler, 90, 48, 16, seed=7, client=on, **kwargs)


def _assert_identical(a, b):
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x == y or (np.isnan(x) and np.isnan(y)), (name, x, y)
    np.testing.assert_array_equal(a.local_energies, b.local_energies)
    np.testing.assert_array_equal(a.density, b.density)
    np.testing.assert_array_equal(a.blocking.stderr_by_level, b.blocking.stderr_by_level)


@pytest.mark.parametrize("sampler", [vmc.Metropolis(1.0), vmc.Langevin(0.2)], ids=repr)
def test_estimate_on_two_workers_is_bit_for_bit_in_process(client, sampler):  # noqa: F811
    reference = _estimate(sampler=sampler, walker_groups=3)
    _assert_identical(_estimate(client, sampler=sampler, walker_groups=3), reference)
    # Groups do change the numbers (own seeds), and they still estimate the same energy.
    single = _estimate(sampler=sampler)
    assert not np.array_equal(single.local_energies, reference.local_energies)
    assert reference.local_energies.shape == (90, 48)
    assert abs(single.energy - reference.energy) < 5 * (single.stderr + reference.stderr)
    assert reference.density.sum() * (reference.density_r[1] - reference.density_r[0]) > 0


def test_one_group_on_a_worker_is_the_in_process_default(client):  # noqa: F811
    _assert_identical(_estimate(client, walker_groups=1), _estimate())


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_estimate_on_one_worker_is_the_same():
    with open_client(workers=1) as one:
        _assert_identical(_estimate(one, walker_groups=3), _estimate(walker_groups=3))


def test_estimate_survives_a_killed_worker(client, tmp_path):  # noqa: F811
    reference = _estimate(walker_groups=4)
    marker = tmp_path / "killed"
    client.register_plugin(KillOnce(str(marker), "vmc-estimate", "-2"), name="kill-vmc")
    try:
        result = _estimate(client, walker_groups=4)
    finally:
        client.unregister_worker_plugin("kill-vmc")
    assert marker.exists()  # a worker did die mid-run
    _assert_identical(result, reference)


def test_estimate_rejects_bad_client_and_groups():
    with pytest.raises(TypeError, match="client"):
        _estimate("foo")
    with pytest.raises(ValueError, match="walker_groups"):
        _estimate(walker_groups=91)
    with pytest.raises(ValueError, match="walker_groups"):
        _estimate(walker_groups=0)
