"""The distribution layer without a cluster: seeds, argument checks, in-process tasks, errors."""

import re
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bayesphys.core import distributed as dist

pytest.importorskip("dask.distributed")


def test_spawn_seeds_are_reproducible_independent_streams():
    seeds = dist.spawn_seeds(7, 6)
    assert seeds == dist.spawn_seeds(7, 6)
    assert dist.spawn_seeds(7, 3) == seeds[:3]  # task i's stream does not depend on n
    assert len(set(seeds)) == 6 and all(0 <= s < 2**63 for s in seeds)
    ss = np.random.SeedSequence(7)
    assert dist.spawn_seeds(ss, 6) == seeds
    assert dist.spawn_seeds(8, 6) != seeds
    assert dist.spawn_seeds(0, 0) == []
    # Usable by numpy and torch alike.
    np.random.default_rng(seeds[0])
    import torch

    torch.Generator().manual_seed(seeds[0])


@pytest.mark.parametrize(
    ("seed", "n", "error", "match"),
    [
        (1, -1, ValueError, "n must be"),
        (1, 2.5, TypeError, "n must be"),
        (-3, 2, ValueError, "random_state must be"),
        ("x", 2, TypeError, "random_state must be"),
    ],
)
def test_spawn_seeds_bad_input(seed, n, error, match):
    with pytest.raises(error, match=match):
        dist.spawn_seeds(seed, n)


def test_check_client_rejects_non_clients():
    assert dist.check_client(None) is None
    with pytest.raises(TypeError, match=r"client must be a dask\.distributed\.Client"):
        dist.check_client("foo")
    with pytest.raises(TypeError, match="client"):
        dist.map_tasks(abs, [1], client="tcp://127.0.0.1:8786")


def test_map_tasks_in_process_keeps_order():
    assert dist.map_tasks(abs, [-3, 2, -1]) == [3, 2, 1]
    assert dist.map_tasks(abs, iter([])) == []
    with pytest.raises(ValueError, match="retries"):
        dist.map_tasks(abs, [1], retries=-1)


def test_works_without_dask(monkeypatch):
    # None in sys.modules makes `import distributed` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    assert dist.map_tasks(abs, [-1, 2]) == [1, 2]
    with pytest.raises(ImportError, match=r"pip install 'bayesphys\[distributed\]'"):
        dist.check_client(object())
    with pytest.raises(ImportError, match=r"bayesphys\[distributed\]"):
        with dist.open_client(workers=1):
            pass
    # No module of the package imports dask at import time.
    for path in Path(dist.__file__).parents[1].rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not line.startswith(("import dask", "from dask", "import distributed")), path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_fast_naming_the_address():
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.perf_counter()
    with pytest.raises(OSError, match=re.escape(address)):
        with dist.open_client(scheduler=address, timeout=1):
            pass
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheduler": "tcp://127.0.0.1:1", "workers": 2}, "not both"),
        ({"workers": 0}, "workers must be"),
        ({"scheduler": ""}, "scheduler must be"),
        ({"scheduler": "foo"}, "not a scheduler address"),
        ({"scheduler": "xyz://127.0.0.1:1"}, "not a scheduler address"),
        ({"scheduler": "tcp://127.0.0.1:1", "timeout": 0}, "timeout"),
    ],
)
def test_open_client_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        with dist.open_client(**kwargs):
            pass


def test_open_client_without_options_is_in_process():
    with dist.open_client() as client:
        assert client is None
    assert dist.worker_count(None) == 1
