"""`sftscope compare RUN_DIR...`: runs side by side at one step, per domain and per task, with 95% intervals.

sftscope compare runs/a runs/b --step last               # markdown tables on stdout
sftscope compare run-a run-b --db results.db --step 640 --out table.html
"""

from __future__ import annotations

import argparse

from sftscope.cli.report import add_interval_options, check_interval_options


def step_value(text: str) -> str | int:
    if text == "last":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--step {text!r}: use 'last' or a step number such as 640"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--step {text}: a step is 0 (the base) or positive")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this command's parser; `set_defaults(handler=...)` names the function that runs it."""
    parser = subparsers.add_parser(
        "compare",
        help="compare runs side by side at one step (per domain and per task, with intervals)",
        description="Print a markdown table of several runs at one checkpoint (the paper's Tables 1, 2 and 4): "
        "one row per run, a column per domain and per task, each 'mean [95% CI]' in percent.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories or results DB files; with --db, run names inside that DB",
    )
    parser.add_argument(
        "--step",
        type=step_value,
        default="last",
        help="'last' (each run's last checkpoint, the default) or a step number, e.g. 640",
    )
    parser.add_argument(
        "--db", default=None, help="one results DB that holds every run (default: each RUN_DIR/sftscope.db)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="also write the tables to FILE (.md for markdown, .html for HTML); stdout always gets markdown",
    )
    add_interval_options(parser)
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sftscope.atomic import atomic_open
    from sftscope.errors import InputError
    from sftscope.report.comparison import compare_runs, comparison_document
    from sftscope.report.html import render_html
    from sftscope.report.markdown import render_markdown

    check_interval_options(args)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in (".md", ".html", ".htm"):
        raise InputError(f"--out {out}: use a .md or .html file name")
    doc = comparison_document(*compare_runs(args.sources, args.step, args.db, args.bootstrap, args.seed))
    markdown = render_markdown(doc, {})
    print(markdown)
    if out is not None:
        with atomic_open(out) as handle:
            handle.write(markdown if out.suffix == ".md" else render_html(doc))
        print(f"written to {out}")
    return 0
