"""Smoke and science test of the quantum-dot VMC case study (its ``--fast`` configuration)."""

import importlib.util
import tomllib
from pathlib import Path

import pytest

STUDY_DIR = Path(__file__).resolve().parents[2] / "case_studies" / "quantum_dot_vmc"


def _load_study():
    # case_studies/ is not a package: import the script from its path.
    spec = importlib.util.spec_from_file_location("quantum_dot_vmc_study", STUDY_DIR / "study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread avoids contention on shared machines
    try:
        with open(STUDY_DIR / "config.toml", "rb") as fh:
            config = tomllib.load(fh)
        out_dir = tmp_path_factory.mktemp("quantum_dot_vmc")
        return _load_study().run(config, out_dir, fast=True), config, out_dir
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
