"""Markdown reports of case-study runs: key tables with uncertainties, figures, saved posteriors."""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# A report is read by people: long posteriors (weights, per-nucleus values) are cut here and
# the full table is one `bayesphys summarize FILE.nc` away.
MAX_SUMMARY_ROWS = 25


def format_value(value: Any) -> str:
    """A table cell: numbers to 5 significant digits, everything else as text."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "nan" if math.isnan(value) else f"{float(value):.5g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (no extra dependency).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": [1.0, 2.5]}), index=False))
    | a |
    |---:|
    | 1 |
    | 2.5 |
    """
    shown = frame.reset_index() if index else frame
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "---:|" * shown.shape[1]
    rows = ["| " + " | ".join(format_value(v) for v in row) + " |" for row in shown.to_numpy()]
    return "\n".join([header, rule, *rows])


def with_uncertainty(mean: float, sd: float) -> str:
    """``mean ± sd`` with the mean rounded to the first two significant digits of ``sd``.

    Examples
    --------
    >>> with_uncertainty(3.000412, 0.000213)
    '3.00041 ± 0.00021'
    """
    if not (np.isfinite(sd) and sd > 0):
        return f"{format_value(float(mean))} ± {format_value(float(sd))}"
    decimals = max(0, 1 - math.floor(math.log10(sd)))
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def posterior_table(path: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """Markdown table ``variable | mean ± sd | R-hat | ESS`` of a saved posterior, and warnings."""
    # Imported here: ArviZ takes seconds to import, and `bayesphys list` needs none of it.
    from bayesphys.core import results

    idata = results.load(path)
    if "posterior" not in idata.groups():
        return "(no posterior group)", []
    post = idata.posterior
    if post.sizes.get("chain", 1) * post.sizes.get("draw", 1) == 1:
        # A point estimate (MAP, fixed weights): values only, no spread or diagnostics.
        rows = []
        for name, var in post.data_vars.items():
            point = var.isel(chain=0, draw=0)
            if point.ndim == 0:
                rows.append((name, float(point)))
                continue
            for index, value in point.to_series().items():
                label = ", ".join(map(str, index if isinstance(index, tuple) else (index,)))
                rows.append((f"{name}[{label}]", value))
        frame = pd.DataFrame(rows, columns=["variable", "value"])
        return markdown_table(frame, index=False), []
    table = results.summary(idata, kind="all", round_to="none")
    rows = {
        "variable": table.index,
        "mean ± sd": [
            with_uncertainty(m, s) for m, s in zip(table["mean"], table["sd"], strict=True)
        ],
    }
    chains = idata.posterior.sizes.get("chain", 1)
    if chains > 1:
        rows["R-hat"] = table["r_hat"].to_numpy()
        rows["ESS bulk"] = table["ess_bulk"].to_numpy()
    frame = pd.DataFrame(rows)
    note = ""
    if len(frame) > MAX_SUMMARY_ROWS:
        hidden = len(frame) - MAX_SUMMARY_ROWS
        note = f"\n\n({hidden} more rows: `bayesphys summarize {Path(path).name}`)"
        frame = frame.head(MAX_SUMMARY_ROWS)
    warnings = results.convergence_warnings(idata) if chains > 1 else []
    return markdown_table(frame, index=False) + note, warnings


def write_report(
    path: Path,
    study: Any,
    result: Mapping[str, Any],
    *,
    fast: bool,
    seed: int | None,
    config: str | os.PathLike[str] | None,
) -> Path:
    """Write ``report.md`` for a run whose outputs lie beside ``path``.

    Sections: the study and its settings; the tables the study wrote (``*.md``), or else the
    DataFrames in its result; every figure (``*.png``) linked; every saved posterior
    (``*.nc``) summarised as mean ± sd with R-hat and ESS and convergence warnings.
    """
    folder = path.parent
    settings = f"fast={fast}, seed={seed if seed is not None else 'config default'}"
    lines = [f"# {study.name}", "", study.description, "", f"Run settings: {settings}"]
    if config is not None:
        lines[-1] += f", config overrides from `{config}`"
    written = sorted(p for p in folder.glob("*.md") if p.name != path.name)
    # Tables the study wrote itself are its curated view; returned DataFrames stand in otherwise.
    tables = {} if written else {k: v for k, v in result.items() if isinstance(v, pd.DataFrame)}
    if tables or written:
        lines += ["", "## Tables"]
    for name, frame in tables.items():
        lines += ["", f"### {name}", "", markdown_table(frame)]
    for md in written:
        lines += ["", f"### {md.stem}", "", md.read_text(encoding="utf-8").strip()]
    figures = sorted(folder.glob("*.png"))
    if figures:
        lines += ["", "## Figures"]
        lines += [line for fig in figures for line in ("", f"![{fig.stem}]({fig.name})")]
    posteriors = sorted(folder.glob("*.nc"))
    if posteriors:
        lines += ["", "## Posteriors"]
    for nc in posteriors:
        table, warnings = posterior_table(nc)
        lines += ["", f"### `{nc.name}`", "", table]
        lines += [f"\n- warning: {w}" for w in warnings]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_interrupted_report(path: Path, study: Any, reason: str) -> Path:
    """Write ``report.md`` of an interrupted run: it says so first, then lists the partial files.

    A report the study had already written (the run was stopped later) is kept below the notice.
    """
    folder = path.parent
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p != path and ".bayesphys-previous" not in p.parts
    )
    lines = [
        f"# {study.name}: INTERRUPTED, partial outputs",
        "",
        f"This run was interrupted ({reason}) at {stamp}. The files in this folder are what it",
        "had produced by then: they are partial and are not the results of the study. The",
        "output folder above still holds the outputs of the previous complete run, if any.",
        "",
        "## Files",
        "",
        *([f"- `{name}`" for name in files] or ["(none)"]),
    ]
    earlier = path.read_text(encoding="utf-8") if path.is_file() else ""
    if earlier:
        lines += ["", "## Report written before the interruption (partial)", "", earlier.strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
