"""Predictions on a Dask client send the fitted residual models once, outside the task graph."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesphys.bma import MassModelAveraging
from bayesphys.bma._residuals import predict_residual
from bayesphys.core.distributed import map_tasks
from bayesphys.data.masses import load_ame, new_measurements

distributed = pytest.importorskip("dask.distributed")
dask = pytest.importorskip("dask")

Z_RANGE = (20, 26)
THRESHOLD = "distributed.admin.large-graph-warning-threshold"


@pytest.fixture(scope="module")
def fitted():
    train = load_ame(2003)
    train = train[train["Z"].between(*Z_RANGE)].reset_index(drop=True)
    test = new_measurements(2003, 2020, "S2n", z_range=Z_RANGE)
    bma = MassModelAveraging(["FRDM95", "DUZU"], weights="uniform", random_state=3).fit(train)
    return bma, test


@pytest.fixture(scope="module")
def client():
    # In-process workers: the graph is serialised (and its size checked) all the same.
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def _large_graph_warnings(caught):
    return [w for w in caught if "Sending large graph" in str(w.message)]


def test_predict_on_a_client_keeps_the_models_out_of_the_graph(fitted, client):
    bma, test = fitted
    models = [m for c in bma.corrected_.values() for m in c.residual_models.values()]
    # MAP fits are small; NUTS fits carry their draws (~45 MiB for the flagship's chart). A
    # threshold below the models' own size stands in for that: a graph carrying them warns.
    threshold = f"{len(pickle.dumps(models)) // 2}B"
    X = np.array([[22.0, 30.0]])
    with dask.config.set({THRESHOLD: threshold}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            map_tasks(predict_residual, [(m, X) for m in models], client)
        assert _large_graph_warnings(caught), "the threshold must catch a graph with the models"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            on_client = bma.predict(test, client=client)
    assert not _large_graph_warnings(caught)
    pd.testing.assert_frame_equal(on_client, bma.predict(test), rtol=1e-12, atol=1e-12)
