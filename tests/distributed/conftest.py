"""A session-wide ``LocalCluster`` with 2 worker processes (loopback only) for these tests.

Starting workers and importing the package in them is most of the cost, so every module of
this folder shares one cluster. Helpers defined in the test modules are pickled by value: the
workers need not import the test package.
"""

import numpy as np
import pytest


def _warm_up():
    # Importing the package and the first fit (lazy imports behind it) take seconds per process.
    from bayesphys.gp import GPRegression

    X = np.linspace(0.0, 1.0, 8)[:, None]
    GPRegression(random_state=0).fit(X, np.sin(X[:, 0]))


@pytest.fixture(scope="session")
def client():
    pytest.importorskip("dask.distributed")
    import cloudpickle
    import distributed

    import tests
    from bayesphys.core.distributed import open_client

    cloudpickle.register_pickle_by_value(tests)
    # The package's own local cluster (2 single-threaded worker processes on loopback, a lost
    # worker given time to come back): the tests run against what `--workers 2` starts.
    with open_client(workers=2) as client:
        # Warm both workers up in the background while this process runs the in-process
        # reference (fire and forget: no result is kept, so none is recomputed when a worker
        # is killed).
        for worker in client.nthreads():
            distributed.fire_and_forget(client.submit(_warm_up, pure=False, workers=[worker]))
        yield client
    cloudpickle.unregister_pickle_by_value(tests)
