"""The ``bayesphys run`` progress bar: a total and an ETA from the steps a study declares."""

import re

import pytest

from bayesphys.cli import main
from bayesphys.studies import REPORT_STEP, StudyProgress, as_progress, run_study

STUDY = '''
"""A toy study with three declared steps, the middle one with parts."""

import time


def steps(config, *, fast):
    return ["loaded", "fitted", "written"][: 2 if config["model"]["short"] else 3]


def run(config, out_dir, *, fast=False, seed=None, progress=None):
    progress("loaded")
    with progress.substeps(4, "parts") as bar:
        for _ in range(4):
            time.sleep(0.01)
            bar.update()
    progress("fitted")
    if not config["model"]["short"]:
        progress("written")
    return {"files": {}}
'''

UNDECLARED = '''
"""A toy study that reports steps without declaring them."""


def run(config, out_dir, *, fast=False, seed=None, progress=None):
    progress("one")
    return {"files": {}}
'''


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    for name, source in (("stepped", STUDY), ("undeclared", UNDECLARED)):
        (root / name).mkdir(parents=True)
        (root / name / "study.py").write_text(source)
        (root / name / "config.toml").write_text("[model]\nshort = false\n")
    return root


def run_cli(studies, name, out, capsys):
    assert main(["--studies", str(studies), "run", name, "--out", str(out)]) == 0
    return capsys.readouterr().err


def test_the_bar_counts_declared_steps_plus_the_report_with_an_eta(studies, tmp_path, capsys):
    err = run_cli(studies, "stepped", tmp_path / "out", capsys)
    assert re.search(r"stepped: 0/4 steps \[00:00<\?\]", err)
    assert re.search(r"stepped: 2/4 steps \[\d\d:\d\d<\d\d:\d\d\], fitted", err)
    assert re.search(rf"stepped: 4/4 steps \[\d\d:\d\d<\d\d:\d\d\], {REPORT_STEP}", err)
    assert re.search(r"parts: +\d+%\|.*\| \d/4", err)  # the long step's own bar


def test_a_study_without_declared_steps_shows_no_total(studies, tmp_path, capsys):
    err = run_cli(studies, "undeclared", tmp_path / "out", capsys)
    assert "undeclared: 2/? steps" in err


def test_a_callback_gets_each_step_and_the_report(studies, tmp_path):
    seen = []
    run_study("stepped", tmp_path / "out", root=studies, progress=seen.append)
    assert seen == ["loaded", "fitted", "written", REPORT_STEP]


def test_as_progress_without_a_caller_shows_nothing(capsys):
    progress = as_progress(None)
    assert not progress.bars
    with progress.substeps(3, "parts") as bar:
        bar.update()
    progress("done")
    assert progress.done == ["done"] and capsys.readouterr().err == ""
    assert as_progress(progress) is progress and isinstance(progress, StudyProgress)


def test_a_real_fast_study_shows_its_total(tmp_path, capsys):
    assert main(["run", "polynomial-evidence", "--fast", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"polynomial-evidence: 4/4 steps \[\d\d:\d\d<\d\d:\d\d\]", err)
    assert re.search(r"degrees: .*\| \d/7", err)
