"""``bayesphys run ... --workers N | --scheduler ADDRESS``: client set-up, errors, fallbacks.

The report numbers of a distributed run are compared with an in-process one in
``test_cluster.py``, on the warm cluster of that module.
"""

import functools

import pytest

from bayesphys.cli import EXIT_USAGE, main
from bayesphys.core import distributed as dist

pytest.importorskip("dask.distributed")

TOY = '''
"""A toy study that writes down how many workers its client has."""

from pathlib import Path


def run(config, out_dir, *, fast=False, seed=None, client=None):
    from bayesphys.core.distributed import worker_count

    (Path(out_dir) / "workers.txt").write_text(str(worker_count(client)))
    return {"files": {}}
'''


@pytest.fixture
def toy(tmp_path):
    folder = tmp_path / "studies" / "toy"
    folder.mkdir(parents=True)
    (folder / "study.py").write_text(TOY)
    (folder / "config.toml").write_text("[model]\nmu = 1\n")
    return folder


def test_workers_option_hands_a_local_cluster_to_the_study(toy, tmp_path):
    out = tmp_path / "o"
    args = ["--studies", toy.parent, "run", "toy", "--out", out, "--workers", "2"]
    assert main([str(a) for a in args]) == 0
    assert (out / "workers.txt").read_text() == "2"
    assert main([str(a) for a in args[:-2]]) == 0
    assert (out / "workers.txt").read_text() == "1"  # in-process


def test_unreachable_scheduler_is_a_usage_error(toy, tmp_path, monkeypatch, capsys):
    folder = toy
    # The CLI waits 10 s for a scheduler; a second is enough to show the error path.
    monkeypatch.setattr(dist, "open_client", functools.partial(dist.open_client, timeout=1))
    address = "tcp://127.0.0.1:9"
    args = ["--studies", folder.parent, "run", "toy", "--out", tmp_path / "o"]
    assert main([str(a) for a in [*args, "--scheduler", address]]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "bayesphys: error: scheduler: cannot connect to 'tcp://127.0.0.1:9'" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--workers", "2", "--scheduler", "x"]])
def test_bad_cluster_options(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "nuclear-mass-bma", *bad])
    assert exit_info.value.code == EXIT_USAGE
    assert "--workers" in capsys.readouterr().err


def test_study_without_client_support_runs_in_process(tmp_path, capsys):
    folder = tmp_path / "studies" / "plain"
    folder.mkdir(parents=True)
    (folder / "study.py").write_text(
        '"""Plain."""\n\ndef run(config, out_dir, *, fast, seed):\n    return {"files": {}}\n'
    )
    (folder / "config.toml").write_text("[model]\nmu = 1\n")
    args = ["--studies", folder.parent, "run", "plain", "--out", tmp_path / "o", "--workers", "2"]
    assert main([str(a) for a in args]) == 0
    assert "runs in-process" in capsys.readouterr().err
