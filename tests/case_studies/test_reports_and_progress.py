"""Every fast case study: its progress steps match what it declares, its report has units.

The declared steps give the ``bayesphys run`` bar its total and ETA, so they must be the steps
the study reports, in order. Every column of every table in ``report.md`` must carry a unit
(``name [unit]``; ``[1]`` dimensionless, ``[-]`` an index or label), be a label column (text
only), or, in a posterior table, be a value whose row names its unit in the ``unit`` column.
"""

import re

import pytest

from bayesphys.studies import REPORT_STEP, StudyProgress, declared_steps, load_study, run_study

STUDIES = [
    "gp-emulator",
    "polynomial-evidence",
    "quantum-dot-vmc",
    "semf",
    "bnn-mass-residuals",
    "nuclear-mass-bma",
]

_RULE = re.compile(r"^\s*\|(\s*:?-+:?\s*\|)+\s*$")
# A number, or an interval "[1.2, 3.4]".
_NUMBER = re.compile(r"^\[?[-+]?(\d|\.\d|nan$|inf$)", re.IGNORECASE)
_UNIT = re.compile(r"\[[^\[\]]+\]$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The markdown tables in ``text``: header cells and rows of cells."""
    lines = text.split("\n")
    found = []
    for i, line in enumerate(lines[:-1]):
        if line.lstrip().startswith("|") and _RULE.match(lines[i + 1]):
            rows = []
            for row in lines[i + 2 :]:
                if not row.lstrip().startswith("|"):
                    break
                rows.append(_cells(row))
            found.append((_cells(line), rows))
    return found


def columns_without_units(text: str) -> list[str]:
    """Headers of the table columns in ``text`` that give no unit (empty when all do)."""
    missing = []
    for header, rows in tables(text):
        unit_column = header.index("unit") if "unit" in header else None
        for j, name in enumerate(header):
            cells = [row[j] for row in rows if j < len(row)]
            if _UNIT.search(name) or name == "unit":
                continue
            if not any(_NUMBER.match(cell) for cell in cells):
                continue  # a label column: model names, variables, terms
            if unit_column is not None and name in {"value", "mean ± sd"}:
                blank = [row[0] for row in rows if not row[unit_column]]
                if blank:
                    missing.append(f"{name} (no unit for {', '.join(blank)})")
                continue
            missing.append(name)
    return missing


def test_columns_without_units_finds_the_bare_ones():
    text = (
        "| model | energy [Ha] | n |\n|---|---:|---:|\n| a | 1.0 | 3 |\n\n"
        "| variable | mean ± sd | unit | R-hat [1] |\n|---:|---:|---:|---:|\n"
        "| mu | 1.0 ± 0.1 | MeV | 1.0 |\n| tau | 2.0 ± 0.1 |  | 1.0 |\n"
    )
    assert columns_without_units(text) == ["n", "mean ± sd (no unit for tau)"]


@pytest.fixture(scope="module", params=STUDIES)
def fast_run(request, tmp_path_factory):
    seen: list[str] = []
    out = tmp_path_factory.mktemp(request.param.replace("-", "_"))
    outcome = run_study(request.param, out, fast=True, progress=StudyProgress(seen.append))
    return request.param, outcome, seen


def test_progress_reports_the_declared_steps(fast_run):
    name, _, seen = fast_run
    module, config = load_study(name)
    declared = declared_steps(module, config, fast=True)
    assert declared is not None, f"{name} declares no steps(config, *, fast)"
    assert seen == [*declared, REPORT_STEP]


def test_every_report_column_has_a_unit(fast_run):
    name, outcome, _ = fast_run
    report = (outcome.out_dir / "report.md").read_text(encoding="utf-8")
    assert tables(report), f"{name}: no tables in report.md"
    assert columns_without_units(report) == []
