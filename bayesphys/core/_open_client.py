"""Opening a Dask client for ``--scheduler ADDRESS`` or ``--workers N`` (see
:func:`bayesphys.core.distributed.open_client`, which re-exports it)."""

from __future__ import annotations

import contextlib
import logging
import numbers
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

# Seconds a lost worker of a local cluster has to come back before its nanny is closed for good.
LOST_WORKER_TIMEOUT = 300

if TYPE_CHECKING:  # pragma: no cover - typing only
    from distributed import Client


@contextlib.contextmanager
def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    timeout: float = 10.0,
) -> Iterator[Client | None]:
    """A client for ``--scheduler ADDRESS`` or ``--workers N``, closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    workers : int, optional
        Start a local cluster of this many worker processes (one thread each, loopback only,
        dashboard on a free loopback port) for the duration of the block.
    timeout : float
        Seconds to wait for the scheduler before giving up.

    Yields
    ------
    Client or None
        ``None`` when neither option is given (run in-process).

    Raises
    ------
    OSError
        If the scheduler cannot be reached within ``timeout``; the message names the address.
    ValueError
        If ``scheduler`` is not an address, or both or invalid options are given.
    """
    if scheduler is not None and workers is not None:
        raise ValueError("give either scheduler or workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    if not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    from bayesphys.core.distributed import require_distributed

    distributed = require_distributed()
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError(
                f"scheduler must be an address like 'tcp://host:8786', got {scheduler!r}"
            )
        hint = "is `dask scheduler` running there and reachable from this machine?"
        _probe(distributed, scheduler, timeout, hint)
        try:
            client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
        except Exception as err:
            # Something answered but not as a scheduler (e.g. another service on that port).
            raise OSError(
                f"scheduler: no Dask scheduler answered at {scheduler!r} within {timeout:g} s "
                f"({type(err).__name__}: {err}); {hint}"
            ) from err
        with contextlib.closing(client):
            yield client
        return
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    import dask

    # A local cluster hard-closes the nanny of a lost worker that has not re-registered within
    # this timeout (Dask's default: 15 s) and never replaces it. A killed worker that re-imports
    # torch and the package on a busy machine can take longer than that to come back; the run
    # would then go on with one worker fewer, and lose data scattered to that worker alone.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": f"{LOST_WORKER_TIMEOUT}s"}):
        cluster = distributed.LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # None would still bind the HTTP server to port 8787 (and warn when it is taken).
            dashboard_address="127.0.0.1:0",
        )
        try:
            with distributed.Client(cluster, set_as_default=False) as client:
                yield client
        finally:
            _close_quietly(cluster)


def _probe(distributed, address: str, timeout: float, hint: str) -> None:
    # A plain TCP connect first: a refused or unroutable address fails here at once and
    # cleanly, where a Client would retry until the timeout and leave a half-made client behind.
    try:
        scheme, location = distributed.comm.parse_address(address)
        distributed.comm.registry.get_backend(scheme)
        host, port = distributed.comm.parse_host_port(location)
    except ValueError as err:
        raise ValueError(
            f"scheduler: {address!r} is not a scheduler address ({err}); expected tcp://host:port"
        ) from err
    if scheme in ("tcp", "tls"):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as err:
            raise OSError(
                f"scheduler: cannot connect to {address!r} within {timeout:g} s ({err}); {hint}"
            ) from err


def _close_quietly(cluster) -> None:
    # Workers that imported the package take a few seconds to exit; the nanny then kills them
    # and logs a warning that is noise when we are shutting our own cluster down anyway.
    nanny_log = logging.getLogger("distributed.nanny")
    level = nanny_log.level
    nanny_log.setLevel(logging.ERROR)
    try:
        cluster.close()
    finally:
        nanny_log.setLevel(level)
