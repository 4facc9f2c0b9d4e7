import time

import pytest

from sftscope.verify.boxed import last_boxed
from sftscope.verify.math import MathPool, verify_math

HANG = "\\boxed{9^{9^{9^{9}}}}"  # sympy spends seconds on this power: a real pathological answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{5}", "5"),
        ("\\boxed{\\frac{1}{2}} then \\boxed{\\sqrt{x^{2}}}", "\\sqrt{x^{2}}"),
        ("\\fbox{A}", "A"),
        ("\\boxed 7 apples", "7"),
        ("\\boxed{a \\{ b}", "a \\{ b"),
        ("\\boxed{1} and an unclosed \\boxed{2", "1"),
        ("no box", None),
        ("\\boxedx{3}", None),
        ("", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_verify_math_basic_and_think_handling():
    assert verify_math("\\frac{1}{2}", "<think>long</think>The answer is \\boxed{0.5}").correct
    assert verify_math("2", "<think>\\boxed{2}</think>So \\boxed{3}").extracted == "3"
    assert verify_math("2", "<think>\\boxed{2}</think>So \\boxed{3}", strip_think=False).correct is False
    assert verify_math("2", "<think>\\boxed{2}").reason == "unfinished"
    assert verify_math("2", "<think>\\boxed{2}", strip_think=False).correct
    assert verify_math("3, 5", "\\boxed{5, 3}").correct  # a bare gold list is boxed, then compared as a set
    assert verify_math("x=3", "\\boxed{3}").correct
    assert verify_math("7", "I do not know.").reason == "unparseable"


def test_pool_matches_in_process_and_keeps_order():
    pairs = [("2", "\\boxed{2}"), ("2", "\\boxed{3}"), ("\\frac{1}{2}", "<think>x</think>\\boxed{0.5}")] * 4
    with MathPool(workers=2, timeout=5.0) as pool:
        verdicts = pool.score(pairs)
    assert [v.correct for v in verdicts] == [verify_math(g, c).correct for g, c in pairs]


def test_pool_times_out_and_replaces_hung_workers():
    pairs = [("2", "\\boxed{2}"), ("2", HANG), ("3", "\\boxed{3}"), ("2", HANG), ("4", "\\boxed{4}")]
    with MathPool(workers=2, timeout=0.5) as pool:
        start = time.perf_counter()
        verdicts = pool.score(pairs)
        elapsed = time.perf_counter() - start
        assert [v.reason for v in verdicts] == ["correct", "timeout", "correct", "timeout", "correct"]
        assert verdicts[1].extracted is None and pool.timeouts == 2
        assert elapsed < 8.0  # two killed rows, not two full sympy evaluations
        # the replacements work
        assert [v.correct for v in pool.score([("5", "\\boxed{5}")] * 3)] == [True] * 3


def test_pool_rejects_bad_settings():
    with pytest.raises(ValueError):
        MathPool(workers=0)
    with pytest.raises(ValueError):
        MathPool(timeout=0)
