"""Run a batch of hostile cases as a scorer would, and print the results as JSON (used by test_hostile.py).

Started as its own process, as root or as a throw-away uid, so that a program that kills its scorer kills
this runner and not pytest. Reads {"cases": [...], "params": {...}, "allow_unsafe": bool, "workers": n}
on stdin. Imports only the standard library and sftscope.verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from sftscope.verify.code import CodeVerifier
from sftscope.verify.sandbox import SandboxLimits, run_python, sandbox_status

ADD = {
    "prompt": "def add(a, b):\n    '''Add two numbers.'''\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    "entry_point": "add",
}
TWO_SUM = {
    "question_id": "1",
    "public_test_cases": json.dumps([{"input": "[2, 7]\n9", "output": "[0, 1]", "testtype": "functional"}]),
    "metadata": json.dumps({"func_name": "twoSum"}),
}


def run_case(case: dict, params: dict, allow_unsafe: bool) -> dict:
    params = {**params, "marker": params["markers"][case["name"]]}
    try:
        if case["kind"] == "run":
            program = f"P = {params!r}\n{case['program']}"
            result = run_python(program, limits=SandboxLimits(**case["limits"]), allow_unsafe=allow_unsafe)
            return {
                "status": result.status,
                "returncode": result.returncode,
                "stdout": result.stdout[:4000],
                "stdout_len": len(result.stdout),
                "stderr": result.stderr[-4000:],
                "wall_s": result.wall_s,
                "mode": result.mode,
            }
        problem = {
            **(ADD if case["kind"] == "humaneval" else TWO_SUM),
            "per_test_s": case["limits"]["wall_s"],
        }
        verdict = CodeVerifier(allow_unsafe=allow_unsafe).score(problem, case["program"])
        return {"correct": verdict.correct, "reason": verdict.reason, "details": verdict.details}
    except Exception as exc:  # reported to the test, which fails the case with it
        return {"exception": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    spec = json.load(sys.stdin)
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    params = {**spec["params"], "scorer_pid": os.getpid(), "decoy_pid": decoy.pid}
    status = sandbox_status(spec["allow_unsafe"])
    results = {}
    started = time.monotonic()
    if status.mode != "refused" or spec.get("run_refused"):
        shared = [c for c in spec["cases"] if not c["exclusive"]]
        with ThreadPoolExecutor(max_workers=spec["workers"]) as pool:
            done = pool.map(lambda c: (c["name"], run_case(c, params, spec["allow_unsafe"])), shared)
            results.update(done)
        for case in spec["cases"]:
            if case["exclusive"]:
                results[case["name"]] = run_case(case, params, spec["allow_unsafe"])
    decoy_alive = decoy.poll() is None
    decoy.kill()
    decoy.wait()
    output = {
        "status": {"mode": status.mode, "reason": status.reason},
        "results": results,
        "decoy_alive": decoy_alive,
        "batch_s": time.monotonic() - started,
        "uid": os.getuid(),
    }
    print(json.dumps(output))


if __name__ == "__main__":
    main()
