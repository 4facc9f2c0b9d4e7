"""`data verify`: keep the rows whose response's final answer matches their `answer`.

Routing: a row with `numbers` and `target` columns is a Countdown row and is checked in-process by
`verify_countdown` (it is cheap and cannot hang); every other row goes to Math-Verify in a `MathPool`
(worker processes with a per-row timeout), scoring the text after `</think>` unless told otherwise.
A row without an answer is rejected as `gold_unparsed` (a data problem, not the model's). The report
counts kept rows and rejections by reason code (`records.REASONS`); `unparsed` counts the rows whose
response gave no answer to check (codes `unparsed` and `unfinished`), as the eval table's column does.
A Countdown row whose `numbers` is not a list of integers, or whose `target` is not an integer from 1 to
`MAX_OPERAND` ("three", NaN, inf, -5), is malformed data, not a wrong answer: an `InputError` naming the row
and the field. Both are read by `verify.countdown`'s `countdown_numbers`/`countdown_target`, the helpers of
`eval score --verifier countdown`, so the two commands accept the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sftscope.errors import InputError, row_error
from sftscope.records import ERROR, GOLD_UNPARSED, TIMEOUT, UNFINISHED, UNPARSED, SFTRow, Verdict
from sftscope.verify.countdown import (
    MAX_OPERAND,
    countdown_numbers,
    countdown_target,
    score_countdown,
)
from sftscope.verify.math import MathPool


@dataclass
class VerifyReport:
    rows: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    unparsed: int = 0
    countdown_rows: int = 0
    math_rows: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "kept": self.kept,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "timed_out": self.timed_out,
            "unparsed": self.unparsed,
            "countdown_rows": self.countdown_rows,
            "math_rows": self.math_rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
        }


def is_countdown(row: SFTRow) -> bool:
    return "numbers" in row.extra and "target" in row.extra and row.extra["target"] is not None


def countdown_problem(row: SFTRow, source: object, index: int) -> tuple[list[int], int]:
    """The (numbers, target) of a Countdown row, read by the countdown verifier's own helpers.

    `eval score --verifier countdown` reads its rows with the same two functions, so both paths accept and
    refuse the same rows; a refusal is re-raised as an InputError naming the file, the row and the field.
    """
    raw_numbers, raw_target = row.extra["numbers"], row.extra["target"]
    try:
        target = countdown_target(raw_target)
    except InputError:
        raise row_error(
            source,
            index,
            "target",
            f"expected an integer, got {raw_target!r}"[:200],
            f"Countdown targets are integers from 1 to {MAX_OPERAND}",
        ) from None
    try:
        numbers = countdown_numbers(raw_numbers)
    except InputError:
        raise row_error(
            source,
            index,
            "numbers",
            f"expected a list of integers, got {raw_numbers!r}"[:200],
            "Countdown rows need a list of integers, e.g. [3, 7, 25]",
        ) from None
    return numbers, target


def verify_rows(
    rows: list[SFTRow],
    *,
    workers: int = 2,
    timeout: float = 5.0,
    strip_think: bool = True,
    progress: Callable[[int], None] | None = None,
    source: object = "input",
) -> list[Verdict]:
    """One verdict per row, in order; `source` names the input in errors."""
    verdicts: list[Verdict | None] = [None] * len(rows)
    math_indices = []
    for i, row in enumerate(rows):
        if is_countdown(row):
            numbers, target = countdown_problem(row, source, i)
            verdicts[i] = score_countdown(row.response, numbers, target, strip_think=strip_think)
        elif row.answer is None or not row.answer.strip():
            verdicts[i] = Verdict(False, None, GOLD_UNPARSED, details={"why": "no answer"})
        else:
            math_indices.append(i)
    n_direct = len(rows) - len(math_indices)
    if progress is not None:
        progress(n_direct)
    if math_indices:
        pairs = [(rows[i].answer, rows[i].response) for i in math_indices]
        with MathPool(workers=workers, timeout=timeout, strip_think=strip_think) as pool:
            scored = pool.score(
                pairs, progress=None if progress is None else lambda k: progress(n_direct + k)
            )
        for i, verdict in zip(math_indices, scored):
            verdicts[i] = verdict
    return [v if v is not None else Verdict(False, None, ERROR) for v in verdicts]


def summarize(rows: list[SFTRow], verdicts: list[Verdict], seconds: float) -> VerifyReport:
    report = VerifyReport(rows=len(rows), seconds=seconds)
    reasons: Counter[str] = Counter()
    for row, verdict in zip(rows, verdicts):
        if is_countdown(row):
            report.countdown_rows += 1
        else:
            report.math_rows += 1
        if verdict.correct:
            report.kept += 1
            continue
        reasons[verdict.reason] += 1
        if verdict.reason == TIMEOUT:
            report.timed_out += 1
        if verdict.reason in (UNPARSED, UNFINISHED):
            report.unparsed += 1
    report.rejected = dict(reasons)
    return report
