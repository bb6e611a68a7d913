"""Smoke and science test of the quantum-dot VMC case study (its ``--fast`` configuration)."""

from pathlib import Path

import pytest

from bayesphys.studies import load_study


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread avoids contention on shared machines
    try:
        study, config = load_study("quantum-dot-vmc")
        out_dir = tmp_path_factory.mktemp("quantum_dot_vmc")
        return study.run(config, out_dir, fast=True), config, out_dir
    finally:
        torch.set_num_threads(threads)


def test_outputs_exist(outcome):
    res, _, out_dir = outcome
    for path in res["files"].values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
    names = {p.name for p in out_dir.iterdir()}
    assert {"energy_history.png", "blocking.png", "density.png"} <= names
    assert {"energies.csv", "energies.md"} <= names


def test_energies_are_variational(outcome):
    res, config, _ = outcome
    table = res["table"]
    exact = config["system"]["exact"]
    assert len(table) == 1 + len(config["models"])
    fitted = table.iloc[1:]
    # Upper bounds: never below exact by more than 3 standard errors, and not far above it.
    assert (fitted["energy"] > exact - 3 * fitted["stderr"]).all()
    assert (fitted["energy"] < exact + 0.3).all()
    pade = table.loc[config["models"]["pade"]["label"]]
    assert pade["energy"] < exact + 0.01
