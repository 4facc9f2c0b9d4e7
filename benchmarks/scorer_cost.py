"""What scoring one completion costs per KB, at 1 KB, 100 KB and 1 MB, for every answer-extracting verifier.

    .venv/bin/python benchmarks/scorer_cost.py [--sizes 1000 100000 1000000]

Verifiers: math (in this process, and through a one-worker `MathPool`: the parent's share plus the
worker's), choice, countdown, procedural (reasoning-gym's chain_sum) and refusal; and the paper protocols'
inline extractors (GPQA, MMLU-Pro, HaluEval, and the lm-eval think removal that IFEval and TruthfulQA use).
Five completion shapes:
- answer: LaTeX-heavy working with the final answer boxed at the end (the common case);
- stuck: a model repeating `\\boxed{` until it runs out of tokens (issue 9: quadratic, minutes per row);
- spaces: "the answer is" followed by spaces (issue 9: the choice phrase regex backtracked quadratically);
- pick: "pick" followed by spaces (GPQA's "pick option X" pattern was quadratic: 40 KB took 17 s);
- openers: `<think>` repeated, never closed (the think removal rescanned from each: 40 KB took 2.6 s).
Each figure is the fastest of a few calls (the machine is shared; the minimum is the least noisy). The
ratio column is the cost per KB relative to the 1 KB row: about 1 or below is linear (fixed costs spread
out; scorers read only the last 200k characters), about 100 at 100 KB would be quadratic.
Target: every 1 MB row scores in <= 1 s. Exit status 1 when one does not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import reasoning_gym

from sftscope.verify.evalchemy import score_gpqa
from sftscope.verify.lmeval import score_halueval, score_mmlu_pro, strip_think
from sftscope.verify.math import MathPool
from sftscope.verify.registry import get_verifier

TARGET_S = 1.0
SHAPES = ("answer", "stuck", "spaces", "pick", "openers")
FILLER = "Let $x = \\frac{a}{b}$, so $x^{2} = 4$; checking {both} cases again gives the same value. "


def completion(shape: str, size: int, answer: str) -> str:
    """A completion of exactly `size` characters in the given shape."""
    if shape == "answer":
        tail = f"\nSo the final answer is \\boxed{{{answer}}}."
        return (FILLER * (size // len(FILLER) + 1))[: size - len(tail)] + tail
    if shape == "stuck":
        return ("\\boxed{" * (size // 7 + 1))[:size]
    if shape == "spaces":
        return "the answer is" + " " * (size - len("the answer is"))
    if shape == "pick":
        return "pick" + " " * (size - len("pick"))
    if shape == "openers":
        return ("<think>" * (size // 7 + 1))[:size]
    raise ValueError(shape)


def scorers(pool: MathPool) -> dict[str, tuple[Callable[[str], object], str]]:
    """{name: (score one completion, the answer its gold expects)}."""
    entry = reasoning_gym.create_dataset("chain_sum", size=1, seed=1)[0]
    math, choice = get_verifier("math"), get_verifier("choice")
    countdown, procedural, refusal = (
        get_verifier("countdown"),
        get_verifier("procedural"),
        get_verifier("refusal"),
    )
    return {
        "math": (lambda c: math.score("2", c), "2"),
        "math (MathPool)": (lambda c: pool.score([("2", c)])[0], "2"),
        "choice": (lambda c: choice.score("B", c), "B"),
        "countdown": (lambda c: countdown.score(26, c, numbers=[3, 7, 5]), "7*3+5"),
        "procedural": (lambda c: procedural.score(None, c, entry=entry), entry["answer"]),
        "refusal": (lambda c: refusal.score(None, c), "none"),
        "gpqa (paper)": (lambda c: score_gpqa("B", c), "B"),
        "mmlu-pro (paper)": (lambda c: score_mmlu_pro("B", c), "B"),
        "halueval (paper)": (lambda c: score_halueval("yes", c), "Yes"),
        "strip_think": (strip_think, "x"),
    }


def fastest(score: Callable[[str], object], text: str, size: int) -> float:
    """The fastest of a few calls: more of them for small rows, whose times are tiny and noisy."""
    repeats = 50 if size <= 10_000 else 3
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        score(text)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"scorer cost per completion (load average {load} on {os.cpu_count()} CPUs)")
    header = f"{'verifier':16} {'shape':7}" + "".join(
        f" {f'{s // 1000} KB: s':>9} {'ms/KB':>6} {'ratio':>5}" for s in args.sizes
    )
    print(header)
    missed = []
    with MathPool(workers=1, timeout=5.0) as pool:
        pool.score([("1", "\\boxed{1}")])  # start the worker before timing
        for name, (score, answer) in scorers(pool).items():
            score("\\boxed{warm-up}")  # imports and caches, outside the figures
            for shape in SHAPES:
                cells, base = [], None
                for size in args.sizes:
                    seconds = fastest(score, completion(shape, size, answer), size)
                    per_kb = seconds * 1000 / (size / 1000)
                    base = base or per_kb
                    cells.append(f" {seconds:9.4f} {per_kb:6.3f} {per_kb / base:5.2f}")
                    if size >= 1_000_000 and seconds > TARGET_S:
                        missed.append(f"{name}/{shape}: {seconds:.2f} s")
                print(f"{name:16} {shape:7}" + "".join(cells), flush=True)
    print(
        f"target: <= {TARGET_S:.0f} s per 1 MB row: "
        + ("met" if not missed else "MISSED " + "; ".join(missed))
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
