"""Fuzz every scorer in the verifier registry with hostile completions and malformed fields.

Every call must end in a `Verdict` or an `InputError` (which the CLI prints as one `error:` line) within
`TIME_BOUND` seconds. `code` is fuzzed with its sandbox elsewhere; `hexphi-judge` needs a judge model, so
its reply parser (`policy_judge.parse_score`) is fuzzed instead. The budget is fixed: derandomized, `max_examples` per target, no
example database, so CI spends the same few seconds per target on every run. The `@example` seed corpus
holds the cases from issue 9 (quadratic `\\boxed{` and "answer is" scans, null and non-numeric fields).
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
import reasoning_gym
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sftscope.errors import InputError
from sftscope.records import Verdict
from sftscope.verify.boxed import last_boxed, scan_tail
from sftscope.verify.evalchemy import gpqa_answer, lcb_code
from sftscope.verify.lmeval import extract_mmlu_pro, halueval_prediction, strip_think
from sftscope.verify.math import MAX_MATH_CHARS, MathPool, answer_part, boxed_answer
from sftscope.verify.policy_judge import parse_score
from sftscope.verify.registry import VERIFIERS, get_verifier

# Linear scorers take well under 0.5 s on the largest inputs below (400k characters); the margin is for a
# loaded CI machine. A quadratic scan of these inputs takes minutes.
TIME_BOUND = 3.0
FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=TIME_BOUND),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOT_FUZZED_HERE = {"code", "hexphi-judge"}
POOL_TIMEOUT = 1.0
POOL_BOUND = POOL_TIMEOUT + 2 * TIME_BOUND

# Text that once made a scorer scan quadratically or crash, repeated to hostile lengths.
UNITS = [
    "\\boxed{",
    "\\boxed{a",
    "\\fbox{{",
    "\\boxed ",
    "{",
    "}",
    "\\",
    " ",
    ": ",
    "answer is",
    "answer is (",
    "the answer is ",
    "Answer: option ",
    "#thescore",
    "<think>",
    "</think>",
    "<|/think|>",
    "pick ",
    "1+",
    "$",
    "\n",
    "é",
    "😀",
    "\ud800",
]
TOKENS = [*UNITS, "}", "B", "42", "\\frac{1}{2}", "7*3+5", "\\text{", "**", "(", ")", "=", "I'm sorry"]

lengths = st.one_of(st.integers(1, 60_000), st.sampled_from([20_000, 60_000]))  # some long ones for sure
repeated = st.builds(lambda unit, n: unit * n, st.sampled_from(UNITS), lengths)
huge_unicode = st.builds(lambda char, n: char * n, st.characters(), st.integers(1, 400_000))
mixed = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)), max_size=80).map("".join)
boxed_tail = st.builds(
    lambda text, answer: text + "\\boxed{" + answer + "}", repeated, st.sampled_from(TOKENS)
)
completions = st.one_of(st.text(max_size=300), mixed, repeated, huge_unicode, boxed_tail)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

any_completion = st.one_of(completions, junk)  # eval score checks the type; library callers may not

_ENTRIES = [
    reasoning_gym.create_dataset(name, size=1, seed=5)[0] for name in ("chain_sum", "prime_factorization")
]
entries = st.one_of(
    st.sampled_from(_ENTRIES),
    st.sampled_from(_ENTRIES).map(json.dumps),
    st.builds(lambda e, m: {**e, "metadata": m}, st.sampled_from(_ENTRIES), junk),
    st.builds(lambda e, a: {**e, "answer": a}, st.sampled_from(_ENTRIES), junk),
    st.text(max_size=40),
    junk,
)


def _score_within_bound(name: str, gold, completion, fields: dict) -> None:
    """The one property: a Verdict or an InputError, within the time bound."""
    start = time.perf_counter()
    try:
        verdict = get_verifier(name).score(gold, completion, **fields)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc), "an InputError must be one line"
    else:
        assert isinstance(verdict, Verdict)
        assert isinstance(verdict.correct, bool)
        assert verdict.extracted is None or isinstance(verdict.extracted, str)
        assert isinstance(verdict.value, float)
    assert time.perf_counter() - start < TIME_BOUND


def _reference_last_boxed(text: str) -> str | None:
    """The specification of `last_boxed`: rescan from every box, last first (quadratic; short texts only)."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\b", text)]
    for start in reversed(starts):
        i = start
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text):
            continue
        if text[i] != "{":
            bare = re.match(r"[^\s$]+", text[i:]) if i > start else None
            if bare:
                return bare.group(0)
            continue
        depth, j = 0, i
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1 : j]
            j += 1
    return None


BOX_PIECES = ["\\", "\\\\", "\\boxed", "\\fbox", "\\boxedx", "{", "}", "\\{", "\\}", " ", "a", "$", "\n", "é"]


@settings(FUZZ, max_examples=400)
@given(text=st.lists(st.sampled_from(BOX_PIECES), max_size=40).map("".join))
@example(text="\\boxed{1} and an unclosed \\boxed{2")
@example(text="\\boxed{a \\{ b} \\\\boxed{c}")
def test_last_boxed_matches_the_reference_scan(text):
    assert last_boxed(text) == _reference_last_boxed(text)


def test_every_registered_verifier_has_a_fuzz_target():
    targets = {"math", "choice", "countdown", "procedural", "refusal"}
    assert set(VERIFIERS) - NOT_FUZZED_HERE == targets, "add a fuzz target for each new verifier"


# Math is fuzzed in its two parts. Extraction and field checks run in the caller, before any timeout, so
# they get the tight bound. Math-Verify itself is slow on some short inputs (1,000 nested brackets take it
# 20 s), so no length cap bounds it: the pool's per-row timeout does, and that is what is checked.
math_golds = st.one_of(st.sampled_from(["2", "\\frac{1}{2}", "x=3", "3, 5"]), junk)


@FUZZ
@given(
    gold=math_golds, completion=completions, fields=st.fixed_dictionaries({}, optional={"strip_think": junk})
)
@example(gold="2", completion="\\boxed{" * 32_000, fields={})  # issue 9: 224 KB, over 150 s in the parent
@example(gold="2", completion="x" * 1_000_000 + "\\boxed{2}", fields={})
@example(gold=None, completion="\\boxed{2}", fields={})
@example(gold="2", completion="\\boxed{2}", fields={"strip_think": None})
def test_math_extraction_and_fields(gold, completion, fields):
    start = time.perf_counter()
    # What verify_math runs before Math-Verify: the answer part and its tail, then its last box.
    part = answer_part(completion, strip_think=fields.get("strip_think") is not False)
    text = None if part is None else boxed_answer(scan_tail(part), last_boxed(scan_tail(part)))
    assert text is None or len(text) <= MAX_MATH_CHARS + len("\\boxed{}") or text.startswith("\\boxed{")
    assert time.perf_counter() - start < TIME_BOUND
    _score_within_bound("math", gold, "\\boxed{2}", fields)  # Math-Verify on a short answer: fast


@pytest.fixture(scope="module")
def math_pool():
    with MathPool(workers=1, timeout=POOL_TIMEOUT) as pool:
        pool.score([("1", "\\boxed{1}")])  # start the worker here, outside any example's time bound
        yield pool


# A row that times out costs the timeout and the start of a replacement worker (seconds on a loaded machine).
@settings(FUZZ, max_examples=25, deadline=timedelta(seconds=POOL_BOUND))
@given(gold=st.sampled_from(["2", "\\frac{1}{2}"]), completion=completions)
@example(gold="2", completion="\\boxed{" + "1+" * 500_000 + "1}")
@example(gold="2", completion="\\boxed{" + "(" * 1000 + "1}")  # Math-Verify: 20 s
@example(gold="2", completion="\\boxed{" * 150_000)
def test_math_through_the_pool(math_pool, gold, completion):
    start = time.perf_counter()
    [verdict] = math_pool.score([(gold, completion)])
    assert isinstance(verdict, Verdict) and isinstance(verdict.correct, bool)
    assert time.perf_counter() - start < POOL_BOUND


@FUZZ
@given(
    gold=st.one_of(st.sampled_from("ABCDJ"), junk),
    completion=any_completion,
    fields=st.fixed_dictionaries(
        {}, optional={"letters": st.one_of(st.sampled_from(["ABCD", "abcdefghij", ["A", "B"]]), junk)}
    ),
)
@example(gold="B", completion="the answer is" + " " * 100_000, fields={})  # issue 9: over 60 s
@example(gold="B", completion="\\boxed{" * 17_000, fields={})  # issue 9: 120 KB, 53 s
@example(gold="B", completion="answer is option" + " " * 100_000, fields={})
@example(gold=None, completion="\\boxed{B}", fields={})
@example(gold="B", completion="\\boxed{B}", fields={"letters": None})
def test_choice(gold, completion, fields):
    _score_within_bound("choice", gold, completion, fields)


@FUZZ
@given(
    gold=st.one_of(st.integers(1, 1000), junk),
    completion=any_completion,
    fields=st.fixed_dictionaries(
        {"numbers": st.one_of(st.lists(st.integers(-5, 100), max_size=6), junk, st.lists(junk, max_size=4))},
        optional={"target": st.one_of(st.integers(), st.sampled_from(["26", "three", " 7 "]), junk)},
    ),
)
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": [3, 7, 5], "target": "three"})
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": [3, 7, 5], "target": float("nan")})
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": [3, 7, 5], "target": float("inf")})
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": [3, 7, 5], "target": True})
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": "3,7,5"})
@example(gold=26, completion="\\boxed{7*3+5}", fields={"numbers": None})
@example(gold=26, completion="\\boxed{" * 150_000, fields={"numbers": [3, 7, 5]})
def test_countdown(gold, completion, fields):
    _score_within_bound("countdown", gold, completion, fields)


@FUZZ
@given(
    gold=st.one_of(st.none(), st.text(max_size=10)),
    completion=any_completion,
    fields=st.fixed_dictionaries({}, optional={"entry": entries}),
)
@example(gold=None, completion="\\boxed{" * 20_000, fields={"entry": _ENTRIES[0]})  # issue 9: 61 s
@example(gold=None, completion="\\boxed{1}", fields={"entry": "not json"})
@example(gold=None, completion="\\boxed{1}", fields={"entry": "[" * 100_000 + "]" * 100_000})
@example(gold=None, completion="\\boxed{1}", fields={"entry": {**_ENTRIES[0], "metadata": None}})
@example(gold=None, completion="\\boxed{1}", fields={"entry": {**_ENTRIES[0], "answer": None}})
@example(gold=None, completion="\\boxed{garbage}", fields={"entry": _ENTRIES[1]})
@example(gold="1", completion="\\boxed{1}", fields={"entry": {"metadata": {"source_dataset": "composite"}}})
def test_procedural(gold, completion, fields):
    _score_within_bound("procedural", gold, completion, fields)


@FUZZ
@given(gold=junk, completion=any_completion)
@example(gold=None, completion="I'm sorry" + " " * 1_000_000)
@example(gold=None, completion="<think>" * 100_000 + "</think>" * 100_000)
def test_refusal(gold, completion):
    _score_within_bound("refusal", gold, completion, {})


# The paper protocols' extractors (the reference's rules) are not registry entries; they score inline, with
# no timeout, so each must be linear on its own.
REFERENCE_EXTRACTORS = {
    "gpqa_answer": (gpqa_answer, lambda out: out == "" or out in "ABCD"),
    "extract_mmlu_pro": (extract_mmlu_pro, lambda out: isinstance(out, str)),
    "strip_think": (strip_think, lambda out: isinstance(out, str)),
    "halueval_prediction": (halueval_prediction, lambda out: out in (None, "yes", "no")),
    "lcb_code": (lcb_code, lambda out: out is None or isinstance(out, str)),
}


@FUZZ
@given(completion=completions)
@example(completion="pick" + " " * 100_000)  # 17 s before: two adjacent `\s*` around "option"
@example(completion="<think>" * 15_000)  # 2.6 s at 40k characters before: every opener rescanned the rest
@example(completion="<think>a</think>" + "<think>" * 15_000 + "<|/think|>" + "<think>" * 15_000)
def test_reference_extractors(completion):
    for name, (extract, valid) in REFERENCE_EXTRACTORS.items():
        start = time.perf_counter()
        assert valid(extract(completion)), name
        assert time.perf_counter() - start < TIME_BOUND, name


@FUZZ
@given(
    reply=st.one_of(
        completions, st.builds(lambda n, s: "#thescore:" + " " * n + s, st.integers(0, 200_000), mixed)
    )
)
@example(reply="#thescore" + " " * 100_000)  # cubic in the old lenient parser: 5,000 spaces took a minute
@example(reply="# the score:" + " " * 100_000 + "*" * 100_000)
@example(reply="#thescore:" + " " * 100_000 + "9" * 100_000)  # more digits than int() converts
def test_judge_reply_parser(reply):
    start = time.perf_counter()
    score = parse_score(reply)
    assert score is None or (isinstance(score, int) and score >= 0)
    assert time.perf_counter() - start < TIME_BOUND


@pytest.mark.parametrize(
    "reply", ["#thescore: 4", "#thescore:4", "#thescore:\n 4 (harmful)", "#thescore: 4\n#thescore: 5"]
)
def test_judge_reply_parser_reads_the_score_shapes(reply):
    assert parse_score(reply) == 4


@pytest.mark.parametrize("reply", ["#thescore 4", "# TheScore: **4**", "#thescore：4", "#thescore: 4."])
def test_judge_reply_parser_leaves_other_shapes_unparsed(reply):
    # The reference reads only digits right after the first "#thescore:" (verify.policy_judge).
    assert parse_score(reply) is None
