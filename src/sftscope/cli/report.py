"""`sftscope report RUN_DIR`: the verdict, curves, behaviour trends and tables of one run, as HTML + markdown.

sftscope report runs/lab                       # -> runs/lab/report/index.html and report.md
sftscope report results.db --run qwen3-4b --out /tmp/r
"""

from __future__ import annotations

import argparse
import sys

BOOTSTRAP = 1000  # analysis.estimator.N_BOOT; a literal so that `--help` does not import numpy


def add_interval_options(parser: argparse.ArgumentParser) -> None:
    """--bootstrap and --seed, defined once: `report` and `compare` must print the same interval for a cell.
    `check_interval_options` validates them (a one-line error, as every other bad option)."""
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP,
        help="bootstrap resamples for the 95%% intervals (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap resampling (default: %(default)s)"
    )


def check_interval_options(args: argparse.Namespace) -> None:
    from sftscope.errors import InputError

    if args.bootstrap < 100:
        raise InputError(
            f"--bootstrap {args.bootstrap}: use at least 100 resamples for a stable 95% interval"
        )
    if args.seed < 0:
        raise InputError(f"--seed {args.seed}: use a seed >= 0")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this command's parser; `set_defaults(handler=...)` names the function that runs it."""
    parser = subparsers.add_parser(
        "report",
        help="write the HTML/markdown report of one run (verdict, curves, behaviour, trade-off)",
        description="Analyse every stored sample of one run and write a self-contained report/index.html "
        "(figures embedded, opens offline) and report.md. The verdict says, per domain, whether the scores "
        "dipped and recovered, and whether training should continue.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", metavar="RUN_DIR", help="a run directory (reads RUN_DIR/sftscope.db) or a results DB file"
    )
    parser.add_argument("--db", default=None, help="results DB to read instead of RUN_DIR/sftscope.db")
    parser.add_argument(
        "--run",
        default=None,
        help="run name inside the DB (default: the run dir's name, or the DB's only run)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")
    add_interval_options(parser)
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from sftscope.report.build import build_report

    check_interval_options(args)
    console = Console(file=sys.stderr)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("report", total=None)
        result = build_report(
            args.source,
            db=args.db,
            out=args.out,
            run=args.run,
            n_boot=args.bootstrap,
            seed=args.seed,
            progress=lambda what: progress.update(bar, description=f"report: {what}"),
        )
    print(f"run {result.run}: report written to {result.html} and {result.markdown}")
    for line in result.findings.verdict():
        print(f"  - {line}")
    return 0
