"""`sftscope sweep RUN_DIR_OR_HUB_ID --suite NAME`: evaluate the base and every checkpoint, resumably."""

from __future__ import annotations

import argparse

from sftscope.cli.evalopts import add_eval_options, check_json_flag, eval_values, report_plan_notes, resolve

DESCRIPTION = """\
Evaluate the base model (step 0) and every checkpoint of a run on a suite of tasks; every sample goes to
the results DB. Run it again (or after a crash) and it only does what is missing. It takes every option of
`eval run` (protocol, sampling, judges, data paths, backend options).

Checkpoint layouts: ours (checkpoints/step-<N>/), HF Trainer (checkpoint-<N>/), verl (global_step_<N>/,
merged_step<N>/) and the paper's released step<N>/ folders, in a local dir or a hub repo (owner/name; each
step is downloaded when it is evaluated). A checkpoint still being written is skipped with a warning
(and retried by --watch), never half-evaluated.

examples:
  sftscope sweep runs/lab/direct --suite lab
  sftscope sweep runs/math-cot --suite paper --backend vllm --steps 0,40,last
  sftscope sweep runs/math-cot --suite safety --data-path hexphi=./HEx-PHI --judge gpt-4.1 \\
      --judge-base-url https://api.openai.com/v1
  sftscope sweep runs/math-cot --suite paper --watch --poll-seconds 60   # while training runs
  sftscope sweep runs/math-cot --suite paper --backend vllm --data-parallel 8   # 8 engines, 8 GPUs
  sftscope sweep runs/math-cot --suite paper --dry-run   # what is missing where, no model loaded

--dry-run --json prints one object: {"run", "db", "tasks": {TASK: {"protocol", "examples", "n_samples",
"samples", "max_new_tokens", "greedy", "known_size", "warning", "error"}}, "checkpoints": [{"step", "path",
"ready", "problem", "missing": {TASK: samples}, "max_generated_tokens"}], "max_generated_tokens"}, where
"samples" is what a complete evaluation of one checkpoint stores and "max_generated_tokens" an upper bound
(max_new_tokens per missing sample; greedy: per example, as its samples are one generation).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this command's parser; `set_defaults(handler=...)` names the function that runs it."""
    p = subparsers.add_parser(
        "sweep",
        help="evaluate base + every checkpoint of a run, resumably",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="RUN_DIR_OR_HUB_ID", help="a run directory, or a hub repo id owner/name")
    sweep = p.add_argument_group("checkpoints")
    sweep.add_argument(
        "--steps", help="steps to evaluate, e.g. 0,40,last (0 = base; default: every checkpoint)"
    )
    sweep.add_argument("--base", help="base model for step 0 (default: the `model` of the run's config)")
    sweep.add_argument("--watch", action="store_true", default=None, help="keep polling while training runs")
    sweep.add_argument("--poll-seconds", type=float, help="with --watch: seconds between scans (default: 30)")
    sweep.add_argument(
        "--idle-timeout",
        type=float,
        help="with --watch: stop after this many seconds without a new checkpoint (default: 1800); it also "
        "stops once training has finished",
    )
    add_eval_options(
        p,
        default_db="RUN_DIR/sftscope.db, ./sftscope.db for a hub id",
        json_shape="per task and per checkpoint, as shown above",
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sftscope.eval.config import SweepConfig
    from sftscope.eval.sweep import run_sweep

    check_json_flag(args)
    flags = {"target": args.target, **eval_values(args, prefix="eval.")}
    for dest in ("steps", "base", "watch", "poll_seconds", "idle_timeout"):
        if getattr(args, dest) is not None:
            flags[dest] = getattr(args, dest)
    cfg = resolve(SweepConfig, args, flags)
    if args.dry_run:
        return dry_run(args, cfg)
    summary = run_sweep(cfg, show_progress=not args.no_progress)
    evaluated = ", ".join(map(str, summary.evaluated)) or "none"
    cached = ", ".join(map(str, summary.cached)) or "none"
    print(f"sweep {summary.run}: evaluated steps {evaluated}; already stored: {cached}")
    print(f"  {summary.new_samples} new samples in {summary.db} ({summary.seconds:.0f} s)")
    for step, why in summary.skipped.items():
        print(f"  skipped step {step}: {why}")
    return 0


def dry_run(args: argparse.Namespace, cfg) -> int:
    """Per task and per checkpoint, what the sweep would generate; loads no model, writes nothing."""
    import json

    from sftscope.eval.dryrun import format_sweep, plan_sweep_run, sweep_json

    plans, sweep = plan_sweep_run(cfg)
    print(json.dumps(sweep_json(plans, sweep), indent=2) if args.json else format_sweep(plans, sweep))
    report_plan_notes(plans, errors=args.json)
    return 2 if any(p.error for p in plans) else 0
