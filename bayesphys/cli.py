"""The ``bayesphys`` command line: list and run case studies, summarise and diagnose posteriors.

Examples
--------
``bayesphys list``, ``bayesphys run polynomial-evidence --fast --out out/poly``,
``bayesphys run nuclear-mass-bma --workers 2`` (Dask; or ``--scheduler tcp://host:8786``),
``bayesphys summarize out/poly/posterior_degree3.nc``,
``bayesphys diagnose out/poly/posterior_degree3.nc --out out/poly/diagnostics``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

RUN_DESCRIPTION = """\
Run a case study and write its figures, posteriors and report.md into --out.

Settings, lowest precedence first: the study's config.toml; under --fast its [fast] table;
the --config file (a key it sets beats the same key in [fast]; a [fast] key it sets itself
is used under --fast); --seed. An unknown key or a value of the wrong type is an error.

Outputs move into --out only when the whole study has finished. An interruption (Ctrl-C,
SIGINT or SIGTERM) at any point exits with status 130 and leaves --out as it was; partial
outputs, if any, are kept in --out/interrupted-<time>/ with a report.md saying so. Usage
errors exit with status 2."""


def _version() -> str:
    from bayesphys import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``bayesphys run: error: ... (see --help)``, exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayesphys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"bayesphys {_version()}")
    parser.add_argument(
        "--studies", type=Path, default=None, help="case-study folder (default: ./case_studies)"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="one line per case study")
    run = commands.add_parser(
        "run",
        help="run a case study end to end",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("name", help="case-study name, as `bayesphys list` prints it")
    run.add_argument(
        "--fast",
        action="store_true",
        help="smoke-test settings: the study's [fast] table (fewer draws, iterations and "
        "nuclei); every step runs, but the numbers are rough. Measured on an idle 2-core "
        "machine, start-up included: about 6 s for gp-emulator, polynomial-evidence, "
        "quantum-dot-vmc and semf, 9 s for nuclear-mass-bma, 11 s for bnn-mass-residuals "
        "(2-4 times as long on a busy machine)",
    )
    run.add_argument("--out", type=Path, default=None, help="output folder (default: out/NAME)")
    run.add_argument("--seed", type=_seed, default=None, help="random seed (default: config's)")
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML file of setting overrides, in the sections of the study's config.toml; "
        "its values beat the [fast] table under --fast",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="spread the study's work over the Dask scheduler at ADDRESS (tcp://host:8786)",
    )
    where.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=None,
        help="spread the study's work over a local Dask cluster of N worker processes",
    )
    summarize = commands.add_parser("summarize", help="posterior summary of a .nc file")
    summarize.add_argument("file", type=Path)
    summarize.add_argument("--var", nargs="+", default=None, help="variables to summarise")
    diagnose = commands.add_parser("diagnose", help="trace and rank plots of a .nc file")
    diagnose.add_argument("file", type=Path)
    diagnose.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    diagnose.add_argument("--var", nargs="+", default=None, help="variables to plot")
    return parser


def _list(args) -> int:
    from bayesphys.studies import find_studies

    studies = find_studies(args.studies)
    width = max((len(n) for n in studies), default=0)
    for name, info in studies.items():
        print(f"{name:<{width}}  {info.description}")
    return 0


def _run(args) -> int:
    from bayesphys.studies import interrupt_signals

    # SIGTERM raises KeyboardInterrupt from the start, so it ends as Ctrl-C does: exit 130.
    with interrupt_signals():
        return _run_study(args)


def _run_study(args) -> int:
    from bayesphys.core.distributed import open_client
    from bayesphys.studies import RunInterrupted, StudyProgress, prepare_run, run_prepared

    out = args.out if args.out is not None else Path("out") / args.name
    # Every check first: a usage error is one line on stderr, before any progress bar.
    prepared = prepare_run(args.name, out, config=args.config, root=args.studies)
    scheduler, workers = args.scheduler, args.workers
    if (scheduler, workers) != (None, None) and not prepared.supports_client:
        print(f"bayesphys: note: {args.name} runs in-process (no Dask support)", file=sys.stderr)
        scheduler = workers = None
    try:
        with contextlib.ExitStack() as stack:
            try:
                client = stack.enter_context(open_client(scheduler, workers))
            except (OSError, ImportError) as err:
                # Unreachable scheduler or no dask installed: a usage error, not a crash.
                raise ValueError(str(err)) from err
            # Steps bar with a total and ETA; long steps add their own bar below it.
            progress = stack.enter_context(StudyProgress(show=True, desc=args.name))
            outcome = run_prepared(
                prepared,
                fast=args.fast,
                seed=args.seed,
                progress=progress,
                client=client,
            )
    except RunInterrupted as err:
        kept = f"; partial outputs in {err.kept}" if err.kept is not None else ""
        print(
            f"bayesphys: interrupted ({err.reason}); {prepared.out_dir} keeps its earlier "
            f"outputs{kept}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"{len(outcome.files)} files written to {outcome.out_dir}; see report.md")
    return 0


def _load(path: Path):
    from bayesphys.core import results

    if not path.exists():
        raise ValueError(f"file: {path} does not exist")
    if not path.is_file():
        raise ValueError(f"file: {path} is not a file")
    try:
        return results.load(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"file: {path} is not an InferenceData netCDF file ({err})") from err


def _summarize(args) -> int:
    from bayesphys.core import results

    idata = _load(args.file)
    if "posterior" not in idata.groups():
        raise ValueError(f"file: {args.file} has no posterior group")
    table = results.summary(idata, var_names=args.var)
    print(table.to_string())
    if idata.posterior.sizes.get("chain", 1) > 1:
        for message in results.convergence_warnings(idata, var_names=args.var):
            print(f"warning: {message}", file=sys.stderr)
    else:
        print("note: one chain, so R-hat is not informative", file=sys.stderr)
    return 0


def _diagnose(args) -> int:
    from bayesphys.core import results

    paths = results.plot_diagnostics(_load(args.file), args.out, var_names=args.var)
    for path in paths.values():
        print(path)
    return 0


COMMANDS = {"list": _list, "run": _run, "summarize": _summarize, "diagnose": _diagnose}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayesphys`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("bayesphys: interrupted; completed outputs are intact", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError, KeyError) as err:
        # The library's bad-input errors (ValueError/TypeError naming the argument), missing
        # or unwritable files: one line, never a traceback.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        text = " ".join(str(message).split())
        print(f"bayesphys: error: {text}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
