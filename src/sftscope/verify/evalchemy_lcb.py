"""LiveCodeBench graded as the reference's evalchemy fork grades it, inside our sandbox.

Reference: `evaluation/evalchemy/eval/chat_benchmarks/LiveCodeBench/livecodebench_utils.py` (`lcb_run`,
`run_tests_for_one_example`, `run_test_std`, `run_test_func`, `prepare_test_input_output_*`,
`reliability_guard`, `map_to_example`) and `.../LiveCodeBench/eval_instruct.py` (`check_correctness`,
`evaluate_single_example`) in Nebularaid2000/rethink_sft_generalization. Our harness is our own code; the
rules it applies are the reference's:
- PRIVATE tests only (the public ones only decide `is_stdin`: any public test of type "stdin");
- all tests run in one process, in order, stopping at the first failure, after the reference's "reliability
  guard" (exit/quit, os.kill/system/remove/getcwd/chdir/..., shutil.rmtree/move, subprocess.Popen and the
  modules resource, psutil, joblib, ipdb, tkinter are disabled; code that uses them fails there too);
- the type of every test is that of the FIRST test;
- stdin tests: the program is `exec`ed with empty globals, `sys.stdin` a StringIO of the input and
  `sys.stdout` captured; `__name__ = "__main__"` is set only when the code contains the text
  `__name__ == "__main__"` with double quotes. Pass = the whole captured output, stripped, equals the expected
  output stripped (a trailing "-" and the whitespace before it removed). No per-line or numeric tolerance;
- functional tests: the function is the first word before the code's first "(" (so `class Solution:` code
  fails: its method is not a global), looked up after `exec` in a fresh namespace per test, and called
  with the inputs parsed line by line (a "[...]" line as JSON, a quoted line with its quotes stripped, else
  int, else float, else the text; an input holding "=" is read as comma-separated key=value pairs) and
  compared with `!=` to the expected output (JSON, else the stripped text);
- a SystemExit (`sys.exit()`, even after correct output) ends the run as a failure;
- one time limit for the whole run: (6 + 1) s per test + 5 s.
The verdict comes back on the sandbox's nonce-signed report channel (`run_python(report=True)`; the harness
reads the nonce before any candidate code runs), so printing cannot fake a pass; code written to attack the
harness still could (see `verify/harness.py`).
"""

from __future__ import annotations

import json
from typing import Any

from sftscope.errors import InputError
from sftscope.records import CORRECT, ERROR, TIMEOUT, UNPARSED, WRONG, Verdict
from sftscope.verify.code import decode_tests
from sftscope.verify.evalchemy import lcb_code
from sftscope.verify.harness import REPORTER, parse_report
from sftscope.verify.sandbox import SandboxLimits, run_python

PER_TEST_S = 6.0

# Runs after harness.REPORTER, which defines `_report(obj)` (the signed verdict, then exit 0).
_HARNESS = r"""
import builtins as _b, copy as _copy, io as _io, json as _json, os as _os, sys as _sys
_CODE, _TESTS, _EXTRACTED = _json.loads({payload!r})


def _done(status):
    _report({{"status": status}})


def _guard():
    import faulthandler, shutil, subprocess
    faulthandler.disable()
    _b.exit = None
    _b.quit = None
    _os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
                 "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(_os, name, None)
    for name in ("rmtree", "move", "chown"):
        setattr(shutil, name, None)
    subprocess.Popen = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        _sys.modules[name] = None


def _value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _functional_io(test):
    if not _EXTRACTED:
        return test["input"], test["output"]
    raw, expected, args = test["input"], test["output"].strip(), []
    if "=" in raw:
        for part in raw.split(","):
            key, value = (x.strip() for x in part.split("="))
            value = _value(value)
            args.append(value.strip('"') if isinstance(value, str) else value)
    else:
        for line in raw.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line.startswith('"') and line.endswith('"'):
                args.append(line.strip('"'))
            elif line.startswith("[") and line.endswith("]"):
                args.append(_json.loads(line))
            else:
                args.append(_value(line))
    try:
        expected = _json.loads(expected)
    except ValueError:
        expected = expected.strip()
    return args, expected


def _run_functional(test):
    args, expected = _functional_io(test)
    namespace = {{}}
    exec(_CODE, namespace)
    function = namespace[_CODE.split("(")[0].split()[-1]]
    _sys.stdout = _io.StringIO()
    try:
        if not _EXTRACTED:
            got = function(**args) if isinstance(args, dict) else function(args)
        else:
            got = function(*_copy.deepcopy(args))
        return not (got != expected)
    finally:
        _sys.stdout = _sys.__stdout__


def _run_stdin(test):
    expected = test["output"].strip()
    if expected.endswith("-"):
        expected = expected[: expected.rfind("-")].rstrip()
    captured = _io.StringIO()
    _sys.stdout, _sys.stdin = captured, _io.StringIO(test["input"])
    try:
        program = '__name__ = "__main__"\n' + _CODE if '__name__ == "__main__"' in _CODE else _CODE
        exec(program, {{}})
        return captured.getvalue().strip() == expected
    finally:
        _sys.stdout = _sys.__stdout__


_guard()
_run = _run_functional if _TESTS[0]["testtype"] == "functional" else _run_stdin
try:
    for _test in _TESTS:
        try:
            _passed = _run(_test)
        except Exception:
            _passed = False
        if not _passed:
            _done("wrong")
except BaseException:
    _done("exit")
_done("passed")
"""


def lcb_problem(row: dict[str, Any]) -> dict[str, Any]:
    """What grading needs from an LCB row (hub columns): the private tests and whether it is a stdin task."""
    public = decode_tests(row.get("public_test_cases") or "[]", where="public_test_cases")
    private = decode_tests(row.get("private_test_cases") or "[]", where="private_test_cases")
    if not private:
        raise InputError(
            f"LCB problem {row.get('question_id', '?')}: no private test cases (the paper protocol grades "
            "on private tests only); pass the row as released in livecodebench/code_generation_lite"
        )
    is_stdin = any(test.get("testtype") == "stdin" for test in public)
    return {"tests": private, "is_stdin": is_stdin}


def harness_program(code: str, tests: list[dict[str, Any]], is_stdin: bool) -> str:
    payload = json.dumps([code, tests, not is_stdin])
    return REPORTER + _HARNESS.format(payload=payload)


def score_lcb_reference(problem: dict[str, Any], completion: str, *, allow_unsafe: bool = False) -> Verdict:
    """Grade one completion of a problem from `lcb_problem` (its private tests) as the reference does."""
    code = lcb_code(completion)
    if code is None:
        return Verdict(False, None, UNPARSED)
    tests = problem["tests"]
    limits = SandboxLimits(wall_s=(PER_TEST_S + 1) * len(tests) + 5)
    program = harness_program(code, tests, problem["is_stdin"])
    result = run_python(program, limits=limits, allow_unsafe=allow_unsafe, report=True)
    report = parse_report(result.report)
    if report is None:  # killed (time, memory, output) or crashed before its verdict: a failure
        if result.status == "timeout":
            return Verdict(False, code, TIMEOUT)
        reason = ERROR if result.status == "sandbox-error" else WRONG
        return Verdict(False, code, reason, details={"why": "no-report" if result.ok else result.status})
    if report["status"] == "passed":
        return Verdict(True, code, CORRECT)
    # "wrong" (a test failed) or "exit" (the program called sys.exit): both fail as the reference fails them
    return Verdict(
        False, code, WRONG, details=None if report["status"] == "wrong" else {"why": report["status"]}
    )
