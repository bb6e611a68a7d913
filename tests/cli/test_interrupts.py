"""Interrupting ``bayesphys run`` anywhere: exit 130, earlier outputs untouched, no staging folder.

The subprocess tests send a real SIGINT or SIGTERM to ``python -m bayesphys.cli run`` at several
moments of a toy study that reports where it is through marker files; the in-process tests
cover what needs no second process (a marked result without any signal, a signal that arrives
while the outputs are being moved into place).
"""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from bayesphys.cli import EXIT_INTERRUPTED, main
from bayesphys.core.interrupts import InterruptedRunWarning
from bayesphys.studies import RunInterrupted, _commit, _Signals, run_study

TOY_STUDY = '''
"""A toy study that can be stopped anywhere; it says where it is in files under TOY_MARKS."""

import os
import signal
import time
from pathlib import Path

import numpy as np

MARKS = Path(os.environ.get("TOY_MARKS", "."))
if os.environ.get("TOY_MARKS"):
    (MARKS / "imported").touch()
    time.sleep(float(os.environ.get("TOY_IMPORT_SLEEP", "0")))


def wait_forever():
    while True:
        time.sleep(0.01)


def marked_posterior(out_dir, done):
    # What a library following bayesphys.core.interrupts returns after a swallowed Ctrl-C.
    from bayesphys import results
    from bayesphys.core.interrupts import interrupted_attrs, warn_interrupted

    draws = np.random.default_rng(0).normal(size=(2, max(done, 4)))
    attrs = interrupted_attrs(f"{done} of 1000000 draws")
    idata = results.to_inference_data({"mu": draws}, attrs=attrs)
    results.save(idata, Path(out_dir) / "posterior.nc")
    return idata


def run(config, out_dir, *, fast=False, seed=None):
    stage = config["model"]["stage"]
    out_dir = Path(out_dir)
    if os.environ.get("TOY_MARKS"):
        (MARKS / "started").touch()
    if stage == "started":
        wait_forever()
    rng = np.random.default_rng(config["model"]["seed"] if seed is None else seed)
    np.savetxt(out_dir / "values.csv", rng.normal(size=20))
    if stage == "mid":
        (MARKS / "partial").touch()
        wait_forever()
    if stage in ("swallow", "swallow-unmarked", "swallow-fail"):
        done = 0
        try:
            (MARKS / "sampling").touch()
            while done < 1_000_000:
                time.sleep(0.01)
                done += 1
        except KeyboardInterrupt:
            pass  # a library that swallows Ctrl-C and returns what it has
        if stage == "swallow-fail":
            raise KeyError("energy")  # the study then trips over the truncated result
        if stage == "swallow":
            return {"idata": marked_posterior(out_dir, done)}
    if stage == "raise-signal":  # in-process: a real SIGINT that a library swallows unmarked
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
    if stage == "marked-result":  # no signal at all: only the mark says it is partial
        return {"fits": [{"idata": marked_posterior(out_dir, 5)}]}
    if stage == "warned":
        from bayesphys.core.interrupts import warn_interrupted

        warn_interrupted("toy sampler", "3 of 10 draws")
    (out_dir / "summary.md").write_text(f"| mean |\\n|---:|\\n| {rng.normal():.3f} |\\n")
    return {"files": {}}
'''


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "study.py").write_text(TOY_STUDY)
    (root / "toy" / "config.toml").write_text('[model]\nseed = 3\nstage = "complete"\n')
    return root


def checksums(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.relative_to(folder).parts[0].startswith("interrupted-")
    }


@pytest.fixture
def previous(studies, tmp_path):
    """An output folder holding a previous complete run, and its checksums."""
    out = tmp_path / "out"
    assert main(["--studies", str(studies), "run", "toy", "--out", str(out)]) == 0
    sums = checksums(out)
    assert set(sums) == {"values.csv", "summary.md", "report.md"}
    return out, sums


def stage_config(tmp_path, stage):
    path = tmp_path / f"{stage}.toml"
    path.write_text(f'[model]\nstage = "{stage}"\n')
    return path


def interrupt_subprocess(studies, out, config, marker, sig, tmp_path, import_sleep=0.0):
    """Start ``bayesphys run toy``, send ``sig`` once ``marker`` exists; (returncode, stderr)."""
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    env = {**os.environ, "TOY_MARKS": str(marks), "TOY_IMPORT_SLEEP": str(import_sleep)}
    args = [sys.executable, "-m", "bayesphys.cli", "--studies", str(studies), "run", "toy"]
    args += ["--out", str(out), "--config", str(config)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (marks / marker).exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{marker} never reached"
            time.sleep(0.01)
        time.sleep(0.1)  # inside the sleep or loop that follows the marker
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


def assert_interrupted(out, sums, rc, err, kept):
    assert rc == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "bayesphys: interrupted" in err.splitlines()[-1]
    assert checksums(out) == sums  # the previous complete outputs, byte for byte
    assert not list(out.glob(".staging-*"))
    folders = list(out.glob("interrupted-*"))
    assert len(folders) == (1 if kept else 0), folders
    for folder in folders:
        report = (folder / "report.md").read_text()
        assert "INTERRUPTED, partial outputs" in report.splitlines()[0]
    return folders


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_the_study_module_loads(studies, previous, tmp_path, sig):
    out, sums = previous
    config = stage_config(tmp_path, "complete")
    rc, err = interrupt_subprocess(studies, out, config, "imported", sig, tmp_path, 30.0)
    assert_interrupted(out, sums, rc, err, kept=False)


def test_sigint_before_the_study_wrote_anything(studies, previous, tmp_path):
    out, sums = previous
    config = stage_config(tmp_path, "started")
    rc, err = interrupt_subprocess(studies, out, config, "started", signal.SIGINT, tmp_path)
    assert_interrupted(out, sums, rc, err, kept=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_keeps_the_partial_outputs_apart(studies, previous, tmp_path, sig):
    out, sums = previous
    config = stage_config(tmp_path, "mid")
    rc, err = interrupt_subprocess(studies, out, config, "partial", sig, tmp_path)
    (kept,) = assert_interrupted(out, sums, rc, err, kept=True)
    assert (kept / "values.csv").is_file()
    assert signal.Signals(sig).name in (kept / "report.md").read_text()


@pytest.mark.parametrize("stage", ["swallow", "swallow-unmarked", "swallow-fail"])
def test_sigint_swallowed_inside_a_sampler_still_ends_the_run(studies, previous, tmp_path, stage):
    # The library catches the KeyboardInterrupt and returns (a marked result, an unmarked one,
    # or one the study then fails on): the run must not pass it off as complete.
    out, sums = previous
    config = stage_config(tmp_path, stage)
    rc, err = interrupt_subprocess(studies, out, config, "sampling", signal.SIGINT, tmp_path)
    assert_interrupted(out, sums, rc, err, kept=True)
    if stage == "swallow-fail":
        assert "KeyError" in err.splitlines()[-1]


@pytest.mark.parametrize("stage", ["marked-result", "warned", "raise-signal"])
def test_a_marked_or_warned_result_is_an_interruption(studies, previous, tmp_path, stage, capsys):
    out, sums = previous
    args = ["--studies", str(studies), "run", "toy", "--out", str(out)]
    args += ["--config", str(stage_config(tmp_path, stage))]
    warned = pytest.warns(InterruptedRunWarning) if stage == "warned" else contextlib.nullcontext()
    with warned:
        rc = main(args)
    err = capsys.readouterr().err
    (kept,) = assert_interrupted(out, sums, rc, err, kept=True)
    reason = {"marked-result": "['fits'][0]['idata'] is marked", "warned": "toy sampler"}
    assert reason.get(stage, "SIGINT received") in (kept / "report.md").read_text()


def test_run_study_raises_run_interrupted_with_the_kept_folder(studies, previous, tmp_path):
    out, sums = previous
    with pytest.raises(RunInterrupted) as info:
        run_study("toy", out, root=studies, config=stage_config(tmp_path, "marked-result"))
    assert info.value.kept.parent == out and info.value.kept.name.startswith("interrupted-")
    assert (info.value.kept / "posterior.nc").is_file()
    assert checksums(out) == sums


def test_a_signal_while_outputs_move_into_place_undoes_the_moves(tmp_path, monkeypatch):
    out, staging = tmp_path / "out", tmp_path / "out" / ".staging-x"
    (staging / "sub").mkdir(parents=True)
    for name, text in [("a.txt", "old a"), ("b.txt", "old b")]:
        (out / name).write_text(text)
    for name in ("a.txt", "b.txt", "new.txt", "sub/c.txt"):
        (staging / name).write_text(f"new {name}")
    before = {k: v for k, v in checksums(out).items() if not k.startswith(".staging-")}
    assert sorted(before) == ["a.txt", "b.txt"]
    signals = _Signals()
    real_replace = os.replace

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        signals.received.append("SIGINT")  # arrives (deferred) after the first move

    monkeypatch.setattr("bayesphys.studies.os.replace", replace_then_signal)
    with pytest.raises(KeyboardInterrupt):
        _commit(staging, out, signals)
    monkeypatch.setattr("bayesphys.studies.os.replace", real_replace)
    after = {k: v for k, v in checksums(out).items() if not k.startswith(".staging-")}
    assert after == before
    assert not (out / "sub").exists()
    assert sorted(checksums(staging)) == ["a.txt", "b.txt", "new.txt", "sub/c.txt"]


def test_warn_interrupted_is_still_shown_to_the_user(studies, tmp_path):
    # The runner records InterruptedRunWarning without hiding it.
    with pytest.warns(InterruptedRunWarning, match="toy sampler interrupted"):
        with pytest.raises(RunInterrupted):
            run_study("toy", tmp_path / "o", root=studies, config=stage_config(tmp_path, "warned"))
