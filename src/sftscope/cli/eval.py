"""`sftscope eval run|list|score|rescore`: benchmarks with per-sample results in SQLite.

sftscope eval run --model runs/lab/checkpoints/step-64 --suite lab --db results.db
sftscope eval list
sftscope eval score --verifier math rows.jsonl --out scored.jsonl
sftscope eval rescore --db results.db --task math500
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftscope.cli.evalopts import (
    add_eval_options,
    add_scoring_options,
    check_json_flag,
    eval_values,
    parse_pairs,
    report_plan_notes,
    resolve,
    scoring_config,
)
from sftscope.errors import InputError

DESCRIPTION = "Evaluate a model on benchmark suites; every sample is stored, so re-runs resume."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="run, list and score benchmarks", description=DESCRIPTION)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    run = verbs.add_parser(
        "run",
        help="generate, score and store samples for one model",
        description="Generate completions for every task of a suite, score them, store each sample in the DB "
        "and print each task's score with a 95% bootstrap interval. Stored samples are skipped, so an "
        "interrupted run resumes; a stored sample made by another model, prompt or sampling is never reused.",
    )
    run.add_argument(
        "--model", required=True, help="local model directory or hub id (openai: the served name)"
    )
    run.add_argument("--step", type=int, default=0, help="training step of this model (0 = base model)")
    add_eval_options(run, default_db="results.db")
    run.set_defaults(handler=run_command)

    listing = verbs.add_parser(
        "list",
        help="print the tasks: domain, version, size, samples, suites",
        description="Print every registered task with its domain, version, size, samples per example, metric and suites.",
    )
    listing.set_defaults(handler=list_command)

    score = verbs.add_parser(
        "score",
        help="score a JSONL file of (gold, completion) rows",
        description="Score a JSONL file of completions with one verifier, without a model; writes the rows plus correct, extracted, reason and score.",
    )
    score.add_argument(
        "input",
        help="JSONL rows with gold and completion (code: test, entry_point; "
        "countdown: numbers, target; procedural: entry)",
    )
    score.add_argument(
        "--verifier",
        required=True,
        help="a task (e.g. math500, gpqa_diamond: its own scorer, see --protocol) or a verifier: "
        "math, choice, countdown, procedural, code, refusal",
    )
    score.add_argument(
        "--out", required=True, help="output JSONL: the rows plus correct, extracted, reason, score"
    )
    add_scoring_options(score)
    score.set_defaults(handler=score_command)

    rescore = verbs.add_parser(
        "rescore",
        help="re-run verifiers on stored completions (no model)",
        description="Re-run the current verifiers on completions stored in a results DB (after a verifier fix), without a model.",
    )
    rescore.add_argument("--db", required=True, help="SQLite results file")
    rescore.add_argument("--task", help="only this task (default: every task in the DB)")
    rescore.add_argument("--run", help="only this run")
    rescore.add_argument(
        "--data-path",
        action="append",
        default=[],
        metavar="TASK=PATH",
        help="local data for tasks whose scoring needs more than the stored gold",
    )
    add_scoring_options(rescore)
    rescore.set_defaults(handler=rescore_command)


def run_command(args: argparse.Namespace) -> int:
    from sftscope.eval.config import EvalConfig
    from sftscope.eval.evaluation import run_evaluation

    if not (args.suite or args.tasks or args.config):
        raise InputError("name what to run: --suite paper|general|safety|lab|offline or --tasks a,b")
    if args.step < 0:
        raise InputError(f"--step {args.step}: a training step is >= 0 (0 = the base model)")
    check_json_flag(args)
    values = eval_values(args)
    values.setdefault("db", "results.db")
    cfg = resolve(EvalConfig, args, values)
    if args.dry_run:
        return dry_run(args, cfg)
    with _progress() as progress:
        result = run_evaluation(args.model, cfg, step=args.step, progress=progress)
    summary = result.summary
    print(
        f"run {summary.run}, {summary.checkpoint}: generated {summary.generated} samples "
        f"({summary.tokens} tokens); {sum(t.skipped for t in summary.tasks)} already stored; db {cfg.db}"
    )
    for task in summary.tasks:
        if task.warning:
            print(f"warning: {task.warning}", file=sys.stderr)
    errors = sum(t.score_errors for t in summary.tasks)
    if errors:
        print(f"warning: {errors} samples failed to score (stored with their error)", file=sys.stderr)
    print(format_table(result.records))
    return 0


def dry_run(args: argparse.Namespace, cfg) -> int:
    """Print what the run would generate, load no model; exit 2 when a task cannot run."""
    import json

    from sftscope.eval.dryrun import eval_json, format_tasks, plan_evaluation

    plans = plan_evaluation(args.model, cfg, step=args.step)
    if args.json:
        print(json.dumps(eval_json(plans), indent=2))
    else:
        print(f"dry run: nothing loaded or generated; results DB {cfg.db}")
        print(format_tasks(plans))
    report_plan_notes(plans, errors=args.json)
    return 2 if any(p.error for p in plans) else 0


def format_table(records: list) -> str:
    """Per-task score with its 95% interval: a view of the one estimator (sftscope.analysis.estimator), so a
    cell reads exactly as in `sftscope report` and `sftscope compare`."""
    from sftscope.analysis.estimator import Estimator
    from sftscope.analysis.findings import domain_order
    from sftscope.analysis.metrics import METRIC_LABELS
    from sftscope.report.tables import score_text

    est = Estimator(records)
    header = f"{'task':<18} {'domain':<13} {'protocol':<8} {'n':>5} {'k':>3}  {'score [95% CI]':<22} {'unparsed':>8}"
    lines = [header + "  measure"]
    for key, cell in sorted(est.cells.items(), key=lambda kv: (domain_order(kv[1].domain), kv[0])):
        score = score_text(cell.metric, est.estimate(key))
        lines.append(
            f"{key.task:<18} {cell.domain:<13} {key.protocol:<8} {len(cell.qids):>5} {cell.k:>3}  {score:<22} "
            f"{100 * cell.unparsed:>7.1f}%  {METRIC_LABELS[cell.metric]}"
        )
    return "\n".join(lines)


class _progress:
    """A tqdm bar per task on stderr."""

    def __enter__(self):
        self.bar = None
        return self.update

    def update(self, task: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.desc != task:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=total, desc=task, unit="sample", file=sys.stderr, leave=False)
        self.bar.n = done
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def list_command(args: argparse.Namespace) -> int:
    from sftscope.eval.tasks import SUITES, TASKS, suites_of

    print(
        f"{'task':<18} {'domain':<13} {'ver':>3} {'size':>6} {'protocols (k, metric)':<42} {'suites':<14} source"
    )
    for name, spec in sorted(TASKS.items(), key=lambda kv: (kv[1].domain, kv[0])):
        size = "?" if spec.size is None else str(spec.size)
        protocols = " ".join(f"{p.name}({p.n_samples},{p.metric})" for p in spec.protocols)
        print(
            f"{name:<18} {spec.domain:<13} {spec.version:>3} {size:>6} {protocols:<42} "
            f"{','.join(suites_of(name)) or '-':<14} {spec.source}"
        )
    print("\nsuites: " + "; ".join(f"{s} ({len(names)} tasks)" for s, names in SUITES.items()))
    return 0


def score_command(args: argparse.Namespace) -> int:
    from sftscope.eval.scorefile import score_file

    cfg = scoring_config(args)
    n, correct = score_file(
        args.input, args.verifier, args.out, protocol=cfg.protocol, ctx=cfg.score_context()
    )
    print(
        f"scored {n} rows with {args.verifier}: {correct} correct ({100 * correct / max(n, 1):.1f}%) -> {args.out}"
    )
    return 0


def rescore_command(args: argparse.Namespace) -> int:
    from sftscope.eval.scoring import rescore
    from sftscope.store.db import Store

    db = Path(args.db)
    if not db.is_file():
        raise InputError(f"{args.db}: results DB not found")
    cfg = scoring_config(args)
    ctx = cfg.score_context()
    paths = parse_pairs(args.data_path, "--data-path", "hexphi=./HEx-PHI")
    with Store.for_reading(db) as store:
        readonly = store.readonly
        results = rescore(
            store, task=args.task, run=args.run, protocol=args.protocol, data_paths=paths, ctx=ctx
        )
    for r in results:
        into = r.protocol if r.protocol == r.from_protocol else f"{r.from_protocol} -> {r.protocol}"
        kept = f"  kept {r.kept} generated under {r.protocol}" if r.kept else ""
        print(
            f"{r.task:<18} {into:<16} rescored {r.rows:>6}  changed {r.changed:>5}  errors {r.errors:>4}{kept}"
        )
    if readonly:
        print(f"note: {db} is read-only; the verdicts above were computed but not written", file=sys.stderr)
    return 0
