"""Length and behaviour trends per checkpoint, and whether the model learned a procedure or only verbosity.

Per checkpoint (reasoning samples: the in_domain and cross_domain tasks, or every sample when a run has none;
only the tasks evaluated at every step kept, as for a domain curve):
mean response tokens, truncation rate (finish_reason == "length"), backtracking / verification / subgoal
markers per 1k tokens (the data audit's lexicon, `sftscope.data.markers`, counted over the whole completion,
think block included), accuracy, and how markers go with correctness: the point-biserial correlation between
a sample's total marker rate and its 0/1 correctness (95% interval by Fisher's z), computed within tasks (each
task's mean is removed from both variables first, so a task that is both marker-heavy and hard cannot fake a
negative correlation), plus the mean marker rate of correct and of incorrect samples. Harder questions inside
a task still draw both more backtracking and more errors, so read r as a trend over checkpoints, not as a
causal effect.

The classification compares the last checkpoint with the first (the base), using intervals only:
- procedural: accuracy is significantly above base, and at the last checkpoint the marker rate is
  significantly positively correlated with correctness (markers go with correct answers).
- surface verbosity: responses are significantly longer than at base, and accuracy is not significantly
  above base (length grows, accuracy does not).
- inconclusive: neither rule fires; the reason names what was missing.
Samples count as independent draws for these intervals (Wilson for rates, normal for the mean length).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sftscope.analysis.curves import CurvePoint, common_block, interval_diff
from sftscope.analysis.metrics import Z95, wilson_ci
from sftscope.data.markers import MARKERS, count_markers
from sftscope.records import SampleRecord

REASONING_DOMAINS = ("in_domain", "cross_domain")
CATEGORIES: tuple[str, ...] = tuple(MARKERS)


@dataclass(frozen=True)
class BehaviourPoint:
    run: str
    step: int
    n_samples: int
    tokens: CurvePoint  # mean response tokens with a normal 95% interval
    truncation: CurvePoint  # share of samples cut at the token limit, Wilson interval
    accuracy: CurvePoint  # share of correct samples, Wilson interval
    marker_rates: dict[str, float]  # category -> markers per 1k tokens, pooled over samples
    correlation: tuple[float, float, float] | None  # point-biserial r (lo, hi); None without variance
    rate_correct: float | None  # mean total markers per 1k tokens among correct samples
    rate_incorrect: float | None


@dataclass(frozen=True)
class BehaviourVerdict:
    label: str  # "procedural" | "surface verbosity" | "inconclusive"
    reason: str  # the rule that fired, with its evidence (changes with 95% intervals)


def reasoning_samples(records: Iterable[SampleRecord]) -> list[SampleRecord]:
    records = list(records)
    picked = [r for r in records if r.domain in REASONING_DOMAINS]
    return picked or records


def point_biserial(
    x: Sequence[float], y: Sequence[bool], groups: Sequence[str] | None = None
) -> tuple[float, float, float] | None:
    """Pearson r between a continuous x and a 0/1 y, with a Fisher-z 95% interval.

    With `groups`, both variables are centred within each group first (a stratified correlation), and the
    interval loses one degree of freedom per group.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n_groups = 1
    if groups is not None:
        labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
        n_groups = len(labels)
        counts = np.bincount(inverse)
        xa = xa - (np.bincount(inverse, weights=xa) / counts)[inverse]
        ya = ya - (np.bincount(inverse, weights=ya) / counts)[inverse]
    dof = xa.size - n_groups - 2
    sx, sy = float(np.sqrt(np.sum((xa - xa.mean()) ** 2))), float(np.sqrt(np.sum((ya - ya.mean()) ** 2)))
    if dof < 2 or sx < 1e-12 or sy < 1e-12:
        return None
    r = float(np.sum((xa - xa.mean()) * (ya - ya.mean())) / (sx * sy))
    r = float(np.clip(r, -0.999999, 0.999999))
    half = Z95 / math.sqrt(dof)
    z = math.atanh(r)
    return r, math.tanh(z - half), math.tanh(z + half)


def behaviour_point(run: str, step: int, records: Sequence[SampleRecord]) -> BehaviourPoint:
    n = len(records)
    tokens = np.array([r.n_tokens for r in records], dtype=float)
    half = Z95 * tokens.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
    truncated = sum(r.finish_reason == "length" for r in records)
    correct = [bool(r.correct) for r in records]
    counts = [count_markers(r.completion) for r in records]
    totals = {c: sum(cnt.get(c, 0) for cnt in counts) for c in CATEGORIES}
    all_tokens = max(1.0, float(tokens.sum()))
    per_sample = [1000.0 * sum(cnt.values()) / max(1, r.n_tokens) for cnt, r in zip(counts, records)]
    right = [v for v, c in zip(per_sample, correct) if c]
    wrong = [v for v, c in zip(per_sample, correct) if not c]
    n_right = len(right)
    return BehaviourPoint(
        run=run,
        step=step,
        n_samples=n,
        tokens=CurvePoint(
            step, float(tokens.mean()), float(tokens.mean() - half), float(tokens.mean() + half), n
        ),
        truncation=CurvePoint(step, truncated / n, *wilson_ci(truncated, n), n),
        accuracy=CurvePoint(step, n_right / n, *wilson_ci(n_right, n), n),
        marker_rates={c: 1000.0 * totals[c] / all_tokens for c in CATEGORIES},
        correlation=point_biserial(per_sample, correct, [r.task for r in records]),
        rate_correct=float(np.mean(right)) if right else None,
        rate_incorrect=float(np.mean(wrong)) if wrong else None,
    )


def behaviour_trends(records: Iterable[SampleRecord]) -> dict[str, list[BehaviourPoint]]:
    """run -> one BehaviourPoint per step, in step order, over the same tasks at every step (the block of
    `curves.common_block`), so a trend never compares one task at the base with another later."""
    by_run: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in reasoning_samples(records):
        if r.error is None:
            by_run[r.run].append(r)
    out: dict[str, list[BehaviourPoint]] = {}
    for run, rs in sorted(by_run.items()):
        presence: dict[str, set[int]] = defaultdict(set)
        for r in rs:
            presence[r.task].add(r.step)
        tasks, steps = common_block(presence)
        groups: dict[int, list[SampleRecord]] = defaultdict(list)
        for r in rs:
            if r.task in tasks and r.step in steps:
                groups[r.step].append(r)
        out[run] = [behaviour_point(run, step, groups[step]) for step in steps]
    return out


def classify_behaviour(points: Sequence[BehaviourPoint]) -> BehaviourVerdict:
    """Procedural vs surface verbosity, last checkpoint against the base (see the module docstring)."""
    if len(points) < 2:
        return BehaviourVerdict("inconclusive", "only one checkpoint, nothing to compare with the base")
    base, last = points[0], points[-1]
    acc = interval_diff(base.accuracy, last.accuracy)
    length = interval_diff(base.tokens, last.tokens)
    corr = last.correlation
    markers_help = corr is not None and corr[1] > 0
    corr_text = (
        "undefined" if corr is None else f"r = {corr[0]:+.2f} (95% CI {corr[1]:+.2f} to {corr[2]:+.2f})"
    )
    acc_text = f"accuracy {acc.delta * 100:+.1f} points (95% CI {acc.lo * 100:+.1f} to {acc.hi * 100:+.1f})"
    len_text = f"length {length.delta:+.0f} tokens (95% CI {length.lo:+.0f} to {length.hi:+.0f})"
    evidence = f"step {base.step} → {last.step}: {acc_text}, {len_text}; markers vs correctness {corr_text}"
    if acc.above and markers_help:
        return BehaviourVerdict(
            "procedural", f"markers go with correct answers and accuracy rose; {evidence}"
        )
    if length.above and not acc.above:
        return BehaviourVerdict("surface verbosity", f"length grew and accuracy did not; {evidence}")
    missing = []
    if not acc.above:
        missing.append("accuracy did not rise significantly")
    elif not markers_help:
        missing.append("markers are not significantly tied to correct answers")
    if not length.above:
        missing.append("length did not grow significantly")
    return BehaviourVerdict("inconclusive", f"{'; '.join(missing)}; {evidence}")
