"""`sftscope data countdown|verify|variant|audit|convert`: build, check and inspect SFT data.

sftscope data countdown --n 2000 --seed 0 --out countdown.parquet
sftscope data verify math.parquet --out kept.parquet --rejected bad.jsonl --report verify.json
sftscope data variant math.parquet --out nocot.parquet --kind nocot
sftscope data audit math.parquet --max-length 20000 --verify
sftscope data convert paper.parquet --out canonical.jsonl --map question=messages
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from sftscope.atomic import check_outputs
from sftscope.errors import InputError

FORMATS = (
    "Inputs: .parquet, .jsonl, .json, .csv, a folder of shards, a save_to_disk folder, a hub id (owner/name) "
    "or hf:<id-or-path>."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    fmt = _Raw
    parser = subparsers.add_parser(
        "data",
        help="build, verify, vary and audit SFT data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    from sftscope.data.countdown import DEFAULTS, STYLES
    from sftscope.data.countdown import __doc__ as countdown_doc

    p = verbs.add_parser(
        "countdown",
        help="generate Countdown-CoT rows from a real search",
        formatter_class=_Raw,
        description=countdown_doc,
    )
    p.add_argument("--n", type=int, required=True, help="number of distinct rows")
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed gives a byte-identical file")
    p.add_argument("--out", required=True, help="output .parquet or .jsonl (written atomically)")
    p.add_argument(
        "--style",
        choices=STYLES,
        default="cot",
        help="cot: full search trace; direct: solution path only; nocot: summary + box",
    )
    p.add_argument("--k-min", type=int, default=DEFAULTS["k_min"], help="fewest numbers per problem")
    p.add_argument("--k-max", type=int, default=DEFAULTS["k_max"], help="most numbers per problem")
    p.add_argument(
        "--max-number", type=int, default=DEFAULTS["max_number"], help="numbers are drawn from 1..N"
    )
    p.add_argument("--max-target", type=int, default=DEFAULTS["max_target"], help="targets are in 1..N")
    p.add_argument(
        "--max-trace-steps",
        type=int,
        default=DEFAULTS["max_trace_steps"],
        help="skip problems whose search needs more attempts than this (caps trace length); 0 = no cap",
    )
    p.set_defaults(handler=run_countdown)

    p = verbs.add_parser(
        "verify",
        help="keep rows whose final answer matches `answer`",
        formatter_class=fmt,
        description="Math rows: Math-Verify on the text after </think>, in worker processes. "
        "Countdown rows (numbers/target columns): the Countdown verifier. " + FORMATS,
    )
    p.add_argument("input", help="input data")
    p.add_argument("--out", required=True, help="kept rows (.parquet/.jsonl)")
    p.add_argument(
        "--rejected",
        help="also write rejected rows, with `verify_reason` (the reason code) and `verify_why` (the detail)",
    )
    p.add_argument("--report", help="write the JSON report here (it is always printed)")
    p.add_argument("--workers", type=int, default=2, help="Math-Verify worker processes")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per row before it counts as timed out")
    p.add_argument(
        "--full-response", action="store_true", help="score the whole response, not only after </think>"
    )
    _add_common(p)
    p.set_defaults(handler=run_verify)

    p = verbs.add_parser(
        "variant",
        help="nocot / answer-only / subset variants",
        formatter_class=fmt,
        description="nocot removes the <think> block (Math-NoCoT); answer-only keeps only "
        "\\boxed{...}; subset draws a seeded random subset of --n rows. " + FORMATS,
    )
    p.add_argument("input", help="input data")
    p.add_argument("--out", required=True, help="output .parquet or .jsonl")
    p.add_argument("--kind", required=True, choices=("nocot", "answer-only", "subset"), help="which variant")
    p.add_argument("--n", type=int, help="subset size (--kind subset)")
    p.add_argument("--seed", type=int, default=0, help="subset seed")
    _add_common(p)
    p.set_defaults(handler=run_variant)

    p = verbs.add_parser(
        "audit",
        help="lengths, think/boxed shares, behaviour markers, teacher stats",
        formatter_class=fmt,
        description="Audit an SFT file. " + FORMATS,
    )
    p.add_argument("input", help="input data")
    p.add_argument(
        "--tokenizer", help="tokenizer dir or id for token lengths; without it lengths are characters"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--max-length", type=int, help="report the share of rows over this many prompt+response tokens"
    )
    p.add_argument("--verify", action="store_true", help="also report the verified share (slower)")
    p.add_argument("--workers", type=int, default=2, help="Math-Verify workers for --verify")
    p.add_argument("--timeout", type=float, default=5.0, help="per-row timeout for --verify")
    _add_common(p)
    p.set_defaults(handler=run_audit)

    p = verbs.add_parser(
        "convert",
        help="read any supported input, write the canonical schema",
        formatter_class=fmt,
        description="Convert to canonical columns. " + FORMATS,
    )
    p.add_argument("input", help="input data")
    p.add_argument("--out", required=True, help="output .parquet or .jsonl")
    _add_common(p)
    p.set_defaults(handler=run_convert)


class _Raw(argparse.RawDescriptionHelpFormatter):
    """Keeps docstring layout; shows a default only where there is one (no "(default: None)" noise)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if action.option_strings and not any(default is v for v in (None, False, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--map", action="append", metavar="OLD=NEW", help="rename a column before reading (repeatable)"
    )
    p.add_argument("--split", default="train", help="split of a dataset dir or hub id")


def _check_pool(args) -> None:
    if args.workers < 1 or not (math.isfinite(args.timeout) and args.timeout > 0):
        raise InputError(
            f"--workers must be >= 1 and --timeout a finite number > 0 (got {args.workers}, {args.timeout})"
        )


def _read(args):
    from sftscope.data.io import parse_column_map, read_rows

    return read_rows(args.input, column_map=parse_column_map(args.map), split=args.split)


def _check_out(args, **outs: str | None) -> None:
    """Outputs must differ from each other and from the input, and not nest in it (see `check_outputs`)."""
    check_outputs({"input": args.input}, {f"--{flag}": path for flag, path in outs.items()})


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", file=sys.stderr, disable=None)


def run_countdown(args) -> int:
    from sftscope.data.countdown import generate_rows
    from sftscope.data.io import write_rows

    start = time.perf_counter()
    with _progress(args.n, "countdown") as bar:
        rows = generate_rows(
            args.n,
            args.seed,
            args.style,
            args.k_min,
            args.k_max,
            args.max_number,
            args.max_target,
            args.max_trace_steps or None,
            progress=lambda k: bar.update(k - bar.n),
        )
    write_rows(rows, args.out)
    backtracked = sum(row.extra["search"]["backtracks"] > 0 for row in rows) / len(rows)
    # Only `cot` responses show the search's dead ends; the others keep the count in their `search` record.
    shown = (
        "with a backtrack" if args.style == "cot" else "whose search backtracked (not shown in this style)"
    )
    print(
        f"wrote {len(rows)} rows to {args.out} in {time.perf_counter() - start:.1f}s ({backtracked:.0%} {shown})"
    )
    return 0


def run_verify(args) -> int:
    from dataclasses import replace

    from sftscope.atomic import write_json
    from sftscope.data.io import check_writable, write_rows
    from sftscope.data.verification import summarize, verify_rows

    _check_out(args, out=args.out, rejected=args.rejected, report=args.report)
    _check_pool(args)
    rows = _read(args)
    for path in (args.out, args.rejected):  # fail now, not after the verification work
        if path:
            check_writable(rows, path)
    start = time.perf_counter()
    with _progress(len(rows), "verify") as bar:
        verdicts = verify_rows(
            rows,
            workers=args.workers,
            timeout=args.timeout,
            strip_think=not args.full_response,
            progress=lambda k: bar.update(k - bar.n),
            source=args.input,
        )
    report = summarize(rows, verdicts, time.perf_counter() - start).to_dict()
    write_rows([row for row, v in zip(rows, verdicts) if v.correct], args.out)
    if args.rejected:
        rejected = [
            replace(
                row,
                extra={**row.extra, "verify_reason": v.reason, "verify_why": (v.details or {}).get("why")},
            )
            for row, v in zip(rows, verdicts)
            if not v.correct
        ]
        write_rows(rejected, args.rejected)
    if args.report:
        write_json(args.report, report)
    print(json.dumps(report, indent=2))
    return 0


def run_variant(args) -> int:
    from sftscope.data.io import write_rows
    from sftscope.data.variants import make_variant

    _check_out(args, out=args.out)
    rows, summary = make_variant(_read(args), args.kind, n=args.n, seed=args.seed)
    if not rows:
        raise InputError(f"{args.input}: no row can take the '{args.kind}' variant (nothing written)")
    write_rows(rows, args.out)
    print(
        f"wrote {summary['rows_out']} rows to {args.out} ({summary['dropped']} dropped of {summary['rows_in']})"
    )
    return 0


def run_convert(args) -> int:
    from sftscope.data.io import write_rows

    _check_out(args, out=args.out)
    rows = _read(args)
    write_rows(rows, args.out)
    print(f"wrote {len(rows)} canonical rows to {args.out}")
    return 0


def run_audit(args) -> int:
    from sftscope.data.audit import audit_rows, load_tokenizer

    _check_pool(args)
    rows = _read(args)
    verdicts = None
    if args.verify:
        from sftscope.data.verification import verify_rows

        verdicts = verify_rows(rows, workers=args.workers, timeout=args.timeout, source=args.input)
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else None
    report = audit_rows(rows, tokenizer=tokenizer, max_length=args.max_length, verdicts=verdicts)
    report["input"] = str(args.input)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from rich.console import Console

        from sftscope.data.audit import audit_table

        Console().print(audit_table(report))
    return 0
