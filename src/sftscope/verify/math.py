"""Math answers scored with Math-Verify, in-process (`verify_math`) or in killable workers (`MathPool`).

The gold is wrapped in `\\boxed{}` when it is bare, so a gold like `\\frac{1}{2}` or `3, 5` is read as one
LaTeX answer. The completion is scored on the text after `</think>` when there is one (`strip_think`); a
completion whose `<think>` never closes has no answer. Only the last `MAX_SCAN_CHARS` of the answer are
read, and Math-Verify parses at most `MAX_MATH_CHARS` (`Verdict.details` records each cut).

Math-Verify's own timeouts use `signal.alarm`, which works only in a main thread: `MathPool` runs each row,
box extraction included, in a worker process and kills and replaces a worker that overruns the per-row
timeout, so one pathological answer never stalls a whole data set.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from sftscope.errors import InputError
from sftscope.records import (
    CORRECT,
    ERROR,
    GOLD_UNPARSED,
    NOT_A_STRING,
    TIMEOUT,
    TOO_LONG,
    UNFINISHED,
    UNPARSED,
    WRONG,
    Verdict,
    split_think,
)
from sftscope.verify.boxed import last_boxed, scan_note, scan_tail

# The most Math-Verify parses: a longer box is not a math answer, and Math-Verify's cost grows faster than
# linearly on long inputs (128k characters of `\\boxed{` take seconds). An unboxed answer is read on its tail.
MAX_MATH_CHARS = 10_000
# `1\,000` (a thin space as a thousands separator) reads as 1 times 000 in Math-Verify: join the digits.
_THIN_SPACE_THOUSANDS = re.compile(r"(\d)\\[,;: ](?=\d{3}(?!\d))")


def answer_part(completion: str, *, strip_think: bool = True) -> str | None:
    """The text after `</think>` (all of it without `strip_think`); None when the think block never closes."""
    if not strip_think:
        return completion
    think, text = split_think(completion)
    if think is not None and not text.strip():
        return None
    return text


def boxed_answer(text: str, boxed: str | None) -> str:
    """What Math-Verify parses of `text`, given its last box's content (`last_boxed(text)`):
    `\\boxed{that content}`, or without a box the last `MAX_MATH_CHARS` of `text`.
    """
    if boxed is None:
        return text[-MAX_MATH_CHARS:]
    # The last box is the answer (the paper's convention). Math-Verify alone joins every box of a text
    # into a set, so "\\boxed{2}. Wait, actually \\boxed{3}" would match neither 2 nor 3.
    return "\\boxed{" + _THIN_SPACE_THOUSANDS.sub(r"\1", boxed) + "}"


def verify_math(gold: str, completion: str, *, strip_think: bool = True, timeout: float = 5.0) -> Verdict:
    """Does `completion`'s final answer equal `gold`? Runs in this process (use `MathPool` for many rows)."""
    if not isinstance(completion, str) or not isinstance(gold, str):
        return Verdict(False, None, NOT_A_STRING)
    part = answer_part(completion, strip_think=strip_think)
    if part is None:
        return Verdict(False, None, UNFINISHED)
    verdict = verify_answer(gold, scan_tail(part), timeout=timeout)
    return _with_note(verdict, scan_note(part))


def _with_note(verdict: Verdict, note: dict[str, Any] | None) -> Verdict:
    if not note:
        return verdict
    return dataclasses.replace(verdict, details={**note, **(verdict.details or {})})


def verify_answer(gold: str, text: str, *, timeout: float = 5.0) -> Verdict:
    """Math-Verify on an answer text as given (its last box, else its tail) against `gold`."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    quiet_math_verify()
    boxed = last_boxed(text)
    if boxed is not None and len(boxed) > MAX_MATH_CHARS:
        return Verdict(False, None, TOO_LONG, details={"answer_chars": len(boxed)})
    note = {"parsed_chars": MAX_MATH_CHARS} if boxed is None and len(text) > MAX_MATH_CHARS else None
    text = boxed_answer(text, boxed)
    # signal.alarm only works in the main thread; elsewhere the caller (MathPool) owns the timeout.
    seconds = max(1, round(timeout)) if threading.current_thread() is threading.main_thread() else None
    gold_text = gold if "\\boxed" in gold or "\\fbox" in gold else f"\\boxed{{{gold}}}"
    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_parsed = parse(gold_text, configs, parsing_timeout=seconds)
    if not gold_parsed:
        return Verdict(False, None, GOLD_UNPARSED)
    pred_parsed = parse(text, configs, parsing_timeout=seconds)
    if not pred_parsed:
        return Verdict(False, None, UNPARSED, details=note)
    extracted = str(pred_parsed[-1]) if len(pred_parsed) > 1 else str(pred_parsed[0])
    ok = verify(gold_parsed, pred_parsed, timeout_seconds=seconds)
    return Verdict(bool(ok), extracted, CORRECT if ok else WRONG, details=note)


@functools.cache
def quiet_math_verify() -> None:
    # Math-Verify logs every timeout with the whole input: megabytes of stderr for a hostile row.
    logging.getLogger("math_verify").setLevel(logging.ERROR)


def math_gold(gold: Any) -> str:
    """A row's gold as LaTeX text: a non-empty string or a finite number; InputError naming the field."""
    if isinstance(gold, (int, float)) and not isinstance(gold, bool) and math.isfinite(gold):
        return str(gold)
    if isinstance(gold, str) and gold.strip():
        return gold
    raise InputError(
        f"math verifier: field 'gold' is {repr(gold)[:40]}, not a LaTeX answer such as \"\\frac{{1}}{{2}}\""
    )


class MathVerifier:
    """Math-Verify on the answer part, in this process (use `MathPool` for many rows)."""

    name = "math"

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        strip_think = fields.get("strip_think", True)
        if not isinstance(strip_think, bool):
            raise InputError(
                f"math verifier: field 'strip_think' is {repr(strip_think)[:40]}, not true or false"
            )
        return verify_math(math_gold(gold), completion, strip_think=strip_think)


def warm_up() -> None:
    """Math-Verify builds its regexes on first use: a worker pays that before it reports ready."""
    verify_answer("1", "\\boxed{1}")


def _score_row(gold: str, text: str, timeout: float) -> Verdict:
    # Math-Verify's own alarm fires after the pool's deadline, so an overrun is always "timeout". The parent
    # already cut the completion to its answer part; finding the box happens here, inside the row's budget.
    return verify_answer(gold, text, timeout=timeout + 2)


class MathPool:
    """Score many (gold, completion) pairs in `workers` processes with a hard per-row `timeout`.

    A row that overruns gets `Verdict(False, None, "timeout")`; its worker is killed and replaced (see
    `verify.workers.WorkerPool`). Use it as a context manager (or call `close()`) so that the workers exit.
    """

    def __init__(self, workers: int = 2, timeout: float = 5.0, *, strip_think: bool = True):
        from sftscope.verify.workers import WorkerPool

        # WorkerPool raises ValueError on workers < 1 or a timeout that is not > 0.
        self.timeout, self.strip_think = timeout, strip_think
        self._pool = WorkerPool(
            "sftscope.verify.math:_score_row",
            workers=workers,
            timeout=timeout,
            preload=("math_verify", "sftscope.verify.math"),
            warmup="sftscope.verify.math:warm_up",
        )

    def __enter__(self) -> MathPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def timeouts(self) -> int:
        return self._pool.timeouts

    def score(self, pairs: Sequence[tuple[str, str]], progress=None) -> list[Verdict]:
        """Verdicts in input order. `progress(n_done)` is called as rows finish, when given."""
        results: list[Verdict | None] = [None] * len(pairs)
        notes: dict[int, dict] = {}  # rows whose answer part was cut to its tail
        rows, where = [], []
        for index, (gold, completion) in enumerate(pairs):
            if not isinstance(completion, str) or not isinstance(gold, str):
                results[index] = Verdict(False, None, NOT_A_STRING)
                continue
            part = answer_part(completion, strip_think=self.strip_think)
            if part is None:  # decided here: no need to ship the row to a worker
                results[index] = Verdict(False, None, UNFINISHED)
                continue
            if note := scan_note(part):
                notes[index] = note
            rows.append((gold, scan_tail(part), self.timeout))
            where.append(index)
        decided = len(pairs) - len(rows)
        report = (lambda done: progress(decided + done)) if progress is not None else None
        for index, (status, value) in zip(where, self._pool.map(rows, progress=report)):
            if status == "ok":
                results[index] = value
            elif status == "timeout":
                results[index] = Verdict(False, None, TIMEOUT)
            else:
                results[index] = Verdict(False, None, ERROR, details={"why": str(value)[:200]})
        verdicts = [r if r is not None else Verdict(False, None, ERROR) for r in results]
        for index, note in notes.items():
            verdicts[index] = _with_note(verdicts[index], note)
        return verdicts

    def close(self) -> None:
        self._pool.close()
