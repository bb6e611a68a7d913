"""Discover, configure and run the case studies in ``case_studies/<name>/``.

A case study is a folder with ``study.py`` (a ``run(config, out_dir, *, fast, seed)`` function
returning a dict with ``files``; it may also take ``progress`` and ``client`` keywords, and
declare its steps with ``steps(config, *, fast)``: see :class:`StudyProgress`),
``config.toml`` (its settings, with a ``[fast]`` section of overrides) and ``README.md``. The
runner writes into a staging folder inside ``--out`` and moves each finished file into place
with an atomic rename, so ``--out`` never holds half-written files.

Interruptions (SIGINT, SIGTERM) follow one rule: a run that was interrupted anywhere, including
inside a library that caught the ``KeyboardInterrupt`` and returned a result marked by
:mod:`bayesphys.core.interrupts`, raises :class:`RunInterrupted` and leaves ``--out`` with
exactly the outputs it held before; what the run had produced is kept, if anything, in
``--out/interrupted-<time>/`` beside a ``report.md`` that says it is partial.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import importlib.util
import inspect
import os
import shutil
import signal
import sys
import tempfile
import threading
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bayesphys.core.distributed import check_client
from bayesphys.core.interrupts import InterruptedRunWarning, is_interrupted
from bayesphys.report import write_interrupted_report, write_report

ENV_VAR = "BAYESPHYS_CASE_STUDIES"

# The step the runner itself adds after the study's own: the report (PSIS-LOO, summaries).
REPORT_STEP = "report written"


class _NoBar:
    """Stands in for a tqdm bar when nothing is shown."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


class StudyProgress:
    """What a running case study tells its user: finished steps, and bars inside long steps.

    A study's ``run`` that takes a ``progress`` keyword receives one (or whatever callable the
    caller of :func:`run_study` gave, which :func:`as_progress` wraps). The study

    - declares its steps up front with a module-level ``steps(config, *, fast) -> list[str]``
      (or a ``STEPS`` sequence), so the bar has a total and an ETA (``3/5 [00:12<00:08]``); the
      runner adds one step, the report;
    - calls ``progress("name")`` when a step has finished;
    - inside a long step, passes ``progressbar=progress.bars`` to a family's fit (its own bar
      shows below the steps), or wraps a loop in ``with progress.substeps(n, "what") as bar:``
      and calls ``bar.update()`` per item.

    Parameters
    ----------
    callback : callable, optional
        Called with the name of each finished step.
    show : bool
        Draw tqdm bars on stderr (the ``bayesphys run`` command); otherwise only ``callback``.
    desc : str
        Label of the steps bar.
    """

    def __init__(
        self, callback: Callable[[str], None] | None = None, *, show: bool = False, desc: str = ""
    ) -> None:
        self._callback = callback
        self.bars = show
        self.desc = desc
        self.total: int | None = None
        self.done: list[str] = []
        self._bar: Any = None

    def expect(self, total: int | None) -> None:
        """Set the number of steps the run will report (None: unknown); opens the bar."""
        self.total = total
        if not self.bars:
            return
        from tqdm.auto import tqdm

        if self._bar is not None:
            self._bar.close()
        # tqdm puts ", " before a postfix; the remaining time needs a total.
        timing = "[{elapsed}<{remaining}]" if total else "[{elapsed}]"
        self._bar = tqdm(
            total=total,
            initial=len(self.done),
            desc=self.desc,
            unit="step",
            bar_format="{desc}: {n_fmt}/{total_fmt} steps " + timing + "{postfix}",
            leave=True,
        )

    def __call__(self, step: str) -> None:
        """Mark the step ``step`` finished."""
        self.done.append(step)
        if self._bar is not None:
            self._bar.set_postfix_str(step, refresh=False)
            self._bar.update()
            self._bar.refresh()  # steps are seconds apart: show each, whatever tqdm's interval
        if self._callback is not None:
            self._callback(step)

    @contextlib.contextmanager
    def substeps(self, total: int, desc: str) -> Iterator[Any]:
        """A bar of ``total`` parts of one long step, below the steps bar (if bars are shown).

        Yields an object with ``update(n=1)``; the bar disappears when the block ends.
        """
        if not self.bars:
            yield _NoBar()
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, leave=False)
        try:
            yield bar
        finally:
            bar.close()

    def close(self) -> None:
        """Close the steps bar (the runner does this when the run ends)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StudyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_progress(progress: Callable[[str], None] | StudyProgress | None) -> StudyProgress:
    """``progress`` as a :class:`StudyProgress` (a plain callable gets each finished step).

    Studies call this on their ``progress`` argument, so ``run(config, out)`` without one works.
    """
    if isinstance(progress, StudyProgress):
        return progress
    return StudyProgress(progress)


def declared_steps(module: ModuleType, settings: Mapping, *, fast: bool) -> list[str] | None:
    """The steps a study module declares (``steps(config, *, fast)`` or ``STEPS``), or None."""
    declare = getattr(module, "steps", None)
    if callable(declare):
        return [str(step) for step in declare(settings, fast=fast)]
    fixed = getattr(module, "STEPS", None)
    return [str(step) for step in fixed] if fixed is not None else None


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
    case studies shipped inside the package (``bayesphys/case_studies``: in a checkout a link to
    the top-level ``case_studies`` folder, in an installed wheel a copy of it).
    """
    explicit = root if root is not None else os.environ.get(ENV_VAR)
    if explicit:
        if not Path(explicit).is_dir():
            raise FileNotFoundError(f"case-study folder {explicit} does not exist")
        return Path(explicit)
    candidates = [Path.cwd() / "case_studies", Path(__file__).resolve().parent / "case_studies"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no case_studies folder in {candidates[0].parent} or inside the installed package "
        f"(a broken install?); set {ENV_VAR} to the folder"
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


class RunInterrupted(KeyboardInterrupt):
    """A case-study run was interrupted; ``--out`` holds exactly what it held before.

    Attributes
    ----------
    reason : str
        What interrupted it (a signal, or a library's result marked interrupted).
    kept : pathlib.Path or None
        The ``interrupted-<time>`` folder holding the partial outputs, if any were produced.
    """

    def __init__(self, reason: str, kept: Path | None = None):
        super().__init__(reason)
        self.reason = reason
        self.kept = kept


def _read_toml(path: Path, what: str) -> dict:
    # Every way a file can fail to be a TOML table becomes one ValueError naming the file.
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{what}: {path} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}); TOML files must be UTF-8"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{what}: {path} is not valid TOML ({err})") from err
    except OSError as err:
        raise ValueError(f"{what}: cannot read {path} ({err.strerror or err})") from err


def load_config(study: StudyInfo, override: str | os.PathLike[str] | None = None) -> dict:
    """The study's ``config.toml``, updated by the settings in the ``override`` TOML file.

    Precedence: a setting in ``override`` beats the study's ``[fast]`` table. Where ``override``
    sets a key that ``[fast]`` also sets (``[model] draws`` and ``[fast] draws``, or
    ``[nuts] enabled`` and ``[fast] nuts_enabled``), the ``[fast]`` entry takes the user's value,
    so ``--fast --config`` runs the user's value; a ``[fast]`` key set in ``override`` itself
    wins under ``--fast``.

    Raises
    ------
    ValueError
        If a file is not UTF-8 TOML, or ``override`` names a section or key the study does not
        have (a typo would otherwise be ignored silently), gives a table where the study has a
        value or the reverse, or a value of another type than the study's default (an integer
        where the default is an integer, a number where it is a float, ...).
    """
    config = _read_toml(study.path / "config.toml", f"case study {study.name}")
    if override is None:
        return config
    path = Path(override)
    if not path.is_file():
        raise ValueError(f"--config: {path} is not a file")
    user = _read_toml(path, "--config")
    merged = merge_config(config, user, study.name)
    fast = config.get("fast")
    if isinstance(fast, Mapping):
        user_fast = user.get("fast", {})
        for keys, value in _leaves(user):
            if keys[0] == "fast":
                continue
            for name in {keys[-1], "_".join(keys[-2:])}:
                if name in fast and name not in user_fast:
                    merged["fast"] = {**merged["fast"], name: value}
    return merged


def _leaves(table: Mapping, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple, Any]]:
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _kind(value: Any) -> tuple[str, Callable[[Any], bool]] | None:
    """The expected type of a setting whose default is ``value``: a name and a test."""
    if isinstance(value, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(value, int):
        return "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if isinstance(value, float):
        return "a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if isinstance(value, str):
        return "a string", lambda v: isinstance(v, str)
    if isinstance(value, list):
        return "a list", lambda v: isinstance(v, list)
    return None  # dates and times: TOML's own types, passed through


def _checked_value(where: str, default: Any, value: Any) -> Any:
    """``value`` if it has the type of ``default`` (ints widen to floats), else ValueError."""
    kind = _kind(default)
    if kind is not None and not kind[1](value):
        raise ValueError(
            f"config key {where!r} must be {kind[0]} (like its default {default!r}), got {value!r}"
        )
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, list) and default:
        # A homogeneous default list says what its elements are (["FRDM95"], [8], ...).
        kinds = {_kind(item)[0] if _kind(item) else None for item in default}
        if len(kinds) == 1 and None not in kinds:
            return [
                _checked_value(f"{where}[{i}]", default[0], item) for i, item in enumerate(value)
            ]
    return value


def merge_config(defaults: Mapping, user: Mapping, study: str, prefix: str = "") -> dict:
    """Recursive update of ``defaults`` by ``user`` that rejects unknown keys and wrong types."""
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
        elif isinstance(value, Mapping):
            raise ValueError(f"config key {where!r} is a value, not a table: write {where} = ...")
        else:
            merged[key] = _checked_value(where, defaults[key], value)
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


@dataclass(frozen=True)
class PreparedRun:
    """A checked run, ready to start: study, merged settings, output folder, study module."""

    study: StudyInfo
    settings: dict
    out_dir: Path
    module: ModuleType
    config: str | os.PathLike[str] | None = None

    @property
    def supports_client(self) -> bool:
        """Whether the study's ``run`` takes a ``client`` keyword."""
        return "client" in inspect.signature(self.module.run).parameters


def prepare_run(
    name: str,
    out: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> PreparedRun:
    """Check everything a run needs before it starts (study, config, ``out``), or ValueError."""
    study = get_study(name, root)
    settings = load_config(study, config)
    out_dir = _writable_dir(Path(out))
    return PreparedRun(study, settings, out_dir, load_module(study), config)


class _Signals:
    """What :func:`interrupt_signals` saw: signal names received, and whether to defer them."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.deferred = False


@contextlib.contextmanager
def interrupt_signals() -> Iterator[_Signals]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` and are remembered.

    SIGTERM would otherwise end the process at once, leaving its staging folder behind. The
    record lets the runner notice an interruption that a library swallowed. While ``deferred``
    is set, a signal is only recorded (the runner sets it while moving outputs into place).
    Outside the main thread (where no handler can be installed) nothing changes.
    """
    state = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        state.received.append(signal.Signals(signum).name)
        if not state.deferred:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _interrupt_warnings() -> Iterator[list[str]]:
    """Record every :class:`InterruptedRunWarning` raised in the block and still show it."""
    seen: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", InterruptedRunWarning)
        show = warnings.showwarning

        def record(message, category, *args, **kwargs):
            if issubclass(category, InterruptedRunWarning):
                seen.append(str(message))
            show(message, category, *args, **kwargs)

        warnings.showwarning = record
        yield seen


def _marked(value: Any, where: str, depth: int = 0) -> str | None:
    """Where in a study's result an interrupted-marked object lies (None if nowhere)."""
    if depth > 4 or isinstance(value, str | bytes | int | float | complex | type(None)):
        return None
    try:
        if is_interrupted(value):
            return where
    except Exception:  # an exotic object is not a marked result
        pass
    if callable(getattr(value, "groups", None)):
        return None  # an InferenceData: its groups were checked above
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _marked(item, f"{where}[{key!r}]", depth + 1)
        if found:
            return found
    return None


def _interruption(signals: _Signals, warned: list[str], result: Any, staging: Path) -> str | None:
    """Why a study that returned is nonetheless interrupted, or None if it is complete."""
    if signals.received:
        return f"{signals.received[0]} received"
    if warned:
        return warned[0]
    where = _marked(result, "result")
    if where:
        return f"{where} is marked interrupted"
    posteriors = sorted(staging.rglob("*.nc"))
    if posteriors:
        from bayesphys.core import results

        for path in posteriors:
            try:
                if is_interrupted(results.load(path)):
                    return f"{path.relative_to(staging)} is marked interrupted"
            except Exception:  # not an InferenceData file: the report shows it as it is
                pass
    return None


def _keep_partial(staging: Path | None, out_dir: Path, study: StudyInfo, reason: str):
    """Rename the staging folder to ``interrupted-<time>`` with a report saying so, or remove it."""
    if staging is None or not staging.is_dir():
        return None
    if not any(p.is_file() for p in staging.rglob("*")):
        shutil.rmtree(staging, ignore_errors=True)
        return None
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        kept = out_dir / (f"interrupted-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            kept.mkdir()  # claims the name: a rename onto an existing folder can replace it
        except FileExistsError:
            continue
        os.replace(staging, kept)
        break
    else:  # pragma: no cover - a thousand interrupted runs in one second
        shutil.rmtree(staging, ignore_errors=True)
        return None
    try:
        write_interrupted_report(kept / "report.md", study, reason)
    except OSError:
        pass  # the folder name still says it is partial
    return kept


def _commit(staging: Path, out_dir: Path, signals: _Signals) -> dict[str, Path]:
    """Move the finished outputs into ``out_dir``; undo all of it if a signal came meanwhile.

    The caller has deferred signals, so the moves run to the end; an interruption or an error
    during them moves every replaced output back, so ``out_dir`` is either all new or as before.
    """
    staged = sorted(p for p in staging.rglob("*") if p.is_file())
    for path in staged:
        target = out_dir / path.relative_to(staging)
        if target.is_dir() and not target.is_symlink():
            # Moving a folder aside to replace it would delete the user's folder at the end.
            raise ValueError(f"--out: {target} is a folder, where the study writes a file")
    previous = staging / ".bayesphys-previous"
    received = len(signals.received)
    done: list[tuple[Path, Path, Path | None]] = []
    made: list[Path] = []
    try:
        for path in staged:
            rel = path.relative_to(staging)
            target = out_dir / rel
            for parent in reversed(target.relative_to(out_dir).parents[:-1]):
                if not (out_dir / parent).exists():
                    (out_dir / parent).mkdir()
                    made.append(out_dir / parent)
            backup = None
            if target.exists() or target.is_symlink():
                backup = previous / rel
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, backup)
            done.append((path, target, backup))
            os.replace(path, target)
        if len(signals.received) > received:
            raise KeyboardInterrupt(signals.received[-1])
    except BaseException as err:
        for path, target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if target.exists():
                    os.replace(target, path)
                if backup is not None:
                    os.replace(backup, target)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, OSError):
            raise ValueError(f"--out: cannot move outputs into {out_dir} ({err})") from err
        raise
    return {str(target.relative_to(out_dir)): target for _, target, _ in done}


def run_study(
    name: str,
    out: str | os.PathLike[str],
    *,
    fast: bool = False,
    seed: int | None = None,
    config: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | StudyProgress | None = None,
    client=None,
) -> RunOutcome:
    """Run a case study and write its outputs and ``report.md`` into ``out``.

    ``progress`` (a :class:`StudyProgress`, or a callable given each finished step's name)
    learns the number of steps, the study's declared steps plus the report, before the study
    starts. ``client`` (a ``dask.distributed.Client``) is handed to studies whose ``run`` takes a
    ``client`` keyword (see :func:`supports_client`); the others run in-process, with a warning.

    Outputs are produced in a hidden staging folder inside ``out`` and moved into place once the
    whole study has finished. If the run is interrupted (SIGINT/Ctrl-C or SIGTERM, at any
    point, or a library returned a result marked interrupted), :class:`RunInterrupted` is
    raised, ``out`` keeps exactly the outputs it held before, and the partial outputs are kept
    apart in ``out/interrupted-<time>/`` with a ``report.md`` saying they are partial.

    Examples
    --------
    >>> outcome = run_study("polynomial-evidence", "out/poly", fast=True)  # doctest: +SKIP
    >>> sorted(outcome.files)  # doctest: +SKIP
    """
    prepared = prepare_run(name, out, config=config, root=root)
    return run_prepared(prepared, fast=fast, seed=seed, progress=progress, client=client)


def run_prepared(
    prepared: PreparedRun,
    *,
    fast: bool = False,
    seed: int | None = None,
    progress: Callable[[str], None] | StudyProgress | None = None,
    client=None,
) -> RunOutcome:
    """Run a study checked by :func:`prepare_run` (see :func:`run_study`)."""
    study, module, out_dir = prepared.study, prepared.module, prepared.out_dir
    accepted = inspect.signature(module.run).parameters
    kwargs: dict[str, Any] = {"fast": fast, "seed": seed}
    progress = as_progress(progress)
    if "progress" in accepted:
        kwargs["progress"] = progress
        steps = declared_steps(module, prepared.settings, fast=fast)
        progress.expect(None if steps is None else len(steps) + 1)
    else:
        progress.expect(1)  # the study reports nothing: the report is the one step
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
    staging = None
    reason = "KeyboardInterrupt raised"
    with interrupt_signals() as signals:
        try:
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
            with _interrupt_warnings() as warned:
                result = module.run(prepared.settings, staging, **kwargs) or {}
            marked = _interruption(signals, warned, result, staging)
            if marked is not None:
                reason = marked
                raise KeyboardInterrupt(marked)
            write_report(
                staging / "report.md",
                study,
                result,
                fast=fast,
                seed=seed,
                config=prepared.config,
                settings=prepared.settings,
            )
            progress(REPORT_STEP)
            signals.deferred = True  # from here on a signal undoes the moves instead
            files = _commit(staging, out_dir, signals)
        except BaseException as err:
            signals.deferred = True  # a second Ctrl-C must not leave a staging folder
            # A study that failed after a signal (e.g. on the truncated output of a library
            # that swallowed the Ctrl-C) was interrupted, not wrong.
            if not (isinstance(err, KeyboardInterrupt) or signals.received):
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                raise
            if signals.received and reason == "KeyboardInterrupt raised":
                reason = f"{signals.received[0]} received"
            if not isinstance(err, KeyboardInterrupt):
                reason += f"; the study then failed: {type(err).__name__}: {err}"
            kept = _keep_partial(staging, out_dir, study, reason)
            raise RunInterrupted(reason, kept) from err
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
