"""`sftscope lab`: the whole loop on 2 CPU cores (what `make demo` runs)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
The mini-lab: build a tiny Qwen3 base model with some procedural skill, generate Countdown SFT data, train
it with log-spaced checkpoints, evaluate the base and every checkpoint in-domain (Countdown) and
cross-domain (held-out reasoning-gym families), and write the report. Nothing is downloaded.

Each stage records its settings in OUT/.stages/ when it finishes; a second run reuses every finished stage
(and a killed one resumes), so it only re-reads results. A changed setting reruns that stage and the ones
after it. Sizes and the reason for each are in sftscope/lab/config.py (LabConfig); change them with --set.

examples:
  sftscope lab                                  # -> runs/lab/direct/report/index.html
  sftscope lab --arms direct,cot                # add the full search-trace arm (slower, learns less on CPU)
  sftscope lab --set sft_steps=200 --set limit=50 --out /tmp/lab-small
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this command's parser; `set_defaults(handler=...)` names the function that runs it."""
    p = subparsers.add_parser(
        "lab",
        help="the whole loop on 2 CPU cores: base model, data, SFT, sweep, report (make demo)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default=None, help="output folder (default: runs/lab)")
    p.add_argument(
        "--arms",
        default=None,
        help="comma-separated SFT data arms: direct (solution path only), cot (full search traces with dead "
        "ends) (default: direct)",
    )
    p.add_argument("--fresh", action="store_true", help="delete OUT first and recompute every stage")
    p.add_argument("--config", default=None, help="a YAML file of LabConfig overrides (default: none)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one LabConfig field, repeatable (e.g. --set sft_steps=300 --set replay=0)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sftscope.config import load_config
    from sftscope.lab.config import LabConfig
    from sftscope.lab.pipeline import run_lab

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"out={args.out}")
    if args.arms:
        overrides.append(f"arms=[{args.arms}]")
    cfg = load_config(LabConfig, args.config, overrides)
    result = run_lab(cfg, fresh=args.fresh, progress=not args.no_progress)
    total = sum(result.seconds.values())
    print(f"mini-lab in {result.out} ({total:.0f} s in this run)")
    for arm in result.arms:
        print(f"  {arm.arm}: SFT data: {arm.data}")
        for task, by_step in sorted(arm.accuracy.items(), key=lambda kv: (kv[0] != "countdown", kv[0])):
            cells = ", ".join(f"{step}: {100 * right / n:.0f}%" for step, (right, n) in by_step.items())
            print(f"    {task:16s} {cells}")
        print(f"  report: {arm.report}")
    print(f"summary: {result.summary}")
    return 0
