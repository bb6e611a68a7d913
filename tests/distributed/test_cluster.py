"""Mass-model averaging and the task layer on two local worker processes (conftest's cluster):
same numbers as in-process, surviving a killed worker."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.cli import main
from bayesphys.core.distributed import map_tasks, worker_count
from bayesphys.data.masses import existence_outcomes, load_ame, new_measurements
from bayesphys.gp import GPRegression
from bayesphys.inference import MAP
from bayesphys.studies import run_study

distributed = pytest.importorskip("dask.distributed")

from tests.distributed._cluster import killing_once  # noqa: E402

MODELS = ["FRDM95", "DUZU"]
Z_RANGE = (8, 30)
# The flagship study cut down to two models on Z <= 30, so that a run takes seconds; the
# residual fits below use the same data and settings.
SMALL_STUDY = """
[fast]
models = ["FRDM95", "DUZU"]
z_max = 30
drip_elements = [8, 20]
"""
SEED = 11  # the study's
SETTINGS = {"observable": "S2n", "weights": "existence", "random_state": SEED}
# The study's default scheme: bound status of the nuclei first measured after the training set.
STATUS = existence_outcomes(2003, 2012, z_range=Z_RANGE).query("N >= 8")[["Z", "N", "bound"]]


@pytest.fixture(scope="module")
def data():
    train = load_ame(2003)
    train = train[train["Z"].between(*Z_RANGE)].reset_index(drop=True)
    return train, new_measurements(2003, 2020, "S2n", z_range=Z_RANGE)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The small study run in-process through the CLI runner: its outputs and fitted model."""
    out = tmp_path_factory.mktemp("in_process")
    (out / "small.toml").write_text(SMALL_STUDY)
    outcome = run_study("nuclear-mass-bma", out / "run", fast=True, config=out / "small.toml")
    return outcome


def _assert_same(fitted, pred, reference):
    bma, expected = reference
    np.testing.assert_allclose(fitted.weights_, bma.weights_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fitted.log_scores_, bma.log_scores_, rtol=1e-12, atol=0)
    columns = [c for c in expected.columns if c not in ("Z", "N", "observable")]
    np.testing.assert_allclose(pred[columns], expected[columns], rtol=1e-12, atol=1e-12)
    for name, model in bma.corrected_.items():
        other = fitted.corrected_[name]
        assert set(other.residual_models) == set(model.residual_models)
        for cls, residual in model.residual_models.items():
            for key, value in residual.hyperparameters_.items():
                np.testing.assert_allclose(
                    other.residual_models[cls].hyperparameters_[key], value, rtol=1e-12
                )


def test_bma_fit_and_predict_match_in_process(client, data, in_process):
    train, test = data
    reference = in_process.result["bma"]
    expected = (reference, reference.predict(test))
    bma = MassModelAveraging(MODELS, **SETTINGS).fit(train, existence_table=STATUS, client=client)
    _assert_same(bma, bma.predict(test, client=client), expected)
    # Fitted on the workers, predicted here (and the other way round): same state.
    _assert_same(bma, bma.predict(test), expected)
    np.testing.assert_allclose(
        reference.predict(test, client=client)["bma_std"], expected[1]["bma_std"], rtol=1e-12
    )


def _square_on_worker(x):
    import torch

    if x == 2:
        warnings.warn("task two is odd", RuntimeWarning, stacklevel=1)
    return x * x, os.getpid(), torch.get_num_threads()


def test_map_tasks_on_workers_keeps_order_threads_and_warnings(client):
    assert worker_count(client) == 2
    with pytest.warns(RuntimeWarning, match="task two is odd"):
        out = map_tasks(_square_on_worker, range(6), client, name="square")
    assert [r[0] for r in out] == [x * x for x in range(6)]
    assert {r[2] for r in out} == {1}  # one torch thread per worker process
    assert os.getpid() not in {r[1] for r in out}


def _fail(x):
    raise ValueError(f"bad task {x}")


def test_task_errors_reach_the_caller(client):
    with pytest.raises(ValueError, match="bad task"):
        map_tasks(_fail, [1, 2], client, retries=0)


def test_bma_rejects_a_non_client(data, in_process):
    train, test = data
    with pytest.raises(TypeError, match="client"):
        MassModelAveraging(MODELS, **SETTINGS).fit(train, existence_table=STATUS, client="foo")
    with pytest.raises(TypeError, match="client"):
        in_process.result["bma"].predict(test, client=object())


def test_cli_run_on_the_cluster_gives_the_same_report_numbers(client, in_process, tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(SMALL_STUDY)
    args = ["run", "nuclear-mass-bma", "--fast", "--config", config, "--out", tmp_path / "dask"]
    assert main([str(a) for a in [*args, "--scheduler", client.scheduler.address]]) == 0
    for name in ["models.csv", "drip_lines.csv", "existence_probability.csv"]:
        local = pd.read_csv(in_process.out_dir / name)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask" / name), local, rtol=1e-12)
    summary = (in_process.out_dir / "summary.md").read_text()
    assert (tmp_path / "dask" / "summary.md").read_text() == summary
    assert worker_count(client) == 2  # the CLI closed its client, not the cluster


def test_bma_survives_a_killed_worker(client, data, tmp_path):
    train, test = data
    # Lighter settings: the surviving worker fits every task while the other one restarts.
    # One optimiser restart drawn from the priors: the fits depend on each task's seed.
    light = {
        "weights": "uniform",
        "residual_model": GPRegression(method=MAP(n_restarts=1)),
        "random_state": 5,
    }
    reference = MassModelAveraging(MODELS[:1], **light).fit(train)
    # The last of the four fits kills its worker: that task and the finished fits whose results
    # the dead worker held are redone on the other one (or on the restarted worker).
    with killing_once(client, tmp_path, "bma-fit-residual", "-3"):
        bma = MassModelAveraging(MODELS[:1], **light).fit(train, client=client)
    _assert_same(bma, bma.predict(test), (reference, reference.predict(test)))


def test_a_killed_worker_comes_back_however_slowly(client, tmp_path):
    import dask
    from dask.utils import parse_timedelta

    # Dask's local cluster closes the nanny of a worker that has not re-registered within the
    # lost-worker timeout (15 s by default), and the run goes on one worker short; restarting a
    # worker that imports torch and the package took longer than that on a busy CI machine.
    timeout = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
    assert timeout >= 60
    with killing_once(client, tmp_path, "die-", ""):
        # The task is redone on the other worker (the kill happens once).
        assert client.submit(os.getpid, key="die-now", pure=False).result() > 0
    assert worker_count(client) == 2  # killing_once waited for the restart
