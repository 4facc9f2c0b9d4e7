"""`sftscope`: one console script with noun–verb subcommands.

    sftscope data countdown|verify|variant|audit|convert ...   build and audit SFT data
    sftscope model init ...                                    the mini-lab base model
    sftscope train CONFIG.yaml                                 long-CoT SFT with the paper's recipe
    sftscope eval run|list|score|rescore ...                   benchmarks, per-sample results in SQLite
    sftscope sweep RUN_DIR                                     evaluate base + every checkpoint, resumably
    sftscope report RUN_DIR / sftscope compare RUN ...         verdict, curves, tables
    sftscope lab                                               the whole loop on 2 CPU cores (make demo)

Heavy libraries (torch, transformers, vllm) are imported inside the command functions, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import sys

from sftscope import __version__
from sftscope.cli import compare, data, lab, model, report, sweep, train
from sftscope.cli import eval as eval_cmd
from sftscope.errors import InputError

COMMAND_MODULES = (data, model, train, eval_cmd, sweep, report, compare, lab)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sftscope",
        description="Does my long chain-of-thought SFT generalize — across domains, over training, "
        "and at what safety cost?",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `sftscope COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"sftscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
