import logging
import time

import pytest

from sftscope.errors import InputError
from sftscope.verify.boxed import MAX_SCAN_CHARS, last_boxed
from sftscope.verify.math import MAX_MATH_CHARS, MathPool, MathVerifier, quiet_math_verify, verify_math
from sftscope.verify.rawmath import score_math_raw

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


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 30_000,  # a model stuck repeating an opening box: each one was rescanned to the end
        "\\boxed{a" * 30_000,
        "\\fbox{{" * 30_000,
        "\\boxed{" + "\\boxed {x" * 20_000 + "}",
    ],
    ids=["boxed{", "boxed{a", "fbox{{", "nested"],
)
def test_last_boxed_is_linear_on_repeated_unclosed_boxes(text):
    # Regression (issue 9, item 11): quadratic; ~200 KB took minutes, before any timeout could apply.
    start = time.perf_counter()
    last_boxed(text)
    assert time.perf_counter() - start < 1.0


def test_last_boxed_falls_back_past_many_unclosed_boxes():
    assert last_boxed("\\boxed{7} " + "\\boxed{" * 50_000) == "7"
    assert last_boxed("\\boxed{1} \\boxed{\\frac{2}{3}" + "}" * 3) == "\\frac{2}{3}"


def test_verify_math_scans_the_tail_and_records_the_cut():
    long = "x" * (MAX_SCAN_CHARS + 10) + "\\boxed{2}"
    verdict = verify_math("2", long)
    assert verdict.correct
    assert verdict.details == {"scanned_chars": MAX_SCAN_CHARS, "answer_chars": MAX_SCAN_CHARS + 19}
    assert verify_math("2", "\\boxed{2}").details is None


def test_math_verify_parses_a_bounded_answer():
    # Math-Verify is superlinear on long input: 200 KB of repeated boxes took it 5 s after extraction.
    start = time.perf_counter()
    verdict = verify_math("2", "\\boxed{" * 28_000)
    assert (verdict.reason, verdict.details) == ("unparsed", {"parsed_chars": MAX_MATH_CHARS})
    assert time.perf_counter() - start < 2.0
    too_long = verify_math("2", "\\boxed{" + "1+" * MAX_MATH_CHARS + "1}")
    assert (too_long.reason, too_long.details) == (
        "too_long",
        {"answer_chars": 2 * MAX_MATH_CHARS + 1},
    )
    assert verify_math("3", "The answer is 3. " + "x" * MAX_MATH_CHARS).reason == "unparsed"  # too far back


@pytest.mark.parametrize("gold", [None, "", "  ", ["2"], True, float("nan")])
def test_math_verifier_rejects_a_gold_that_is_not_an_answer(gold):
    with pytest.raises(InputError, match="field 'gold'"):
        MathVerifier().score(gold, "\\boxed{2}")
    assert MathVerifier().score(2, "\\boxed{2}").correct  # a JSON number is an answer


def test_verify_math_basic_and_think_handling():
    assert verify_math("\\frac{1}{2}", "<think>long</think>The answer is \\boxed{0.5}").correct
    assert verify_math("2", "<think>\\boxed{2}</think>So \\boxed{3}").extracted == "3"
    assert verify_math("2", "<think>\\boxed{2}</think>So \\boxed{3}", strip_think=False).correct is False
    assert verify_math("2", "<think>\\boxed{2}").reason == "unfinished"
    assert verify_math("2", "<think>\\boxed{2}", strip_think=False).correct
    assert verify_math("3, 5", "\\boxed{5, 3}").correct  # a bare gold list is boxed, then compared as a set
    assert verify_math("x=3", "\\boxed{3}").correct
    assert verify_math("7", "I do not know.").reason == "unparsed"


def test_raw_math_reads_the_whole_response_and_names_an_unreadable_gold():
    assert score_math_raw("2", "<think>\\boxed{2}").correct  # an unclosed think block still earns credit
    assert score_math_raw("2", "<think>\\boxed{3}</think>The answer is 2.").extracted == "3"  # a box outranks
    assert score_math_raw("2", "nothing").reason == "unparsed"
    # A gold Math-Verify cannot read is a data problem, as in verify_math, not the model's "unparsed".
    assert score_math_raw("", "\\boxed{2}").reason == "gold_unparsed"
    assert score_math_raw("\\boxed{}", "2").reason == "gold_unparsed"
    assert score_math_raw(None, "2").reason == "not_a_string"


def test_raw_math_quiets_math_verify_logging():
    # Math-Verify logs a parse timeout with the whole input: megabytes of stderr for one hostile completion.
    quiet_math_verify.cache_clear()
    logging.getLogger("math_verify").setLevel(logging.NOTSET)
    score_math_raw("2", "\\boxed{2}")
    assert logging.getLogger("math_verify").level == logging.ERROR


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


def test_pool_meets_the_timeout_while_a_huge_row_waits_for_the_busy_worker():
    # Regression (issue 9, item 13): the parent blocked writing 300 KB rows into the pipe of a worker stuck on
    # HANG, missed the deadline, and HANG came back "wrong" after Math-Verify's own alarm (~2.7 s).
    huge = "\u00fc " * 150_000
    pairs = [("2", HANG), ("2", huge), ("2", huge), ("3", "\\boxed{3}")]
    with MathPool(workers=1, timeout=0.3) as pool:
        verdicts = pool.score(pairs)
    assert verdicts[0].reason == "timeout"  # HANG runs for seconds: only a parent that kept watch says so
    assert verdicts[1].details == {
        "scanned_chars": MAX_SCAN_CHARS,
        "answer_chars": 300_000,
        "parsed_chars": MAX_MATH_CHARS,
    }
    assert verdicts[3].correct


def test_pool_bounds_a_row_of_repeated_boxes_by_its_timeout():
    # Regression (issue 9, item 11): `data verify --timeout 1` spent over 150 s in the parent on this row.
    with MathPool(workers=1, timeout=1.0) as pool:
        start = time.perf_counter()
        verdicts = pool.score([("2", "\\boxed{" * 32_000), ("2", "\\boxed{2}")])
        elapsed = time.perf_counter() - start
    assert verdicts[0].reason in ("unparsed", "timeout") and verdicts[1].correct
    assert elapsed < 4.0
