"""The ``bayesphys`` command line: listing, running, reports, atomic outputs and error cases."""

from pathlib import Path

import numpy as np
import pytest

from bayesphys import results
from bayesphys.cli import EXIT_INTERRUPTED, EXIT_USAGE, main
from bayesphys.studies import find_studies, merge_config

FAKE_STUDY = '''
"""A toy study that writes a table, a figure and a posterior."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesphys import results


def run(config, out_dir, *, fast=False, seed=None, progress=None):
    if config["model"]["interrupt"]:
        (Path(out_dir) / "partial.csv").write_text("a,b\\n")
        raise KeyboardInterrupt
    rng = np.random.default_rng(config["model"]["seed"] if seed is None else seed)
    draws = config["model"]["mu"] + rng.normal(size=(2, 200))
    idata = results.to_inference_data({"mu": draws})
    results.save(idata, Path(out_dir) / "posterior.nc")
    fig, ax = plt.subplots()
    ax.hist(draws.ravel())
    fig.savefig(Path(out_dir) / "hist.png")
    plt.close(fig)
    if progress:
        progress("done")
    return {"files": {}, "estimates": pd.DataFrame({"mu": [draws.mean()]})}
'''


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    folder = root / "toy_study"
    folder.mkdir(parents=True)
    (folder / "study.py").write_text(FAKE_STUDY)
    config = "[model]\nmu = 1.5\nseed = 3\ninterrupt = false\n"
    (folder / "config.toml").write_text(config)
    return root


def cli(*args):
    return main([str(a) for a in args])


def test_list_shows_the_real_and_the_toy_studies(studies, capsys):
    assert cli("list") == 0
    assert "polynomial-evidence" in capsys.readouterr().out
    assert cli("--studies", studies, "list") == 0
    assert "toy-study  A toy study that writes" in capsys.readouterr().out


def test_run_writes_outputs_and_report_atomically(studies, tmp_path):
    out = tmp_path / "out"
    assert cli("--studies", studies, "run", "toy-study", "--out", out, "--seed", 1) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"posterior.nc", "hist.png", "report.md"}  # no staging folder left
    report = (out / "report.md").read_text()
    assert "![hist](hist.png)" in report and "| mu |" in report
    idata = results.load(out / "posterior.nc")
    mean = float(idata.posterior["mu"].mean())
    assert f"{mean:.2f}" in report  # mean ± sd line of the posterior table
    assert abs(mean - 1.5) < 5 / np.sqrt(400)


def test_interrupt_keeps_previous_outputs(studies, tmp_path):
    out = tmp_path / "out"
    assert cli("--studies", studies, "run", "toy-study", "--out", out) == 0
    before = (out / "posterior.nc").read_bytes()
    override = tmp_path / "interrupt.toml"
    override.write_text("[model]\ninterrupt = true\n")
    args = ("--studies", studies, "run", "toy-study", "--out", out, "--config", override)
    assert cli(*args) == EXIT_INTERRUPTED
    assert (out / "posterior.nc").read_bytes() == before
    assert not (out / "partial.csv").exists()
    (interrupted,) = out.glob("interrupted-*")
    assert (interrupted / "partial.csv").is_file()
    assert not list(out.glob(".staging-*"))


def test_unknown_study_lists_valid_names(studies, capsys):
    assert cli("--studies", studies, "run", "nope", "--out", "x") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown case study 'nope'" in err and "toy-study" in err


def test_unwritable_out_is_a_clear_error(studies, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli("--studies", studies, "run", "toy-study", "--out", blocker / "sub") == EXIT_USAGE
    assert "--out: cannot write" in capsys.readouterr().err


def test_bad_config_key_is_rejected(studies, tmp_path, capsys):
    override = tmp_path / "bad.toml"
    override.write_text("[model]\nmuu = 2.0\n")
    args = ("--studies", studies, "run", "toy-study", "--out", tmp_path, "--config", override)
    assert cli(*args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "'model.muu' is not a setting" in err and "model.mu" in err


def test_merge_config_updates_nested_values_only():
    defaults = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge_config(defaults, {"a": {"c": 5}}, "s") == {"a": {"b": 1, "c": 5}, "d": 3}
    with pytest.raises(ValueError, match="must be a table"):
        merge_config(defaults, {"a": 1}, "s")


def _two_chain_file(tmp_path, shift):
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(2, 300)) + np.array([[0.0], [shift]])
    return results.save(results.to_inference_data({"theta": draws}), tmp_path / "fit.nc")


def test_summarize_prints_table_and_warns_on_bad_rhat(tmp_path, capsys):
    assert cli("summarize", _two_chain_file(tmp_path, 0.0)) == 0
    captured = capsys.readouterr()
    assert "theta" in captured.out and "r_hat" in captured.out
    assert "R-hat" not in captured.err
    assert cli("summarize", _two_chain_file(tmp_path, 3.0)) == 0
    assert "R-hat" in capsys.readouterr().err


def test_diagnose_writes_trace_and_rank_plots(tmp_path):
    path = _two_chain_file(tmp_path, 0.0)
    assert cli("diagnose", path, "--out", tmp_path / "diag") == 0
    assert (tmp_path / "diag" / "trace.png").stat().st_size > 0
    assert (tmp_path / "diag" / "rank.png").stat().st_size > 0


def test_summarize_missing_or_invalid_file(tmp_path, capsys):
    assert cli("summarize", tmp_path / "none.nc") == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    assert cli("summarize", junk) == EXIT_USAGE
    assert "not an InferenceData" in capsys.readouterr().err


def test_real_studies_are_discovered():
    assert "polynomial-evidence" in find_studies()


def test_study_script_entry_point_is_the_cli(studies, tmp_path):
    from bayesphys.studies import run_as_script

    with pytest.raises(SystemExit) as done:
        run_as_script(studies / "toy_study" / "study.py", ["--out", str(tmp_path / "o")])
    assert done.value.code == 0
    assert (tmp_path / "o" / "report.md").is_file()


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesphys {version('bayesphys')}"


def test_studies_ship_inside_the_package(tmp_path, monkeypatch):
    import bayesphys
    from bayesphys.studies import studies_root

    monkeypatch.chdir(tmp_path)  # no ./case_studies here
    monkeypatch.delenv("BAYESPHYS_CASE_STUDIES", raising=False)
    root = studies_root()
    assert root == Path(bayesphys.__file__).resolve().parent / "case_studies"
    assert "nuclear-mass-bma" in find_studies()
