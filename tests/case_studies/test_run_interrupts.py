"""A real case study interrupted by a real SIGINT: ``bayesphys run quantum-dot-vmc --fast``.

Issue 15 item 1: a Ctrl-C early in the run lands inside ``vmc.optimize``, which kept the
iterations it had; the run then completed on the truncated optimisation, exited 0 and replaced
the previous outputs. Now the runner sees the signal, exits 130 and leaves the outputs alone.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time

from bayesphys.cli import EXIT_INTERRUPTED

# The names the study writes, standing in for a previous complete run (cheaper than running it).
PREVIOUS = ["energies.csv", "energies.md", "energy_history.png", "blocking.png", "report.md"]


def test_sigint_early_in_quantum_dot_vmc_keeps_previous_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in PREVIOUS:
        (out / name).write_text(f"previous {name}\n")
    before = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in PREVIOUS}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "bayesphys.cli", "run", "quantum-dot-vmc", "--fast"]
    proc = subprocess.Popen(
        [*args, "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".staging-*")):  # the study has started
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)  # early: inside the first optimisation
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "bayesphys: interrupted" in err.splitlines()[-1]
    after = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in PREVIOUS}
    assert after == before
    assert not list(out.glob(".staging-*"))
    assert {p.name for p in out.iterdir() if p.is_file()} == set(PREVIOUS)
    for kept in out.glob("interrupted-*"):
        assert "INTERRUPTED, partial outputs" in (kept / "report.md").read_text()
