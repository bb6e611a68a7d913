"""Discover, configure and run the case studies in ``case_studies/<name>/``.

A case study is a folder with ``study.py`` (a ``run(config, out_dir, *, fast, seed)`` function
returning a dict with ``files``; it may also take ``progress`` and ``client`` keywords),
``config.toml`` (its settings, with a ``[fast]`` section of overrides) and ``README.md``. The
runner writes into a staging folder inside ``--out`` and moves each finished file into place
with an atomic rename, so ``--out`` never holds half-written files.
"""

from __future__ import annotations

import ast
import datetime as _dt
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bayesphys.core.distributed import check_client
from bayesphys.report import write_report

ENV_VAR = "BAYESPHYS_CASE_STUDIES"


@dataclass(frozen=True)
class StudyInfo:
    """A case study found on disk: CLI name (``polynomial-evidence``), folder, description."""

    name: str
    path: Path
    description: str


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run left in ``out_dir``: the files (name -> path) and the study's result."""

    out_dir: Path
    files: dict[str, Path]
    result: dict[str, Any]


def studies_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the case studies.

    Looked up in order: ``root``, ``$BAYESPHYS_CASE_STUDIES``, ``./case_studies``, and the
    ``case_studies`` folder beside the installed package (a source checkout).
    """
    explicit = root if root is not None else os.environ.get(ENV_VAR)
    if explicit:
        if not Path(explicit).is_dir():
            raise FileNotFoundError(f"case-study folder {explicit} does not exist")
        return Path(explicit)
    candidates = [Path.cwd() / "case_studies", Path(__file__).resolve().parents[1] / "case_studies"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no case_studies folder in {candidates[0].parent} or beside the package; run from a "
        f"bayesphys checkout or set {ENV_VAR} to the folder"
    )


def find_studies(root: str | os.PathLike[str] | None = None) -> dict[str, StudyInfo]:
    """Every case study under the root, keyed by its CLI name (folder name with ``-``)."""
    base = studies_root(root)
    found = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if (folder / "study.py").is_file() and (folder / "config.toml").is_file():
            name = folder.name.replace("_", "-")
            found[name] = StudyInfo(name, folder, _description(folder / "study.py"))
    return found


def _description(script: Path) -> str:
    # Parsed, not imported: listing studies must not import their heavy dependencies.
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    return doc.strip().split("\n")[0] if doc.strip() else "(no description)"


def get_study(name: str, root: str | os.PathLike[str] | None = None) -> StudyInfo:
    """The study called ``name`` (``_`` and ``-`` are interchangeable)."""
    studies = find_studies(root)
    key = name.replace("_", "-")
    if key not in studies:
        valid = ", ".join(studies) or "(none)"
        raise ValueError(f"unknown case study {name!r}; valid names: {valid}")
    return studies[key]


def load_config(study: StudyInfo, override: str | os.PathLike[str] | None = None) -> dict:
    """The study's ``config.toml``, updated by the settings in the ``override`` TOML file.

    Raises
    ------
    ValueError
        If ``override`` names a section or key the study does not have (a typo would otherwise
        be ignored silently), or a section that is not a table.
    """
    with open(study.path / "config.toml", "rb") as fh:
        config = tomllib.load(fh)
    if override is None:
        return config
    path = Path(override)
    if not path.is_file():
        raise ValueError(f"--config: {path} is not a file")
    try:
        with open(path, "rb") as fh:
            user = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"--config: {path} is not valid TOML ({err})") from err
    return merge_config(config, user, study.name)


def merge_config(defaults: Mapping, user: Mapping, study: str, prefix: str = "") -> dict:
    """Recursive update of ``defaults`` by ``user`` that rejects unknown keys."""
    merged = dict(defaults)
    for key, value in user.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            valid = ", ".join(f"{prefix}{k}" for k in defaults)
            raise ValueError(f"config key {where!r} is not a setting of {study}; valid: {valid}")
        if isinstance(defaults[key], Mapping):
            if not isinstance(value, Mapping):
                raise ValueError(f"config key {where!r} must be a table ([{where}])")
            merged[key] = merge_config(defaults[key], value, study, f"{where}.")
        else:
            merged[key] = value
    return merged


def load_module(study: StudyInfo) -> ModuleType:
    """Import the study's ``study.py`` from its path (case studies are not a package)."""
    module_name = f"bayesphys_case_study_{study.path.name}"
    spec = importlib.util.spec_from_file_location(module_name, study.path / "study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise ValueError(f"case study {study.name}: study.py defines no run(config, out_dir, ...)")
    return module


def _writable_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as err:
        raise ValueError(f"--out: cannot write to {out} ({err.strerror or err})") from err
    return out


def run_study(
    name: str,
    out: str | os.PathLike[str],
    *,
    fast: bool = False,
    seed: int | None = None,
    config: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    client=None,
) -> RunOutcome:
    """Run a case study and write its outputs and ``report.md`` into ``out``.

    ``client`` (a ``dask.distributed.Client``) is handed to studies whose ``run`` takes a
    ``client`` keyword (see :func:`supports_client`); the others run in-process, with a warning.

    Outputs are produced in a hidden staging folder inside ``out`` and each is moved into place
    by an atomic rename once the whole study has finished. If the run is interrupted (Ctrl-C),
    ``out`` keeps whatever complete outputs it held before; the partial outputs are kept apart
    in ``out/interrupted-<time>/`` for inspection.

    Examples
    --------
    >>> outcome = run_study("polynomial-evidence", "out/poly", fast=True)  # doctest: +SKIP
    >>> sorted(outcome.files)  # doctest: +SKIP
    """
    study = get_study(name, root)
    settings = load_config(study, config)
    out_dir = _writable_dir(Path(out))
    module = load_module(study)
    accepted = inspect.signature(module.run).parameters
    kwargs: dict[str, Any] = {"fast": fast, "seed": seed}
    if progress is not None and "progress" in accepted:
        kwargs["progress"] = progress
    if check_client(client) is not None:
        if "client" in accepted:
            kwargs["client"] = client
        else:
            warnings.warn(
                f"case study {study.name} does not distribute its work (its run() takes no "
                "client); running it in-process",
                UserWarning,
                stacklevel=2,
            )
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        result = module.run(settings, staging, **kwargs) or {}
        write_report(staging / "report.md", study, result, fast=fast, seed=seed, config=config)
    except KeyboardInterrupt:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        staging.rename(out_dir / f"interrupted-{stamp}")
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = out_dir / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            files[str(path.relative_to(staging))] = target
    shutil.rmtree(staging, ignore_errors=True)
    return RunOutcome(out_dir, files, result)


def supports_client(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether the study's ``run`` takes a ``client`` keyword (a Dask client to spread work on)."""
    module = load_module(get_study(name, root))
    return "client" in inspect.signature(module.run).parameters


def load_study(name: str, root: str | os.PathLike[str] | None = None) -> tuple[ModuleType, dict]:
    """The study's module and its default config (for tests and notebooks)."""
    study = get_study(name, root)
    return load_module(study), load_config(study)


def run_as_script(study_file: str | os.PathLike[str], argv: list[str] | None = None) -> None:
    """``python case_studies/<name>/study.py [options]``, the same as ``bayesphys run <name>``.

    Every study ends with ``if __name__ == "__main__": run_as_script(__file__)``, so the script
    and the CLI share one argument parser, output handling and report.
    """
    from bayesphys.cli import main

    folder = Path(study_file).resolve().parent
    args = sys.argv[1:] if argv is None else argv
    raise SystemExit(main(["--studies", str(folder.parent), "run", folder.name, *args]))
