"""reasoning-gym scoring: answer extraction, the dataset's own score_answer, 1.0 only counts as correct."""

from __future__ import annotations

import json
import time

import pytest
import reasoning_gym

from sftscope.errors import InputError
from sftscope.verify.procedural import (
    MAX_ANSWER_CHARS,
    ProceduralVerifier,
    extract_procedural,
    verify_procedural,
)


def _entry(name: str, **config) -> dict:
    return reasoning_gym.create_dataset(name, size=1, seed=7, **config)[0]


def test_extraction_order():
    assert extract_procedural("<think>\\boxed{1}</think>so \\boxed{ 42 }") == "42"
    assert extract_procedural("work\n\nfinal line: 7\n\n") == "final line: 7"
    assert extract_procedural("<think>never closes") is None


def test_correct_answer_scores_one():
    entry = _entry("chain_sum")
    verdict = verify_procedural(
        entry["answer"], f"<think>adding</think>\\boxed{{{entry['answer']}}}", entry=entry
    )
    assert verdict.correct and verdict.score == 1.0 and verdict.extracted == entry["answer"]


def test_partial_credit_is_kept_but_not_correct():
    entry = _entry("spell_backward")
    # reasoning-gym's spell_backward gives partial credit for a near miss
    verdict = verify_procedural(entry["answer"], f"\\boxed{{{entry['answer']}x}}", entry=entry)
    assert not verdict.correct and verdict.reason == "wrong"
    assert 0.0 < verdict.score < 1.0
    assert verdict.value == verdict.score


def test_last_line_without_a_box_and_unparsed():
    entry = _entry("letter_counting")
    assert verify_procedural(None, f"Let me count.\n{entry['answer']}", entry=entry).correct
    unparsed = verify_procedural(None, "<think>…", entry=entry)
    assert (unparsed.correct, unparsed.reason, unparsed.score) == (False, "unparsed", 0.0)


def test_registry_interface_accepts_json_entry_and_rejects_bad_input():
    entry = _entry("chain_sum")
    verifier = ProceduralVerifier()
    assert verifier.score(entry["answer"], f"\\boxed{{{entry['answer']}}}", entry=json.dumps(entry)).correct
    with pytest.raises(InputError, match="entry"):
        verifier.score("1", "\\boxed{1}")
    with pytest.raises(InputError, match="no dataset"):
        verifier.score(
            "1", "\\boxed{1}", entry={"answer": "1", "metadata": {"source_dataset": "no_such_task"}}
        )


def test_repeated_boxes_are_linear():
    # Regression (issue 9, item 11): repeated unclosed boxes took 61 s.
    entry = _entry("chain_sum")
    start = time.perf_counter()
    verdict = verify_procedural(None, f"\\boxed{{{entry['answer']}}}" + "\\boxed{" * 20_000, entry=entry)
    assert verdict.correct
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        (
            '{"answer": "1", "metadata": {"source_dataset": "chain_sum", "x": ' + "9" * 5000 + "}}",
            "not valid JSON",
        ),
        ({"answer": "1", "metadata": None}, "'metadata'"),
        ({"answer": "1", "metadata": "chain_sum source_dataset"}, "'metadata'"),
        ({"answer": "1", "metadata": {"source_dataset": ["chain_sum"]}}, "source_dataset"),
        (
            {"answer": None, "question": "1+1", "metadata": {"source_dataset": "chain_sum"}},
            "'answer' is null",
        ),
    ],
    ids=[
        "not-json",
        "deep-json",
        "huge-int",
        "null-metadata",
        "string-metadata",
        "list-dataset",
        "null-answer",
    ],
)
def test_malformed_entries_are_input_errors(entry, match):
    # Regression (issue 9, eval score errors): JSONDecodeError, RecursionError, TypeError escaped score().
    with pytest.raises(InputError, match=match):
        ProceduralVerifier().score(None, "\\boxed{1}", entry=entry)


def test_a_null_answer_is_fine_where_the_dataset_scores_without_one():
    entry = _entry("rubiks_cube")
    assert entry["answer"] is None
    assert ProceduralVerifier().score(None, "\\boxed{U R}", entry=entry).reason in ("correct", "wrong")


def test_a_scorer_crash_on_model_output_scores_zero():
    # reasoning-gym's prime_factorization raises ValueError on an answer that is not a product of integers.
    entry = _entry("prime_factorization")
    verdict = ProceduralVerifier().score(None, "\\boxed{garbage}", entry=entry)
    assert (verdict.correct, verdict.reason, verdict.score) == (False, "error", 0.0)
    assert verdict.details["error"].startswith("ValueError")


def test_overlong_answers_are_not_handed_to_the_scorer():
    entry = _entry("chain_sum")
    verdict = ProceduralVerifier().score(None, "7" * (MAX_ANSWER_CHARS + 1), entry=entry)
    assert (verdict.reason, verdict.details) == ("too_long", {"answer_chars": MAX_ANSWER_CHARS + 1})
    assert ProceduralVerifier().score(None, None, entry=entry).reason == "not_a_string"
