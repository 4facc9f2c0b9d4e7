"""`eval score`: score a JSONL file of completions without a model, writing the rows plus the verdicts.

The scorer is named either by a verifier or by a task (a verifier name wins when both exist): a task (`--verifier math500 --protocol paper`: the task's own protocol scorer,
through `eval.scoring.SampleScorer`, the same path `eval run` and `eval rescore` use; each row becomes
`Example(id, gold, data=row)`, so a row carries whatever fields that task's examples carry), or by a verifier
of `sftscope.verify.registry` (`math`, `choice`, `countdown`, `procedural`, `code`, `refusal`), which gets
`gold`, `completion` and the row's other fields as keyword arguments.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from sftscope.atomic import atomic_open, check_outputs
from sftscope.errors import InputError, row_error
from sftscope.eval.datasource import read_jsonl
from sftscope.eval.spec import Example, ScoreContext
from sftscope.records import ERROR, Verdict

OUTPUT_FIELDS = ("correct", "extracted", "reason", "score", "details", "error")


def score_file(
    path: str | Path,
    scorer: str,
    out: str | Path,
    *,
    protocol: str | None = None,
    ctx: ScoreContext | None = None,
) -> tuple[int, int]:
    """Score every row of a JSONL file; write rows + correct/extracted/reason/score. Returns (n, correct)."""
    from sftscope.eval.tasks import TASKS

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    check_outputs({"input": path}, {"--out": out})  # never write over (or inside) what is being read
    rows = read_jsonl(path)
    for line, row in enumerate(rows, start=1):
        if not isinstance(row.get("completion"), str):
            raise row_error(
                path, line, "completion", "missing or not a string", "each row needs a completion"
            )
    from sftscope.verify.registry import VERIFIERS

    if scorer in VERIFIERS:  # a verifier name wins over a task of the same name (countdown)
        if protocol is not None:
            raise InputError(
                f"--protocol applies to task scorers; {scorer!r} is a verifier (name a task, e.g. math500)"
            )
        outcomes = _score_with_verifier(path, scorer, rows)
    elif scorer in TASKS:
        outcomes = _score_with_task(TASKS[scorer], rows, protocol, ctx)
    else:
        raise InputError(
            f"unknown scorer {scorer!r} (verifiers: {', '.join(sorted(VERIFIERS))}; or a task: "
            f"{', '.join(sorted(TASKS))})"
        )
    scored = [{**row, **_fields(outcome)} for row, outcome in zip(rows, outcomes)]
    with atomic_open(out) as handle:
        for row in scored:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return len(scored), sum(bool(r["correct"]) for r in scored)


def _score_with_task(spec, rows: list[dict], protocol: str | None, ctx: ScoreContext | None) -> list:
    from sftscope.eval.scoring import SampleScorer, choose_protocol

    chosen = choose_protocol(spec, protocol)
    examples = [
        Example(id=str(row.get("id", i)), gold=row.get("gold"), data=row) for i, row in enumerate(rows, 1)
    ]
    with SampleScorer(spec, chosen, ctx) as scorer:
        return scorer.score(examples, [row["completion"] for row in rows])


def _score_with_verifier(path: Path, name: str, rows: list[dict]) -> list[Verdict]:
    from sftscope.verify.registry import get_verifier

    verifier = get_verifier(name)  # an unknown name is an InputError listing the known ones
    accepts_any = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(verifier.score).parameters.values()
    )
    verdicts = []
    for line, row in enumerate(rows, start=1):
        fields = {k: v for k, v in row.items() if k not in ("gold", "completion", *OUTPUT_FIELDS)}
        try:
            verdicts.append(
                verifier.score(row.get("gold"), row["completion"], **(fields if accepts_any else {}))
            )
        except InputError as exc:
            raise InputError(f"{path}: row {line}: {exc}") from None
    return verdicts


def _fields(outcome: Verdict | str) -> dict[str, Any]:
    if isinstance(outcome, str):
        return {"correct": False, "extracted": None, "reason": ERROR, "score": 0.0, "error": outcome}
    fields: dict[str, Any] = {
        "correct": outcome.correct,
        "extracted": outcome.extracted,
        "reason": outcome.reason,
        "score": outcome.value,
    }
    if outcome.details is not None:
        fields["details"] = outcome.details
    return fields
