"""Helpers of the cluster tests (import after ``pytest.importorskip("dask.distributed")``)."""

import os

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
