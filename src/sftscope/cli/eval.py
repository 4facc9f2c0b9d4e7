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

from sftscope.errors import InputError

DESCRIPTION = "Evaluate a model on benchmark suites; every sample is stored, so re-runs resume."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="run, list and score benchmarks", description=DESCRIPTION)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    run = verbs.add_parser(
        "run",
        help="generate, score and store samples for one model",
        description="Generate completions for every task of a suite, score them, store each sample in the DB and print avg@k per task with a 95% bootstrap interval. Stored samples are skipped, so an interrupted run resumes.",
    )
    run.add_argument(
        "--model", required=True, help="local model directory or hub id (openai: the served name)"
    )
    run.add_argument("--suite", help="suite name: paper, lab, offline or safety")
    run.add_argument("--tasks", help="comma-separated task names (instead of, or on top of, --suite)")
    run.add_argument(
        "--backend", default="hf", choices=("hf", "vllm", "openai"), help="generation backend (default: hf)"
    )
    run.add_argument(
        "--db", default="results.db", help="SQLite results file, created if missing (default: results.db)"
    )
    run.add_argument("--run", help="run name stored with every sample (default: the model's directory name)")
    run.add_argument("--step", type=int, default=0, help="training step of this model (0 = base model)")
    run.add_argument(
        "--limit", type=int, help="first N examples of each task (e.g. 1000 for the MMLU-Pro subset)"
    )
    run.add_argument(
        "--n-samples", type=int, help="samples per example (default: each task's own, e.g. avg@3)"
    )
    run.add_argument("--temperature", type=float, help="sampling temperature; 0 = greedy (default: per task)")
    run.add_argument("--top-p", type=float, help="nucleus sampling mass (default: per task)")
    run.add_argument("--max-new-tokens", type=int, help="generation budget per sample (default: per task)")
    run.add_argument(
        "--seed", type=int, help="sampling seed, stored with every sample (default: the task's, 0)"
    )
    run.add_argument(
        "--batch-size", type=int, default=32, help="prompts x samples generated per batch (default: 32)"
    )
    run.add_argument(
        "--data-path",
        action="append",
        default=[],
        metavar="TASK=PATH",
        help="local copy of a task's data set (repeatable), e.g. hexphi=./HEx-PHI",
    )
    run.add_argument("--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1")
    run.add_argument(
        "--concurrency", type=int, default=8, help="openai backend: parallel requests (default: 8)"
    )
    run.add_argument(
        "--retries",
        type=int,
        default=4,
        help="openai backend: tries per request, with exponential backoff (default: 4)",
    )
    run.add_argument(
        "--timeout", type=float, default=600.0, help="openai backend: seconds per request (default: 600)"
    )
    run.add_argument("--device", help="hf backend: torch device (default: cuda if available, else cpu)")
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
    score.add_argument("--verifier", required=True, help="math, choice, countdown, procedural, code, refusal")
    score.add_argument(
        "--out", required=True, help="output JSONL: the rows plus correct, extracted, reason, score"
    )
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
    rescore.add_argument("--workers", type=int, default=2, help="Math-Verify worker processes (default: 2)")
    rescore.add_argument("--judge", metavar="MODEL", help="score safety tasks (hexphi) with this judge model")
    rescore.add_argument(
        "--judge-backend",
        default="openai",
        choices=("hf", "vllm", "openai"),
        help="judge backend (default: openai)",
    )
    rescore.add_argument("--base-url", help="openai judge: server URL, e.g. http://127.0.0.1:8000/v1")
    rescore.set_defaults(handler=rescore_command)


def parse_data_paths(items: list[str]) -> dict[str, str]:
    paths = {}
    for item in items:
        task, sep, path = item.partition("=")
        if not sep or not task or not path:
            raise InputError(f"--data-path {item!r}: expected TASK=PATH, e.g. --data-path hexphi=./HEx-PHI")
        paths[task.strip()] = path.strip()
    return paths


def run_command(args: argparse.Namespace) -> int:
    from sftscope import __version__
    from sftscope.eval.backends.base import make_backend
    from sftscope.eval.registry import resolve_suite
    from sftscope.eval.runner import evaluate
    from sftscope.records import CheckpointRef
    from sftscope.store.db import Store

    if not args.suite and not args.tasks:
        raise InputError("name what to run: --suite paper|lab|offline|safety or --tasks a,b")
    parts = [p for x in (args.suite, args.tasks) if x for p in x.split(",") if p.strip()]
    tasks = list({t.name: t for p in parts for t in resolve_suite(p)}.values())
    data_paths = parse_data_paths(args.data_path)
    unknown = sorted(set(data_paths) - {t.name for t in tasks})
    if unknown:
        raise InputError(f"--data-path names tasks that are not being run: {', '.join(unknown)}")
    for value, flag in (
        (args.limit, "--limit"),
        (args.n_samples, "--n-samples"),
        (args.max_new_tokens, "--max-new-tokens"),
    ):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    opts = _backend_options(args)
    run_name = args.run or Path(args.model.rstrip("/")).name
    sampling = {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
    }
    backend = make_backend(args.backend, args.model, **opts)
    config = {k: v for k, v in vars(args).items() if k != "handler"}
    config.update(backend=backend.describe(), tasks=[t.name for t in tasks], package_version=__version__)
    with Store(args.db) as store:
        store.record_run(run_name, config, {t.name: t.version for t in tasks})
        ref = CheckpointRef(run=run_name, step=args.step, path=args.model)
        with _progress() as progress:
            summary = evaluate(
                backend,
                tasks,
                store,
                ref,
                args.limit,
                progress,
                n_samples=args.n_samples,
                sampling=sampling,
                data_paths=data_paths,
                batch_size=args.batch_size,
            )
        records = [
            r
            for t in tasks
            for r in store.samples(run=run_name, checkpoint=summary.checkpoint, task=t.name)
            if r.task_version == t.version
        ]
    print(
        f"run {run_name}, {summary.checkpoint}: generated {summary.generated} samples "
        f"({summary.tokens} tokens); {sum(t.skipped for t in summary.tasks)} already stored; db {args.db}"
    )
    errors = sum(t.score_errors for t in summary.tasks)
    if errors:
        print(f"warning: {errors} samples failed to score (stored with their error)", file=sys.stderr)
    print(format_table(records))
    return 0


def _backend_options(args: argparse.Namespace) -> dict:
    if args.backend == "hf":
        return {"batch_size": args.batch_size, **({"device": args.device} if args.device else {})}
    if args.backend == "openai":
        return {
            "base_url": args.base_url,
            "concurrency": args.concurrency,
            "retries": args.retries,
            "timeout": args.timeout,
        }
    return {}


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
    from sftscope.eval.registry import SUITES, TASKS, suites_of

    print(f"{'task':<18} {'domain':<13} {'ver':>3} {'size':>6} {'k':>3} {'metric':<13} {'suites':<14} source")
    for name, spec in sorted(TASKS.items(), key=lambda kv: (kv[1].domain, kv[0])):
        size = "?" if spec.size is None else str(spec.size)
        print(
            f"{name:<18} {spec.domain:<13} {spec.version:>3} {size:>6} {spec.n_samples:>3} {spec.metric:<13} "
            f"{','.join(suites_of(name)) or '-':<14} {spec.source}"
        )
    print("\nsuites: " + "; ".join(f"{s} ({len(names)} tasks)" for s, names in SUITES.items()))
    return 0


def score_command(args: argparse.Namespace) -> int:
    from sftscope.eval.scoring import score_file

    n, correct = score_file(args.input, args.verifier, args.out)
    print(
        f"scored {n} rows with {args.verifier}: {correct} correct ({100 * correct / max(n, 1):.1f}%) -> {args.out}"
    )
    return 0


def rescore_command(args: argparse.Namespace) -> int:
    from sftscope.eval.scoring import rescore
    from sftscope.store.db import Store

    if not Path(args.db).is_file():
        raise InputError(f"{args.db}: results DB not found")
    judge = None
    if args.judge:
        from sftscope.eval.backends.base import make_backend

        opts = {"base_url": args.base_url} if args.judge_backend == "openai" else {}
        judge = make_backend(args.judge_backend, args.judge, **opts)
    paths = parse_data_paths(args.data_path)
    with Store(args.db) as store:
        report = rescore(store, args.task, args.run, paths, workers=args.workers, judge=judge)
    for task, (n, changed, errors) in sorted(report.items()):
        print(f"{task:<18} rescored {n:>6}  changed {changed:>5}  errors {errors:>4}")
    return 0
