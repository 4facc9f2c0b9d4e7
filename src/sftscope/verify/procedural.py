"""Score reasoning-gym items with the dataset's own `score_answer`.

The answer is read from the text after `</think>`: the last `\\boxed{...}`, else the last non-empty line.
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
from sftscope.records import Verdict, split_think
from sftscope.verify.boxed import last_boxed


def extract_procedural(completion: str) -> str | None:
    """The answer a completion gives: last boxed content, else its last non-empty line; None if empty."""
    _, answer = split_think(completion)
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed.strip()
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    return lines[-1] if lines else None


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


def _entry(gold: Any, entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = json.loads(entry)
    if not isinstance(entry, dict) or "metadata" not in entry:
        raise InputError(
            "procedural verifier: pass entry=<the reasoning-gym item dict with question, answer and metadata>"
        )
    if "source_dataset" not in entry["metadata"]:
        raise InputError("procedural verifier: entry field 'metadata' has no 'source_dataset'")
    if "answer" not in entry and gold is not None:
        entry = {**entry, "answer": gold}
    return entry


def verify_procedural(gold: Any, completion: str, *, entry: Any) -> Verdict:
    """Score one completion of a reasoning-gym item; `entry` is the item dict (or its JSON)."""
    item = _entry(gold, entry)
    extracted = extract_procedural(completion)
    if extracted is None:
        return Verdict(False, None, "unparsed", score=0.0)
    raw = float(_score_fn(item["metadata"]["source_dataset"])(extracted, item))
    correct = raw == 1.0
    return Verdict(correct, extracted, "correct" if correct else "wrong", score=raw)


class ProceduralVerifier:
    """`score(gold, completion, entry=...) -> Verdict` for the registry."""

    name = "procedural"

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        if "entry" not in fields:
            raise InputError("procedural verifier: missing field 'entry' (the reasoning-gym item dict)")
        return verify_procedural(gold, completion, entry=fields["entry"])
