"""reasoning-gym scoring: answer extraction, the dataset's own score_answer, 1.0 only counts as correct."""

from __future__ import annotations

import json

import pytest
import reasoning_gym

from sftscope.errors import InputError
from sftscope.verify.procedural import ProceduralVerifier, extract_procedural, verify_procedural


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
