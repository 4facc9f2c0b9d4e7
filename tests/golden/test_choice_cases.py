"""Golden multiple-choice cases: (gold, completion, expected letter or null), one line per tricky shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftscope.verify.choice import DEFAULT_LETTERS, verify_choice

CASES = [json.loads(line) for line in (Path(__file__).parent / "choice_cases.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[c["note"] for c in CASES])
def test_choice_golden_case(case):
    verdict = verify_choice(case["gold"], case["completion"], case.get("letters", DEFAULT_LETTERS))
    assert verdict.extracted == case["extracted"]
    if case["extracted"] is None:
        assert (verdict.correct, verdict.reason) == (False, "unparsed")
    else:
        assert verdict.correct == (case["extracted"] == case["gold"])
        assert verdict.reason == ("correct" if verdict.correct else "wrong")
