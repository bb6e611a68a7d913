"""Markdown reports of case-study runs: key tables with uncertainties, figures, saved posteriors.

Every ``report.md`` starts with what a reader needs to reproduce and to trust the run: the
bayesphys version, the seed the study used, the full merged configuration and a "Checks" section
flagging what must not be trusted (Pareto k > 0.7, R-hat > 1.01, divergent transitions, bulk
ESS < 400), computed from the ``.nc`` posteriors the study wrote.

Units: a study may return ``"units"`` in its result, a mapping from a table column (or a
posterior variable) to its unit, e.g. ``{"energy": "Ha", "rms": "MeV"}``; the report then heads
that column ``energy [Ha]`` in every table it shows (the study's DataFrames, the header row of
the ``*.md`` tables it wrote, and the posterior tables, where an element's label such as
``lengthscale[x0]`` beats its variable's name). A dimensionless column is marked ``1``, a label
or index column ``-``; the posterior tables head R-hat ``[1]`` and ESS ``[draws]``.

Checks the saved posteriors cannot show (numbers a study computed itself, such as the Pareto k
of models it compared but did not save) come as ``"checks"`` in its result, a list of lines
added to the Checks section.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# A report is read by people: long posteriors (weights, per-nucleus values) are cut here and
# the full table is one `bayesphys summarize FILE.nc` away.
MAX_SUMMARY_ROWS = 25

# What the Checks section flags (Vehtari et al. 2021 for R-hat and ESS; Vehtari et al. 2017 for
# Pareto k); R-hat and ESS as in the defaults of `results.convergence_warnings`.
PARETO_K_MAX = 0.7
RHAT_MAX = 1.01
ESS_BULK_MIN = 400


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


def _units(units: Mapping[str, str] | None) -> dict[str, str]:
    """The usable part of a study's ``units`` mapping: column name -> non-empty unit text."""
    if not isinstance(units, Mapping):
        return {}
    return {str(k): str(v) for k, v in units.items() if v is not None and str(v).strip()}


def with_units(frame: pd.DataFrame, units: Mapping[str, str] | None) -> pd.DataFrame:
    """``frame`` with every column (and the index) named in ``units`` headed ``name [unit]``.

    Examples
    --------
    >>> list(with_units(pd.DataFrame({"energy": [3.0], "n": [1]}), {"energy": "Ha"}).columns)
    ['energy [Ha]', 'n']
    """
    units = _units(units)
    if not units:
        return frame
    label = {name: f"{name} [{unit}]" for name, unit in units.items()}
    renamed = frame.rename(columns=lambda c: label.get(str(c), c))
    if renamed.index.name is not None and str(renamed.index.name) in label:
        renamed = renamed.rename_axis(label[str(renamed.index.name)])
    return renamed


_RULE = re.compile(r"^\s*\|(\s*:?-+:?\s*\|)+\s*$")


def markdown_with_units(text: str, units: Mapping[str, str] | None) -> str:
    """The header rows of the markdown tables in ``text`` with ``name [unit]`` for known columns.

    A header row is a ``|``-line followed by a ``|---|`` rule; only cells that are exactly a
    column named in ``units`` change, so a study's own wording is otherwise kept.
    """
    units = _units(units)
    if not units:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        if line.lstrip().startswith("|") and _RULE.match(lines[i + 1]):
            cells = line.split("|")
            for j, cell in enumerate(cells[1:-1], start=1):
                name = cell.strip()
                if name in units:
                    cells[j] = f" {name} [{units[name]}] "
            lines[i] = "|".join(cells)
    return "\n".join(lines)


def posterior_table(
    path: str | os.PathLike[str],
    *,
    idata: Any = None,
    units: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Markdown table ``variable | mean ± sd | R-hat | ESS`` of a saved posterior, and warnings.

    ``idata`` is the already loaded content of ``path`` (read from ``path`` if not given);
    ``units`` (variable name -> unit) adds a ``unit`` column.
    """
    # Imported here: ArviZ takes seconds to import, and `bayesphys list` needs none of it.
    from bayesphys.core import results

    idata = results.load(path) if idata is None else idata
    units = _units(units)
    if "posterior" not in idata.groups():
        return "(no posterior group)", []
    post = idata.posterior

    def unit_of(label: str) -> str:
        return units.get(str(label), units.get(str(label).split("[")[0], ""))

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
        if units:
            frame["unit"] = [unit_of(v) for v in frame["variable"]]
        return markdown_table(frame, index=False), []
    table = results.summary(idata, kind="all", round_to="none")
    rows = {
        "variable": table.index,
        "mean ± sd": [
            with_uncertainty(m, s) for m, s in zip(table["mean"], table["sd"], strict=True)
        ],
    }
    if units:
        rows["unit"] = [unit_of(v) for v in table.index]
    chains = idata.posterior.sizes.get("chain", 1)
    if chains > 1:
        rows["R-hat [1]"] = table["r_hat"].to_numpy()
        rows["ESS bulk [draws]"] = table["ess_bulk"].to_numpy()
    frame = pd.DataFrame(rows)
    note = ""
    if len(frame) > MAX_SUMMARY_ROWS:
        hidden = len(frame) - MAX_SUMMARY_ROWS
        note = f"\n\n({hidden} more rows: `bayesphys summarize {Path(path).name}`)"
        frame = frame.head(MAX_SUMMARY_ROWS)
    warnings_ = results.convergence_warnings(idata) if chains > 1 else []
    return markdown_table(frame, index=False) + note, warnings_


def _flag_values(dataset: Any, bad: Any, what: str, worst: Any) -> Iterator[str]:
    """One flag per variable of ``dataset`` with values for which ``bad`` holds.

    ``worst`` picks the index of the worst value (``np.nanargmax`` or ``np.nanargmin``).
    """
    for name, var in dataset.data_vars.items():
        values = np.asarray(var.values, dtype=float)
        flagged = np.isfinite(values) & bad(values)
        if not flagged.any():
            continue
        index = np.unravel_index(worst(np.where(flagged, values, np.nan)), values.shape)
        labels = [str(var[dim].values[i]) for dim, i in zip(var.dims, index, strict=True)]
        label = f"{name}[{', '.join(labels)}]" if labels else str(name)
        share = f" in {int(flagged.sum())} of {values.size} elements" if values.size > 1 else ""
        yield f"{what}{share} of `{name}` (worst: {label} = {values[index]:.4g})"


def posterior_checks(idata: Any) -> list[str]:
    """What a reader must not trust in a saved posterior: one line per problem, [] when clean.

    Flags Pareto k > 0.7 in PSIS-LOO (for every ``log_likelihood`` variable), R-hat > 1.01
    (with more than one chain), divergent transitions (``sample_stats.diverging``) and bulk
    ESS < 400. A point estimate (one draw) has nothing to check.
    """
    from bayesphys.core import results

    if "posterior" not in idata.groups():
        return []
    post = idata.posterior
    chains, draws = post.sizes.get("chain", 1), post.sizes.get("draw", 1)
    if chains * draws <= 1:
        return []
    flags: list[str] = []
    # ArviZ warns about the very things flagged here (and about constant variables): the flags
    # say it once, in the report, instead of on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "log_likelihood" in idata.groups():
            for name in idata.log_likelihood.data_vars:
                try:
                    k = np.asarray(results.loo(idata, pointwise=True, var_name=name).pareto_k)
                except Exception as err:  # any failure is itself a flag
                    flags.append(f"PSIS-LOO of `{name}` could not be computed ({err})")
                    continue
                high = np.isfinite(k) & (k > PARETO_K_MAX)
                if high.any():
                    flags.append(
                        f"Pareto k > {PARETO_K_MAX} for {int(high.sum())} of {k.size} "
                        f"observations of `{name}` (max {np.nanmax(k):.2f}): PSIS-LOO and any "
                        "model choice by LOO are unreliable"
                    )
        if chains > 1:
            flags += _flag_values(
                results.rhat(idata), lambda v: v > RHAT_MAX, f"R-hat > {RHAT_MAX}", np.nanargmax
            )
        if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
            diverging = np.asarray(idata.sample_stats["diverging"].values, dtype=bool)
            if diverging.any():
                flags.append(
                    f"{int(diverging.sum())} divergent transitions of {diverging.size} (the "
                    "sampler may have missed part of the posterior)"
                )
        flags += _flag_values(
            results.ess(idata, method="bulk"),
            lambda v: v < ESS_BULK_MIN,
            f"bulk ESS < {ESS_BULK_MIN}",
            np.nanargmin,
        )
    return flags


def seed_used(
    seed: int | None,
    settings: Mapping[str, Any] | None,
    *,
    fast: bool = False,
    result: Mapping[str, Any] | None = None,
) -> str:
    """The seed a run used, and where it came from, for the report.

    In order: ``--seed``; a ``seed`` the study returned in its result; the config keys named
    ``seed`` (under ``--fast``, a ``[fast]`` key ``seed`` or ``<section>_seed`` beats them).

    Examples
    --------
    >>> seed_used(None, {"data": {"seed": 7}, "fast": {"n": 3}}, fast=True)
    '7 (config `data.seed`)'
    >>> seed_used(3, {"data": {"seed": 7}})
    '3 (--seed)'
    """
    if seed is not None:
        return f"{seed} (--seed)"
    returned = (result or {}).get("seed")
    if isinstance(returned, int | np.integer) and not isinstance(returned, bool):
        return f"{int(returned)} (returned by the study)"
    settings = settings or {}
    fast_table = settings.get("fast") if fast else None
    fast_table = fast_table if isinstance(fast_table, Mapping) else {}
    found = []
    for keys, value in _leaves(settings):
        if keys[-1] != "seed" or keys[0] == "fast":
            continue
        where = ".".join(keys)
        for name in ("_".join(keys[-2:]), "seed"):
            if name in fast_table:
                value, where = fast_table[name], f"fast.{name}"
                break
        found.append(f"{value} (config `{where}`)")
    return ", ".join(found) or "none (no --seed and no `seed` key in the config)"


def _leaves(table: Mapping, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple, Any]]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key)), value


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid TOML escapes
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()  # TOML's own date and time values
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(config: Mapping[str, Any]) -> str:
    """``config`` (a parsed TOML document) written back as TOML text.

    Examples
    --------
    >>> print(to_toml({"seed": 3, "model": {"draws": 500, "names": ["a"]}}))
    seed = 3
    <BLANKLINE>
    [model]
    draws = 500
    names = ["a"]
    """
    lines: list[str] = []

    def emit(table: Mapping, prefix: str) -> None:
        values = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if prefix and (values or not tables):
            lines.extend(["", f"[{prefix}]"] if lines else [f"[{prefix}]"])
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values)
        for key, sub in tables:
            emit(sub, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))

    emit(config, "")
    return "\n".join(lines)


def write_report(
    path: Path,
    study: Any,
    result: Mapping[str, Any],
    *,
    fast: bool,
    seed: int | None,
    config: str | os.PathLike[str] | None,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``report.md`` for a run whose outputs lie beside ``path``.

    Sections: the study, the bayesphys version, the seed used and the run settings; "Checks",
    the flags of :func:`posterior_checks` for every saved posterior (``none`` when clean); the
    tables the study wrote (``*.md``), or else the DataFrames in its result; every figure
    (``*.png``) linked; every saved posterior (``*.nc``) summarised as mean ± sd with R-hat and
    ESS and convergence warnings; the full merged configuration as TOML.

    Parameters
    ----------
    path : pathlib.Path
        Where to write the report; the study's outputs lie in its folder.
    study : StudyInfo
        The study (``name``, ``description``).
    result : mapping
        What the study's ``run`` returned. Optional keys read here: ``units`` (column or
        posterior variable name -> unit, shown as ``name [unit]``), ``seed`` (the seed the
        study used, when it is not a config key named ``seed``) and ``checks`` (lines for the
        Checks section about numbers that are not in a saved posterior).
    fast, seed, config
        The run's ``--fast``, ``--seed`` (None when not given) and ``--config`` file.
    settings : mapping, optional
        The merged configuration the study ran with (shown in full; its ``seed`` keys give the
        seed when ``seed`` is None).
    """
    import bayesphys
    from bayesphys.core import results

    folder = path.parent
    units = result.get("units") if isinstance(result, Mapping) else None
    lines = [
        f"# {study.name}",
        "",
        study.description,
        "",
        f"- bayesphys version: {bayesphys.__version__}",
        f"- seed: {seed_used(seed, settings, fast=fast, result=result)}",
        f"- fast: {fast}",
        f"- config overrides: `{config}`" if config is not None else "- config overrides: none",
    ]
    posteriors = sorted(folder.glob("*.nc"))
    loaded, flags = {}, []
    for nc in posteriors:
        try:
            loaded[nc] = results.load(nc)
        except Exception as err:  # a .nc that is not InferenceData
            flags.append(f"`{nc.name}`: not readable as InferenceData ({err})")
            continue
        flags += [f"`{nc.name}`: {flag}" for flag in posterior_checks(loaded[nc])]
    own = result.get("checks") if isinstance(result, Mapping) else None
    own = [own] if isinstance(own, str) else [str(line) for line in (own or [])]
    lines += ["", "## Checks", ""]
    if posteriors:
        lines += [
            f"Pareto k > {PARETO_K_MAX}, R-hat > {RHAT_MAX}, divergent transitions and bulk "
            f"ESS < {ESS_BULK_MIN} in the saved posteriors:",
            "",
        ]
        lines += [f"- {flag}" for flag in flags] or ["none"]
    else:
        lines += ["none (the study saved no posterior to check)"]
    if own:
        lines += ["", "Flagged by the study itself (numbers not in a saved posterior):", ""]
        lines += [f"- {line}" for line in own]
    written = sorted(p for p in folder.glob("*.md") if p.name != path.name)
    # Tables the study wrote itself are its curated view; returned DataFrames stand in otherwise.
    tables = {} if written else {k: v for k, v in result.items() if isinstance(v, pd.DataFrame)}
    if tables or written:
        lines += ["", "## Tables"]
    for name, frame in tables.items():
        lines += ["", f"### {name}", "", markdown_table(with_units(frame, units))]
    for md in written:
        text = markdown_with_units(md.read_text(encoding="utf-8").strip(), units)
        lines += ["", f"### {md.stem}", "", text]
    figures = sorted(folder.glob("*.png"))
    if figures:
        lines += ["", "## Figures"]
        lines += [line for fig in figures for line in ("", f"![{fig.stem}]({fig.name})")]
    if loaded:
        lines += ["", "## Posteriors"]
    for nc, idata in loaded.items():
        table, warned = posterior_table(nc, idata=idata, units=units)
        lines += ["", f"### `{nc.name}`", "", table]
        lines += [f"\n- warning: {w}" for w in warned]
    if settings is not None:
        lines += ["", "## Configuration", "", "The full merged configuration of this run:"]
        lines += ["", "```toml", to_toml(settings), "```"]
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
