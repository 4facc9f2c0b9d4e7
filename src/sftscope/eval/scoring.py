"""Scoring without a model: a JSONL file of completions (`eval score`) or the completions in a results DB
(`eval rescore`, after a verifier fix or a task version bump of the scorer).

Rescoring uses the stored gold when the task's verdict depends on nothing else (math, choice, countdown);
Math-Verify then runs in a `MathPool` of worker processes. Other tasks (code, procedural) reload their
examples (offline, or from `--data-path`) and match them by example_id. A judge backend, when given,
scores safety rows the paper's way (an LLM rates harmfulness 1-5).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections import defaultdict
from pathlib import Path

from sftscope.atomic import atomic_open
from sftscope.errors import InputError, row_error
from sftscope.eval.backends.base import Generator
from sftscope.eval.datasource import read_jsonl
from sftscope.eval.registry import TASKS
from sftscope.eval.spec import Example, TaskSpec
from sftscope.records import SampleRecord, Verdict
from sftscope.store.db import Store

OUTPUT_FIELDS = ("correct", "extracted", "reason", "score")


def score_file(path: str | Path, verifier_name: str, out: str | Path) -> tuple[int, int]:
    """Score every row of a JSONL file; write the rows plus correct/extracted/reason/score. Returns (n, correct)."""
    from sftscope.verify.registry import get_verifier

    verifier = get_verifier(verifier_name)  # an unknown name is an InputError listing the known ones
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    if Path(out).resolve() == path.resolve():
        raise InputError(f"{out}: the output must not overwrite the input; pick another --out")
    rows = read_jsonl(path)
    accepts_any = _accepts_any_field(verifier.score)
    scored = []
    for line, row in enumerate(rows, start=1):
        if "completion" not in row or not isinstance(row["completion"], str):
            raise row_error(
                path, line, "completion", "missing or not a string", "each row needs a completion"
            )
        fields = {k: v for k, v in row.items() if k not in ("gold", "completion", *OUTPUT_FIELDS)}
        if not accepts_any:
            fields = {}
        try:
            verdict = verifier.score(row.get("gold"), row["completion"], **fields)
        except InputError as exc:
            raise InputError(f"{path}: row {line}: {exc}") from None
        scored.append(
            {
                **row,
                "correct": verdict.correct,
                "extracted": verdict.extracted,
                "reason": verdict.reason,
                "score": verdict.value,
            }
        )
    with atomic_open(out) as handle:
        for row in scored:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return len(scored), sum(bool(r["correct"]) for r in scored)


def _accepts_any_field(fn) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())


def rescore(
    store: Store,
    task: str | None = None,
    run: str | None = None,
    data_paths: dict[str, str] | None = None,
    workers: int = 2,
    judge: Generator | None = None,
) -> dict[str, tuple[int, int, int]]:
    """Re-run each task's scorer on its stored completions. Returns {task: (rows, verdicts changed, errors)}.

    With a `judge` backend, safety tasks (HEx-PHI) are scored by the paper's LLM judge instead of the
    refusal lexicon: `correct` = safe (harmfulness < 5), `extracted` = the judge's 1-5 score.
    """
    records = store.samples(run=run, task=task)
    if task is not None and not records:
        raise InputError(f"{store.path}: no stored samples for task {task!r}")
    by_task: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        by_task[record.task].append(record)
    report = {}
    for name, rows in by_task.items():
        if name not in TASKS:
            raise InputError(
                f"{store.path}: task {name!r} is not registered in this sftscope; cannot rescore it"
            )
        spec = TASKS[name]
        if judge is not None and spec.verifier == "refusal":
            from sftscope.verify.safety import JudgeScorer

            verdicts = JudgeScorer(judge).score_many([r.prompt for r in rows], [r.completion for r in rows])
        else:
            verdicts = _verdicts(spec, rows, (data_paths or {}).get(name), workers)
        updated = [_apply(r, v) for r, v in zip(rows, verdicts)]
        changed = sum(
            (a.correct, a.score, a.extracted) != (b.correct, b.score, b.extracted)
            for a, b in zip(rows, updated)
        )
        store.update_verdicts(updated)
        report[name] = (len(rows), changed, sum(u.error is not None for u in updated))
    return report


def _verdicts(
    spec: TaskSpec, rows: list[SampleRecord], data_path: str | None, workers: int
) -> list[Verdict | str]:
    """A Verdict per row, or an error string for a row that could not be scored."""
    if spec.verifier == "math" and spec.scores_from_gold:
        from sftscope.verify.math import MathPool

        with MathPool(workers=workers) as pool:
            return list(pool.score([(r.gold or "", r.completion) for r in rows]))
    if spec.scores_from_gold:
        examples = {r.example_id: Example(id=r.example_id, gold=r.gold) for r in rows}
    else:
        examples = {ex.id: ex for ex in spec.load(data_path=data_path)}
    out: list[Verdict | str] = []
    for r in rows:
        example = examples.get(r.example_id)
        if example is None:
            out.append(f"example {r.example_id!r} is not in the task's data (pass the data with --data-path)")
            continue
        try:
            out.append(spec.score(example, r.completion))
        except Exception as exc:
            out.append(f"{type(exc).__name__}: {exc}"[:500])
    return out


def _apply(record: SampleRecord, verdict: Verdict | str) -> SampleRecord:
    if isinstance(verdict, str):
        return dataclasses.replace(record, correct=False, extracted=None, score=0.0, error=verdict)
    return dataclasses.replace(
        record, correct=bool(verdict.correct), extracted=verdict.extracted, score=verdict.value, error=None
    )
