"""Score reasoning-gym items with the dataset's own `score_answer`.

The answer is read from the text after `</think>` (its last `MAX_SCAN_CHARS`): the last `\\boxed{...}`, else
the last non-empty line. A scorer that crashes on a model's answer scores it 0 (reason "error", the
exception in `details["error"]`).
The entry (reasoning-gym's dict: question, answer, metadata with `source_dataset`) goes to
`reasoning_gym.get_score_answer_fn(source_dataset)`, which returns a score in [0, 1]. Only a score of
exactly 1.0 counts as correct; the raw score is kept in `Verdict.score` (some datasets give partial credit,
e.g. the default scorer gives len(gold)/len(answer) when the gold is a substring of the answer).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from sftscope.errors import InputError
from sftscope.records import (
    CORRECT,
    ERROR,
    NOT_A_STRING,
    TOO_LONG,
    UNPARSED,
    WRONG,
    Verdict,
    split_think,
)
from sftscope.verify.boxed import last_boxed, scan_note, scan_tail

# Longer answers are not handed to reasoning-gym: its scorers were written for puzzle-sized answers (a grid
# of a few hundred cells at most) and some parse them with sympy or compare them by edit distance.
MAX_ANSWER_CHARS = 20_000


def answer_in(text: str) -> str | None:
    """The answer `text` gives: its last boxed content, else its last non-empty line; None if empty."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def extract_procedural(completion: str) -> str | None:
    """The answer a completion gives after `</think>` (see `answer_in`); None if there is none."""
    return answer_in(scan_tail(split_think(completion)[1]))


@functools.cache
def _score_fn(source_dataset: str) -> Callable[[str | None, dict[str, Any]], float]:
    # Deferred and cached: importing reasoning_gym costs about a second, and building a dataset's scorer
    # instantiates the dataset with its default config.
    import reasoning_gym

    try:
        return reasoning_gym.get_score_answer_fn(source_dataset)
    except ValueError as exc:
        raise InputError(
            f"procedural verifier: reasoning-gym has no dataset {source_dataset!r} "
            "(metadata.source_dataset must name a registered reasoning-gym dataset)"
        ) from exc
    except Exception as exc:  # e.g. "composite" cannot be built without a config: not a scorable item
        raise InputError(
            f"procedural verifier: reasoning-gym cannot build a scorer for {source_dataset!r} "
            f"({type(exc).__name__}: {str(exc)[:80]}); name the item's own dataset in metadata.source_dataset"
        ) from exc


def _entry(gold: Any, entry: Any) -> dict[str, Any]:
    """The reasoning-gym item from a row's `entry` (a dict or its JSON); InputError naming what is wrong."""
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except (ValueError, RecursionError) as exc:  # bad JSON, 4,300-digit integers, 100k-deep nesting
            raise InputError(
                f"procedural verifier: field 'entry' is not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"
            ) from None
    if not isinstance(entry, dict) or "metadata" not in entry:
        raise InputError(
            "procedural verifier: pass entry=<the reasoning-gym item dict with question, answer and metadata>"
        )
    metadata = entry["metadata"]
    if not isinstance(metadata, dict):
        raise InputError(
            f"procedural verifier: entry field 'metadata' is {repr(metadata)[:40]}, not an object "
            "with 'source_dataset'"
        )
    if not isinstance(metadata.get("source_dataset"), str):
        raise InputError(
            "procedural verifier: entry field 'metadata' has no 'source_dataset' naming a reasoning-gym dataset"
        )
    if "answer" not in entry and gold is not None:
        entry = {**entry, "answer": gold}
    return entry


def _scorer_failed(score_fn: Callable, item: dict[str, Any], exc: Exception) -> InputError | None:
    """When reasoning-gym's scorer raised on a model's answer: an InputError if the item itself is at fault
    (its own answer is null or fails to score too), else None (the model's output broke the scorer).
    """
    problem = f"reasoning-gym's scorer for {item['metadata']['source_dataset']!r} failed"
    answer = item.get("answer")
    if answer is None:
        return InputError(
            f"procedural verifier: entry field 'answer' is null and {problem} "
            f"({type(exc).__name__}: {str(exc)[:80]}); give the item's answer"
        )
    try:
        score_fn(answer, item)
    except Exception as own:
        return InputError(
            f"procedural verifier: {problem} on the entry's own answer ({type(own).__name__}: "
            f"{str(own)[:80]}); check the entry's 'answer' and 'metadata'"
        )
    return None


def verify_procedural(gold: Any, completion: str, *, entry: Any) -> Verdict:
    """Score one completion of a reasoning-gym item; `entry` is the item dict (or its JSON)."""
    item = _entry(gold, entry)
    if not isinstance(completion, str):
        return Verdict(False, None, NOT_A_STRING, score=0.0)
    note = scan_note(split_think(completion)[1])
    extracted = extract_procedural(completion)
    if extracted is None:
        return Verdict(False, None, UNPARSED, score=0.0, details=note)
    if len(extracted) > MAX_ANSWER_CHARS:
        return Verdict(False, None, TOO_LONG, score=0.0, details={"answer_chars": len(extracted)})
    score_fn = _score_fn(item["metadata"]["source_dataset"])
    try:
        raw = float(score_fn(extracted, item))
    except Exception as exc:  # reasoning-gym code on model output: a crash is the model's answer failing
        error = _scorer_failed(score_fn, item, exc)
        if error is not None:
            raise error from None
        details = {**(note or {}), "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return Verdict(False, extracted, ERROR, score=0.0, details=details)
    correct = raw == 1.0
    return Verdict(correct, extracted, CORRECT if correct else WRONG, score=raw, details=note)


class ProceduralVerifier:
    """`score(gold, completion, entry=...) -> Verdict` for the registry."""

    name = "procedural"

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        if "entry" not in fields:
            raise InputError("procedural verifier: missing field 'entry' (the reasoning-gym item dict)")
        return verify_procedural(gold, completion, entry=fields["entry"])
