"""Helpers of the cluster tests (import after ``pytest.importorskip("dask.distributed")``)."""

import contextlib
import os
import uuid

import distributed


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

    Asserts on exit that a worker did die, so a test cannot pass without the fault it is about.
    """
    marker = marker_dir / "killed"
    name = f"kill-once-{uuid.uuid4().hex[:8]}"
    client.register_plugin(KillOnce(str(marker), prefix, suffix), name=name)
    try:
        yield
    finally:
        client.unregister_worker_plugin(name)
    assert marker.exists(), f"no task {prefix}...{suffix} started: no worker was killed"
