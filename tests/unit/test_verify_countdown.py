import time

import pytest

from sftscope.errors import InputError
from sftscope.verify.countdown import CountdownVerifier, score_countdown, verify_countdown


@pytest.mark.parametrize(
    ("expression", "numbers", "target", "reason", "why"),
    [
        ("7*3+5", [3, 7, 5], 26, "correct", None),
        ("(7+5)*3", [3, 7, 5], 36, "correct", None),
        ("7 × 3 + 5 = 26", [3, 7, 5], 26, "correct", None),
        ("7 \\times 3 + 5", [3, 7, 5], 26, "correct", None),
        ("10-3", [1, 3, 10], 7, "correct", None),  # not every number has to be used
        ("7*3+5", [3, 7, 5], 27, "wrong", "wrong_value"),
        ("7*3+5 = 27", [3, 7, 5], 26, "wrong", "wrong_equation"),
        ("7+7", [7, 2], 14, "invalid_answer", "number_reused"),
        ("8+1", [7, 1], 9, "invalid_answer", "number_not_given"),
        ("3-7+5", [3, 7, 5], 1, "invalid_answer", "non_positive_intermediate"),
        ("5-5+3", [5, 5, 3], 3, "invalid_answer", "non_positive_intermediate"),
        ("7/2*2", [7, 2, 2], 7, "invalid_answer", "inexact_division"),
        ("-3+7", [3, 7], 4, "invalid_answer", "disallowed_syntax"),
        ("9**9**9", [9, 9, 9], 1, "unparsed", "bad_characters"),
        ("9//3", [9, 3], 3, "unparsed", "bad_characters"),
        ("__import__('os').system('true')", [1], 1, "unparsed", "bad_characters"),
        ("٣+1", [3, 1], 4, "unparsed", "bad_characters"),
        ("3.0+1", [3, 1], 4, "unparsed", "bad_characters"),
        ("(3+1", [3, 1], 4, "unparsed", "syntax"),
        ("", [3], 3, "unparsed", "empty"),
        ("1" * 10_000_000, [1], 1, "too_long", None),
        ("(" * 150 + "1" + ")" * 150, [1], 1, "too_long", None),
        ("99999999999999*99999999999999", [99999999999999], 1, "invalid_answer", "operand_too_large"),
    ],
)
def test_verify_countdown_reasons(expression, numbers, target, reason, why):
    """The code is one of records.REASONS; the broken rule is in details["why"]."""
    verdict = verify_countdown(expression, numbers, target)
    assert (verdict.reason, (verdict.details or {}).get("why")) == (reason, why)
    assert verdict.correct is (reason == "correct")


def test_hostile_inputs_are_fast():
    start = time.perf_counter()
    for text in ("9**9**9", "1" * 10_000_000, "(" * 99 + "1" + ")" * 99, "٣" * 1000, "1+" * 99 + "1"):
        assert not verify_countdown(text, [1, 2], 3).correct
    assert time.perf_counter() - start < 1.0


def test_deep_nesting_within_length_is_evaluated():
    assert verify_countdown("(" * 90 + "3+4" + ")" * 90, [3, 4], 7).correct


def test_score_completion_uses_last_box_after_think():
    text = "<think>\nTry \\boxed{3+4}\n</think>\n7*3=21, 21+5=26.\n\\boxed{7*3+5}"
    assert score_countdown(text, [3, 7, 5], 26).correct
    assert score_countdown("<think>\\boxed{7*3+5}", [3, 7, 5], 26).reason == "unfinished"
    assert score_countdown("7*3+5", [3, 7, 5], 26).correct  # a bare expression
    no_box = score_countdown("no answer here\nat all", [3, 7, 5], 26)
    assert (no_box.reason, no_box.details) == ("unparsed", {"why": "no_boxed"})
    assert score_countdown("x" * 10_000_000 + "\\boxed{7*3+5}", [3, 7, 5], 26).correct


@pytest.mark.parametrize(
    ("numbers", "target", "field"),
    [
        (None, 26, "numbers"),
        ("3,7,5", 26, "numbers"),
        ([3, "7", 5], 26, "numbers"),
        ([3, True, 5], 26, "numbers"),
        ([3.0, 7, 5], 26, "numbers"),
        ([3, 7, 5], "three", "target"),
        ([3, 7, 5], float("nan"), "target"),
        ([3, 7, 5], float("inf"), "target"),
        ([3, 7, 5], True, "target"),
        ([3, 7, 5], None, "target"),
        ([3, 7, 5], [26], "target"),
        ([3, 7, 5], 26.5, "target"),
        ([3, 7, 5], 0, "target"),
        ([3, 7, 5], 10**20, "target"),
        ([3, 7, 5], "٢٦", "target"),
    ],
)
def test_countdown_verifier_rejects_malformed_rows(numbers, target, field):
    # Regression (issue 9, eval score errors): these raised ValueError/OverflowError/TypeError, or (a bool
    # target) were silently read as 1.
    with pytest.raises(InputError, match=f"field '{field}'"):
        CountdownVerifier().score(None, "\\boxed{7*3+5}", numbers=numbers, target=target)


def test_countdown_verifier_reads_int_like_targets_and_gold():
    for target in (26, "26", " 26 ", 26.0):
        assert CountdownVerifier().score(None, "\\boxed{7*3+5}", numbers=[3, 7, 5], target=target).correct
    assert CountdownVerifier().score("26", "\\boxed{7*3+5}", numbers=(3, 7, 5)).correct
    with pytest.raises(InputError, match="field 'gold'"):
        CountdownVerifier().score("three", "\\boxed{7*3+5}", numbers=[3, 7, 5])
