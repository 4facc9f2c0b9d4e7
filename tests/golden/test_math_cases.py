"""Golden math grading cases: one line per real misgrade found (tests/golden/math_cases.jsonl).

`known_issue` lines are Math-Verify behaviour we have not fixed: they are strict xfails, so a fix (or an
upgrade that changes the behaviour) shows up as a failure to update the file.
"""

import json
from pathlib import Path

import pytest

from sftscope.verify.math import verify_math

CASES = [
    json.loads(line) for line in (Path(__file__).parent / "math_cases.jsonl").read_text().splitlines() if line
]


@pytest.mark.parametrize("case", CASES, ids=[c["note"][:40] for c in CASES])
def test_math_golden(case):
    verdict = verify_math(case["gold"], case["completion"])
    if case["known_issue"]:
        if verdict.correct is case["expected"]:
            pytest.fail("known issue is fixed: set known_issue to false in math_cases.jsonl")
        pytest.xfail(case["note"])
    assert verdict.correct is case["expected"], case["note"]
