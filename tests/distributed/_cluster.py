"""Helpers of the cluster tests (import after ``pytest.importorskip("dask.distributed")``)."""

import contextlib
import os
import uuid

import distributed

# Seconds a killed worker may take to come back (importing torch and the package in a fresh
# process on a busy 2-core machine); also the cluster's lost-worker timeout (see conftest).
RESTART_TIMEOUT = 300


class KillOnce(distributed.WorkerPlugin):
    """Kill the worker process that starts a task whose key matches ``prefix...suffix`` (once)."""

    def __init__(self, marker: str, prefix: str, suffix: str):
        self.marker = marker
        self.prefix = prefix
        self.suffix = suffix

    def transition(self, key, start, finish, **kwargs):
        key = str(key)
        if finish == "executing" and key.startswith(self.prefix) and key.endswith(self.suffix):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL)  # atomic: only one kill
            except FileExistsError:
                return
            os.close(fd)
            os._exit(1)


@contextlib.contextmanager
def killing_once(client, marker_dir, prefix: str, suffix: str):
    """Within the block, the worker that starts a task ``prefix...suffix`` dies (once).

    Asserts on exit that a worker did die, so a test cannot pass without the fault it is about,
    and waits until its nanny has restarted it: the next test gets the whole cluster (a worker
    importing the package takes seconds to come back, more on a busy machine).
    """
    marker = marker_dir / "killed"
    name = f"kill-once-{uuid.uuid4().hex[:8]}"
    workers = len(client.nthreads())
    client.register_plugin(KillOnce(str(marker), prefix, suffix), name=name)
    try:
        yield
    finally:
        client.unregister_worker_plugin(name)
        client.wait_for_workers(workers, timeout=RESTART_TIMEOUT)
    assert marker.exists(), f"no task {prefix}...{suffix} started: no worker was killed"
