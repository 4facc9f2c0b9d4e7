"""Countdown-CoT: arithmetic puzzles with search-trace responses, generated without a teacher model.

A problem is k integers (1..max_number) and a target. The rules, shared with `sftscope.verify.countdown`:
reach the target with + - * / and parentheses, using each given number at most once (not all must be used),
and every intermediate result must be a positive integer (no zero or negative values, only exact division).
Targets come from a random expression over all k numbers, in 1..max_target, and are never one of the numbers.

Styles of the response (`STYLES`):
- `cot`: `<think>` holds the real depth-first search (`sftscope.data.search`): attempts, dead ends
  ("38, too big"), back-ups, the hit and a final check; then a one-line summary and `\\boxed{expression}`.
- `direct`: the same format with the solution path only, no dead ends (the "surface" control).
- `nocot`: no think block, just the summary and the box.

Determinism: problem `index` of `seed` draws from `random.Random(f"countdown:{seed}:{index}")`, so any row can
be regenerated alone. Distinct rows are drawn until `n` are found, so an `n` larger than the problem space
would draw for minutes before failing; `check_space` counts the space first and fails at once with its size. Held-out split: a problem whose canonical key (sorted numbers + target) hashes into
`EVAL_BUCKETS` of 10 buckets is an eval problem; training files never contain one, in any number order.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from sftscope.data.search import Term, combine, render_path, render_trace, search
from sftscope.errors import InputError
from sftscope.records import SFTRow
from sftscope.verify.countdown import score_countdown

STYLES = ("cot", "nocot", "direct")
EVAL_BUCKETS = frozenset({0})
ANSWER_INSTRUCTION = "Put your final answer within \\boxed{}."
DEFAULTS = {"k_min": 3, "k_max": 4, "max_number": 10, "max_target": 100, "max_trace_steps": 40}


def problem_key(numbers: list[int], target: int) -> str:
    return f"{','.join(map(str, sorted(numbers)))}->{target}"


def is_eval_split(numbers: list[int], target: int) -> bool:
    digest = hashlib.sha256(problem_key(numbers, target).encode("utf-8")).digest()
    return digest[0] % 10 in EVAL_BUCKETS


def build_prompt(numbers: list[int], target: int) -> list[dict[str, str]]:
    """The chat messages for one problem; the Countdown eval task asks in the same words."""
    listed = ", ".join(map(str, numbers))
    text = (
        f"Using the numbers {listed}, make {target}. Use + - * / and each number at most once; "
        f"every intermediate result must be a positive integer. {ANSWER_INSTRUCTION}"
    )
    return [{"role": "user", "content": text}]


def _check(k_min: int, k_max: int, max_number: int, max_target: int) -> None:
    if not 2 <= k_min <= k_max <= 6:
        raise InputError(f"need 2 <= k-min <= k-max <= 6, got k-min {k_min}, k-max {k_max}")
    if max_number < 2 or max_target < 2:
        raise InputError("max-number and max-target must be at least 2")


def make_problem(
    seed: int,
    index: int,
    k_min: int = 3,
    k_max: int = 4,
    max_number: int = 10,
    split: str = "train",
    max_target: int = 100,
) -> dict[str, Any]:
    """Problem `index` of `seed` in `split` ("train" or "eval"): {numbers, target, id}. Always solvable."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    _check(k_min, k_max, max_number, max_target)
    rng = random.Random(f"countdown:{seed}:{index}")
    want_eval = split == "eval"
    for _ in range(10_000):  # about 1 draw in 10 is eval-split; most draws give a usable target
        k = rng.randint(k_min, k_max)
        numbers = [rng.randint(1, max_number) for _ in range(k)]
        target = _random_target(numbers, rng)
        if target is None or target > max_target or target in numbers:
            continue
        if is_eval_split(numbers, target) != want_eval:
            continue
        return {"numbers": numbers, "target": target, "id": f"countdown-{split}-{seed}-{index}"}
    raise InputError(
        f"no {split} problem found for seed {seed}, index {index}; widen --max-number/--max-target"
    )


def _random_target(numbers: list[int], rng: random.Random) -> int | None:
    """Fold the numbers in a random order with random operations; None when an operation breaks the rule."""
    terms = [Term(n, str(n)) for n in numbers]
    rng.shuffle(terms)
    while len(terms) > 1:
        a, b = terms.pop(), terms.pop()
        if a.value < b.value:
            a, b = b, a
        made = combine(a, rng.choice("+-*/"), b)
        if made is None:
            return None
        terms.append(made)
    return terms[0].value


def solve(numbers: list[int], target: int, seed: int = 0, max_nodes: int | None = None):
    """Run the trace search; returns `search.SearchResult` (solution is None when there is none)."""
    return search(
        numbers, target, random.Random(f"countdown-search:{seed}:{problem_key(numbers, target)}"), max_nodes
    )


def make_row(
    problem: dict[str, Any], style: str, seed: int, index: int, max_trace_steps: int | None
) -> SFTRow | None:
    """One training row, or None when the search needs more than `max_trace_steps` attempts."""
    numbers, target = problem["numbers"], problem["target"]
    rng = random.Random(f"countdown-text:{seed}:{index}")
    result = search(numbers, target, rng, max_trace_steps)
    if result.solution is None:
        return None
    expression = result.solution.expr
    steps = ", ".join(f"{e.left.value}{e.op}{e.right.value}={e.result.value}" for e in result.path)
    summary = f"{steps}, so {expression} = {target}.\n\\boxed{{{expression}}}"
    if style == "cot":
        response = (
            "<think>\n" + "\n".join(render_trace(result, numbers, target, rng)) + "\n</think>\n" + summary
        )
    elif style == "direct":
        response = "<think>\n" + "\n".join(render_path(result, numbers, target)) + "\n</think>\n" + summary
    elif style == "nocot":
        response = summary
    else:
        raise InputError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    return SFTRow(
        messages=build_prompt(numbers, target),
        response=response,
        answer=str(target),
        id=problem["id"],
        source=f"countdown/{style}",
        extra={
            "numbers": list(numbers),
            "target": target,
            "search": {"nodes": result.nodes, "backtracks": result.backtracks, "steps": len(result.path)},
        },
    )


def _fold_values(numbers: tuple[int, ...], memo: dict) -> set[int]:
    """Every target `_random_target` can fold `numbers` (sorted) into: one number at a time onto the rest."""
    if numbers in memo:
        return memo[numbers]
    if len(numbers) == 1:
        out = {numbers[0]}
    else:
        out = set()
        for i, last in enumerate(numbers):
            if i and numbers[i - 1] == last:
                continue  # the same value again folds the same way
            for value in _fold_values(numbers[:i] + numbers[i + 1 :], memo):
                a, b = (value, last) if value >= last else (last, value)
                out.update((a + b, a * b))
                if a > b:
                    out.add(a - b)
                if a % b == 0:
                    out.add(a // b)
    memo[numbers] = out
    return out


def count_problems(
    split: str, k_min: int, k_max: int, max_number: int, max_target: int, ordered: bool
) -> int:
    """How many distinct problems `make_problem` can draw in `split`.

    `ordered` counts number tuples in every order (training rows are distinct per order), else as sets (eval
    problems). An upper bound for `generate_rows`, whose trace cap can skip some of them."""
    memo: dict = {}
    total = 0
    for k in range(k_min, k_max + 1):
        for numbers in itertools.combinations_with_replacement(range(1, max_number + 1), k):
            targets = sum(
                1
                for t in _fold_values(numbers, memo)
                if t <= max_target
                and t not in numbers
                and is_eval_split(list(numbers), t) == (split == "eval")
            )
            if targets and ordered:
                targets *= math.factorial(k) // math.prod(
                    math.factorial(c) for c in Counter(numbers).values()
                )
            total += targets
    return total


def check_space(
    n: int, split: str, k_min: int, k_max: int, max_number: int, max_target: int, ordered: bool
) -> None:
    """Fail at once when fewer than `n` distinct problems exist (instead of drawing for minutes first)."""
    # A cheap bound first: number tuples times the targets one tuple can fold into (orders x operations).
    bound = sum(
        max_number**k * min(max_target, math.factorial(k) * 4 ** (k - 1)) for k in range(k_min, k_max + 1)
    )
    if bound >= 20 * n:  # room to spare: draws find n distinct problems long before they run out
        return
    size = bound if bound < n else count_problems(split, k_min, k_max, max_number, max_target, ordered)
    if size < n:
        settings = f"--k-min {k_min} --k-max {k_max} --max-number {max_number} --max-target {max_target}"
        raise InputError(
            f"only {'up to ' if size == bound else ''}{size:,} distinct {split} problems exist for {settings} "
            f"(asked for {n:,}); lower --n or raise --max-number/--max-target/--k-max"
        )


def generate_rows(
    n: int,
    seed: int,
    style: str = "cot",
    k_min: int = 3,
    k_max: int = 4,
    max_number: int = 10,
    max_target: int = 100,
    max_trace_steps: int | None = 40,
    progress: Callable[[int], None] | None = None,
) -> list[SFTRow]:
    """`n` distinct, verified training rows (train split only), deterministic for `seed`."""
    if style not in STYLES:
        raise InputError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    _check(k_min, k_max, max_number, max_target)
    check_space(n, "train", k_min, k_max, max_number, max_target, ordered=True)
    rows: list[SFTRow] = []
    seen: set[tuple] = set()
    limit = 50 * n + 1000
    for index in range(limit):
        problem = make_problem(seed, index, k_min, k_max, max_number, "train", max_target)
        key = (tuple(problem["numbers"]), problem["target"])
        if key in seen:
            continue
        row = make_row(problem, style, seed, index, max_trace_steps)
        if row is None:
            continue
        verdict = score_countdown(row.response, problem["numbers"], problem["target"])
        if not verdict.correct:  # a generator bug must never reach a training file
            raise RuntimeError(f"generated row {row.id} fails its own verifier: {verdict.reason}")
        seen.add(key)
        rows.append(row)
        if progress is not None:
            progress(len(rows))
        if len(rows) == n:
            return rows
    raise InputError(
        f"only {len(rows)} distinct problems found after {limit} draws; lower --n or raise --max-number/"
        "--max-target/--k-max/--max-trace-steps"
    )


def eval_problems(
    n: int, seed: int = 0, k_min: int = 3, k_max: int = 4, max_number: int = 10, max_target: int = 100
) -> list[dict[str, Any]]:
    """`n` distinct held-out problems ({numbers, target, id}); none ever appears in a training file."""
    _check(k_min, k_max, max_number, max_target)
    check_space(n, "eval", k_min, k_max, max_number, max_target, ordered=False)
    out, seen = [], set()
    for index in range(50 * n + 1000):
        problem = make_problem(seed, index, k_min, k_max, max_number, "eval", max_target)
        key = problem_key(problem["numbers"], problem["target"])
        if key not in seen:
            seen.add(key)
            out.append(problem)
            if len(out) == n:
                return out
    raise InputError(f"only {len(out)} distinct eval problems exist for these settings; lower n")
