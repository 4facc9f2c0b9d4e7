"""`sftscope sweep RUN_DIR_OR_HUB_ID --suite NAME`: evaluate the base and every checkpoint, resumably."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Evaluate the base model (step 0) and every checkpoint of a run on a suite of tasks; every sample goes to
the results DB. Run it again (or after a crash) and it only does what is missing.

Checkpoint layouts: ours (checkpoints/step-<N>/), HF Trainer (checkpoint-<N>/), verl (global_step_<N>/,
merged_step<N>/) and the paper's released step<N>/ folders, in a local dir or a hub repo (owner/name; each
step is downloaded when it is evaluated). A checkpoint still being written is skipped with a warning
(and retried by --watch), never half-evaluated.

examples:
  sftscope sweep runs/lab/direct --suite lab
  sftscope sweep runs/math-cot --suite paper --backend vllm --steps 0,40,last
  sftscope sweep runs/math-cot --suite paper --watch --poll-seconds 60   # while training runs
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
    p.add_argument("--suite", default="lab", help="suite name (paper, lab, offline, safety) (default: lab)")
    p.add_argument(
        "--tasks",
        default=None,
        help="comma-separated task names; replaces --suite when given (default: none)",
    )
    p.add_argument(
        "--backend", default="hf", choices=("hf", "vllm", "openai"), help="generation backend (default: hf)"
    )
    p.add_argument(
        "--steps",
        default=None,
        help="steps to evaluate, e.g. 0,40,last (0 = base; default: every checkpoint)",
    )
    p.add_argument(
        "--base", default=None, help="base model for step 0 (default: the `model` key of RUN_DIR/config.yaml)"
    )
    p.add_argument(
        "--db", default=None, help="results DB (default: RUN_DIR/sftscope.db, ./sftscope.db for a hub id)"
    )
    p.add_argument(
        "--run", default=None, help="run name in the DB (default: the run dir's name or the repo id)"
    )
    p.add_argument(
        "--limit", type=int, default=None, help="evaluate only the first N examples per task (default: all)"
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="cap on generated tokens, overriding each task's own (default: the task's, e.g. 32768 for math)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="prompts per backend call; a kill loses at most one (default: 64)",
    )
    p.add_argument(
        "--watch", action="store_true", help="keep polling for new checkpoints while training runs"
    )
    p.add_argument(
        "--poll-seconds", type=float, default=30.0, help="with --watch: seconds between scans (default: 30)"
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=1800.0,
        help="with --watch: stop after this many seconds without a new checkpoint (default: 1800); "
        "it also stops once training has finished (its last step is saved)",
    )
    p.add_argument(
        "--backend-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, repeatable (e.g. base_url=http://host:8000/v1, batch_size=64, dtype=bfloat16)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import yaml

    from sftscope.errors import InputError
    from sftscope.eval.sweep import SweepConfig, run_sweep

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit {args.limit}: must be at least 1")
    if args.batch_size < 1 or (args.max_new_tokens is not None and args.max_new_tokens < 1):
        raise InputError("--batch-size and --max-new-tokens must be at least 1")
    if args.poll_seconds <= 0 or args.idle_timeout < 0:
        raise InputError("--poll-seconds must be > 0 and --idle-timeout >= 0")
    opts = {}
    for item in args.backend_opt:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--backend-opt {item!r}: expected KEY=VALUE, e.g. --backend-opt batch_size=64")
        opts[key] = yaml.safe_load(value)
    cfg = SweepConfig(
        target=args.target,
        suite=args.tasks or args.suite,
        backend=args.backend,
        steps=args.steps,
        base=args.base,
        db=args.db,
        limit=args.limit,
        watch=args.watch,
        poll_seconds=args.poll_seconds,
        idle_timeout=args.idle_timeout,
        run=args.run,
        backend_opts=opts,
        sampling={"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {},
        batch_size=args.batch_size,
    )
    summary = run_sweep(cfg, show_progress=not args.no_progress)
    evaluated = ", ".join(map(str, summary.evaluated)) or "none"
    cached = ", ".join(map(str, summary.cached)) or "none"
    print(f"sweep {summary.run}: evaluated steps {evaluated}; already stored: {cached}")
    print(f"  {summary.new_samples} new samples in {summary.db} ({summary.seconds:.0f} s)")
    for step, why in summary.skipped.items():
        print(f"  skipped step {step}: {why}")
    return 0
