"""Data-pipeline throughput: Countdown generation, `data verify` and `data audit`, each against a baseline
measured in the same run.

    .venv/bin/python benchmarks/data_throughput.py [--n 20480] [--verify-rows 4000] [--audit-rows 20000]

- countdown: rows/s for `generate_rows(n)` (search + trace + verification) vs a plain loop that only samples
  the problems (`make_problem`); the ratio is the cost of the search traces.
- verify: rows/s of `verify_rows` on synthetic ~4k-character math responses (a think block, a summary and a
  real boxed answer; 10% wrong) with 2 workers vs 1 worker.
- audit: seconds for `audit_rows` on `--audit-rows` such rows without a tokenizer (target: <= 30 s).
- read: rows/s of `read_rows` (the one reader, strict JSON, plus row validation) on `--read-rows` such rows in
  JSONL and in Parquet, vs a plain `json.loads` per line (the cost of the strict checks and the validation).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from sftscope.data.audit import audit_rows
from sftscope.data.countdown import generate_rows, make_problem
from sftscope.data.io import read_rows, write_rows
from sftscope.data.verification import verify_rows
from sftscope.records import SFTRow
from sftscope.verify.math import MathPool

FILLER = (
    "Let me set up the equation. We have x^2 - 5x + 6 = 0, so (x-2)(x-3) = 0. Wait, let me check the "
    "discriminant: 25 - 24 = 1. First, consider the case x = 2. Next, substitute back to verify. "
)


def synthetic_math_rows(n: int, seed: int = 0) -> list[SFTRow]:
    rng = random.Random(f"bench:{seed}")
    rows = []
    for i in range(n):
        # wide ranges: Math-Verify caches parses, and repeated answers would flatter a single worker
        a, b = rng.randint(100, 99_999), rng.randint(100, 99_999)
        gold = f"\\frac{{{a}}}{{{b}}}" if i % 3 == 0 else str(a * b)
        shown = gold if i % 10 else str(a * b + 1)
        think = (FILLER * 22)[: 3800 + rng.randint(0, 200)]
        response = (
            f"<think>\n{think}\n</think>\nPutting it together, the answer is ${shown}$.\n\n\\boxed{{{shown}}}"
        )
        rows.append(SFTRow([{"role": "user", "content": f"Problem {i}: compute it."}], response, gold))
    return rows


def timed(fn):
    """(result, wall seconds). On a shared machine also compare `cpu` in the printout: wall time inflates."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    timed.cpu = time.process_time() - cpu
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20480, help="Countdown rows")
    parser.add_argument("--verify-rows", type=int, default=4000, help="synthetic math rows to verify")
    parser.add_argument("--audit-rows", type=int, default=20000, help="synthetic math rows to audit")
    parser.add_argument("--read-rows", type=int, default=20000, help="synthetic math rows to read back")
    parser.add_argument("--only", choices=("countdown", "verify", "audit", "read"), help="run one part")
    args = parser.parse_args(argv)
    parts = (args.only,) if args.only else ("countdown", "verify", "audit", "read")
    if "countdown" in parts:
        bench_countdown(args.n)
    if "verify" in parts:
        bench_verify(args.verify_rows)
    if "audit" in parts:
        bench_audit(args.audit_rows)
    if "read" in parts:
        bench_read(args.read_rows)


def bench_countdown(n: int) -> None:
    _, base = timed(lambda: [make_problem(0, i) for i in range(n)])
    rows, full = timed(lambda: generate_rows(n, seed=0))
    print(
        f"countdown: {len(rows) / full:,.0f} rows/s for n={n} ({full:.1f} s, {timed.cpu:.1f} s CPU); "
        f"problem sampling alone "
        f"{n / base:,.0f} rows/s; ratio {base / full:.2f}x of the sampling-only rate"
    )


def bench_verify(n: int) -> None:
    math_rows = synthetic_math_rows(n)
    verdicts, end_to_end = timed(lambda: verify_rows(math_rows, workers=2))
    kept = sum(v.correct for v in verdicts)
    pairs = [(row.answer, row.response) for row in math_rows]
    steady = {}
    for workers in (2, 1):  # warm pools: the ratio compares scoring, not process start-up
        with MathPool(workers=workers) as pool:
            pool.score(pairs[:8])
            again, steady[workers] = timed(lambda pool=pool: pool.score(pairs))
        assert sum(v.correct for v in again) == kept
    print(
        f"verify: {len(math_rows) / end_to_end:,.0f} rows/s end to end (2 workers, start-up included); "
        f"warm pool {len(pairs) / steady[2]:,.0f} rows/s with 2 workers vs {len(pairs) / steady[1]:,.0f} with 1 "
        f"(speed-up {steady[1] / steady[2]:.2f}x); kept {kept}/{len(math_rows)}, mean response "
        f"{sum(len(r.response) for r in math_rows) / len(math_rows):,.0f} chars"
    )


def bench_audit(n: int) -> None:
    audit_input = synthetic_math_rows(n, seed=1)
    report, ta = timed(lambda: audit_rows(audit_input, max_length=1024))
    print(
        f"audit: {ta:.1f} s ({timed.cpu:.1f} s CPU) for {report['rows']:,} rows ({report['rows'] / ta:,.0f} rows/s; budget 30 s, "
        f"{30 / ta:.1f}x headroom)"
    )


def bench_read(n: int) -> None:
    rows = synthetic_math_rows(n, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl, parquet = (
            write_rows(rows, Path(tmp) / "rows.jsonl"),
            write_rows(rows, Path(tmp) / "rows.parquet"),
        )
        mb = jsonl.stat().st_size / 1e6

        def plain() -> list[dict]:
            with open(jsonl, encoding="utf-8") as handle:
                return [json.loads(line) for line in handle]

        _, base = timed(plain)
        base_cpu = timed.cpu
        back, tj = timed(lambda: read_rows(jsonl))
        cpu = timed.cpu
        again, tp = timed(lambda: read_rows(parquet))
        assert [r.answer for r in back] == [r.answer for r in again] == [r.answer for r in rows]
    print(
        f"read: JSONL {n / tj:,.0f} rows/s ({mb / tj:,.0f} MB/s, {tj:.2f} s, {cpu:.2f} s CPU) vs plain json.loads "
        f"{n / base:,.0f} rows/s ({base_cpu:.2f} s CPU; CPU ratio {base_cpu / cpu:.2f}x); "
        f"Parquet {n / tp:,.0f} rows/s; {n:,} rows, {mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
