"""Sample records to SQL rows and back (the samples table's columns, in order)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from sftscope.records import SampleRecord, text_hash

SAMPLE_COLUMNS = (
    "run, checkpoint, step, task, task_version, protocol, domain, metric, example_id, sample_idx, prompt_hash, "
    "prompt, gold, completion, extracted, correct, score, details, n_tokens, finish_reason, sampling, scorer, "
    "model_id, error, created_at"
)
N_COLUMNS = SAMPLE_COLUMNS.count(",") + 1


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_json(value: Any) -> str:
    """JSON that SQLite and every JSON reader accept: NaN and infinities become null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), sort_keys=True, default=str, allow_nan=False)


def to_row(r: SampleRecord) -> tuple:
    return (
        r.run,
        r.checkpoint,
        r.step,
        r.task,
        r.task_version,
        r.protocol,
        r.domain,
        r.metric,
        r.example_id,
        r.sample_idx,
        text_hash(r.prompt),
        r.prompt,
        r.gold,
        r.completion,
        *verdict_columns(r)[:4],
        int(r.n_tokens),
        r.finish_reason,
        to_json(r.sampling),
        to_json(r.scorer),
        r.model_id,
        r.error,
        now(),
    )


def verdict_columns(r: SampleRecord) -> tuple:
    """(extracted, correct, score, details, scorer, error): what rescoring may change. A non-finite score
    is stored as 0.0 (the column is NOT NULL, and SQLite would store NaN as NULL)."""
    return (
        r.extracted,
        int(bool(r.correct)),
        float(r.score) if math.isfinite(r.score) else 0.0,
        None if r.details is None else to_json(r.details),
        to_json(r.scorer),
        r.error,
    )


def to_record(r: tuple) -> SampleRecord:
    return SampleRecord(
        run=r[0],
        checkpoint=r[1],
        step=r[2],
        task=r[3],
        task_version=r[4],
        protocol=r[5],
        domain=r[6],
        metric=r[7],
        example_id=r[8],
        sample_idx=r[9],
        prompt=r[11],
        gold=r[12],
        completion=r[13],
        extracted=r[14],
        correct=bool(r[15]),
        score=r[16],
        details=None if r[17] is None else json.loads(r[17]),
        n_tokens=r[18],
        finish_reason=r[19],
        sampling=json.loads(r[20]),
        scorer=json.loads(r[21]),
        model_id=r[22],
        error=r[23],
    )
