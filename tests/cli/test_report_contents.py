"""What every ``report.md`` holds: version, seed used, full config, units, and trust checks."""

import re
import tomllib

import numpy as np
import pandas as pd
import pytest

import bayesphys
from bayesphys import results
from bayesphys.cli import main
from bayesphys.report import (
    markdown_with_units,
    posterior_checks,
    seed_used,
    to_toml,
    with_units,
)

# A toy study writing a posterior that is clean, or bad in every way the report must flag.
TOY_STUDY = '''
"""A toy study whose posterior is clean or untrustworthy on request."""

from pathlib import Path

import numpy as np

from bayesphys import results


def run(config, out_dir, *, fast=False, seed=None):
    model = config["model"]
    rng = np.random.default_rng(model["seed"] if seed is None else seed)
    y = rng.normal(0.0, 1.0, size=20)
    if model["bad"]:
        y[0] = 50.0  # an outlier the posterior of mu cannot explain: Pareto k >> 0.7
        # Two chains stuck at different places, with a few draws each: R-hat and ESS fail.
        mu = np.stack([rng.normal(-1.0, 0.1, 50), rng.normal(1.0, 0.1, 50)])
        diverging = np.zeros(mu.shape, dtype=bool)
        diverging[0, :3] = True
    else:
        mu = rng.normal(y.mean(), 1 / np.sqrt(y.size), size=(4, 1000))
        diverging = np.zeros(mu.shape, dtype=bool)
    log_lik = -0.5 * (y[None, None, :] - mu[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)
    idata = results.to_inference_data(
        {"mu": mu},
        sample_stats={"diverging": diverging},
        log_likelihood={"y": log_lik},
        observed_data={"y": y},
        dims={"y": ["obs"]},
    )
    results.save(idata, Path(out_dir) / "posterior.nc")
    (Path(out_dir) / "summary.md").write_text(
        "| mu | n |\\n|---:|---:|\\n| " + f"{mu.mean():.3f}" + " | 20 |\\n"
    )
    return {"files": {}, "units": {"mu": "MeV"}}
'''


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    folder = root / "toy_checks"
    folder.mkdir(parents=True)
    (folder / "study.py").write_text(TOY_STUDY)
    config = "[model]\nseed = 3\nbad = false\nlabel = 'toy \"quoted\"'\nsizes = [1, 2]\n"
    (folder / "config.toml").write_text(config)
    (root / "bad.toml").write_text("[model]\nbad = true\n")
    return root


def run_report(studies, out, *args):
    argv = ["--studies", str(studies), "run", "toy-checks", "--out", str(out), *map(str, args)]
    assert main(argv) == 0
    return (out / "report.md").read_text(encoding="utf-8")


def section(report, title):
    """The text of a ``## title`` section, up to the next ``## ``."""
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", report, re.S | re.M)
    assert match, f"no section {title!r} in\n{report}"
    return match.group(1).strip()


def test_clean_run_reports_version_config_seed_and_no_flags(studies, tmp_path):
    report = run_report(studies, tmp_path / "out")
    assert f"- bayesphys version: {bayesphys.__version__}" in report
    assert "- seed: 3 (config `model.seed`)" in report
    assert "config default" not in report
    assert section(report, "Checks").splitlines()[-1] == "none"
    toml = re.search(r"```toml\n(.*?)```", section(report, "Configuration"), re.S).group(1)
    assert tomllib.loads(toml) == {
        "model": {"seed": 3, "bad": False, "label": 'toy "quoted"', "sizes": [1, 2]}
    }


def test_seed_option_and_override_file_are_reported(studies, tmp_path):
    override = tmp_path / "seed.toml"
    override.write_text("[model]\nseed = 8\n")
    report = run_report(studies, tmp_path / "a", "--seed", 5)
    assert "- seed: 5 (--seed)" in report
    report = run_report(studies, tmp_path / "b", "--config", override)
    assert "- seed: 8 (config `model.seed`)" in report
    assert "seed = 8" in section(report, "Configuration")


def test_untrustworthy_posterior_is_flagged(studies, tmp_path):
    report = run_report(studies, tmp_path / "out", "--config", studies / "bad.toml")
    checks = section(report, "Checks")
    assert "none" not in checks.splitlines()
    flags = [line for line in checks.splitlines() if line.startswith("- `posterior.nc`: ")]
    assert any("Pareto k > 0.7 for 1 of 20 observations of `y`" in f for f in flags), checks
    assert any("R-hat > 1.01" in f and "`mu`" in f for f in flags), checks
    assert any(": 3 divergent transitions of 100 (" in f for f in flags), checks
    assert any("bulk ESS < 400" in f for f in flags), checks


def test_units_from_the_result_head_the_columns(studies, tmp_path):
    report = run_report(studies, tmp_path / "out")
    assert "| mu [MeV] | n |" in section(report, "Tables")  # the study's own markdown table
    posterior = section(report, "Posteriors")
    assert "| variable | mean ± sd | unit | R-hat [1] | ESS bulk [draws] |" in posterior
    assert re.search(r"\| mu \| [^|]+ \| MeV \|", posterior)


def test_with_units_renames_known_columns_and_index():
    frame = pd.DataFrame({"energy": [3.0], "n": [1]}, index=pd.Index(["a"], name="r"))
    shown = with_units(frame, {"energy": "Ha", "r": "fm", "missing": "s", "n": ""})
    assert list(shown.columns) == ["energy [Ha]", "n"] and shown.index.name == "r [fm]"
    text = "intro | energy\n| energy | n |\n|---|---:|\n| energy | 1 |"
    assert markdown_with_units(text, {"energy": "Ha"}) == (
        "intro | energy\n| energy [Ha] | n |\n|---|---:|\n| energy | 1 |"
    )


def test_seed_used_reads_fast_overrides_and_returned_seeds():
    config = {"data": {"seed": 7}, "fast": {"data_seed": 2}}
    assert seed_used(None, config) == "7 (config `data.seed`)"
    assert seed_used(None, config, fast=True) == "2 (config `fast.data_seed`)"
    assert seed_used(None, {"a": {"n": 1}}, result={"seed": 4}) == "4 (returned by the study)"
    assert seed_used(None, {"a": {"n": 1}}).startswith("none")


def test_to_toml_round_trips_every_toml_value():
    config = {
        "top": 1,
        "a": {"x": 1.5e-05, "inf": float("inf"), "flag": True, "s": "tab\there \\ é"},
        "b": {"c": {"list": [[1, 2], ["x"]], "inline": [{"k": 1}]}, "empty": {}},
        "odd key": {"v": -0.0},
    }
    back = tomllib.loads(to_toml(config))
    assert back == config


def test_point_estimate_and_clean_draws_have_no_flags():
    point = results.to_inference_data({"w": np.array([[0.3]])})
    assert posterior_checks(point) == []
    draws = np.random.default_rng(1).normal(size=(4, 1000))
    assert posterior_checks(results.to_inference_data({"x": draws})) == []
    stuck = results.to_inference_data({"x": draws + np.arange(4)[:, None] * 3})
    # Chains that never meet: R-hat, and the bulk ESS that counts them as one draw each.
    assert [f.split(" of ")[0] for f in posterior_checks(stuck)] == [
        "R-hat > 1.01",
        "bulk ESS < 400",
    ]


def test_a_study_s_own_checks_and_element_units_reach_the_report(tmp_path):
    from types import SimpleNamespace

    from bayesphys.report import write_report

    draws = np.random.default_rng(5).normal(size=(2, 300, 2))
    idata = results.to_inference_data(
        {"scale": draws}, dims={"scale": ["axis"]}, coords={"axis": ["x0", "x1"]}
    )
    results.save(idata, tmp_path / "post.nc")
    study = SimpleNamespace(name="toy", description="A toy.")
    result = {
        "checks": ["degree 4: Pareto k = 0.9 > 0.7"],
        "units": {"scale[x0]": "s", "scale": "m"},
    }
    path = write_report(tmp_path / "report.md", study, result, fast=False, seed=1, config=None)
    report = path.read_text()
    checks = section(report, "Checks")
    assert "- degree 4: Pareto k = 0.9 > 0.7" in checks.splitlines()
    posterior = section(report, "Posteriors")
    assert re.search(r"\| scale\[x0\] \| [^|]+ \| s \|", posterior)  # the element's own unit
    assert re.search(r"\| scale\[x1\] \| [^|]+ \| m \|", posterior)  # else the variable's
