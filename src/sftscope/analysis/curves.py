"""Score-over-training curves per task and per domain, with intervals and paired differences.

A curve is a list of (step, mean, lo, hi) points plus a way to compare two of its points. Built from stored
samples, the comparison is a *paired* bootstrap over the questions that both checkpoints answered (the same
resampled questions enter both sides, so question difficulty cancels out). Built from published numbers,
(step, mean, lo, hi) or (step, n_correct, n), it falls back to combining the two points' own intervals the way
Newcombe (1998) combines Wilson intervals for a difference of proportions.

Domain curves average their tasks. Replicate b of a domain is the mean of replicate b of each task, each task
resampled over its own questions; a domain difference averages the tasks' paired differences the same way.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sftscope.analysis.metrics import N_BOOT, Z95, bootstrap_indices, percentile_ci, seed_for, wilson_ci
from sftscope.records import DOMAINS, SampleRecord


@dataclass(frozen=True)
class CurvePoint:
    step: int
    mean: float
    lo: float
    hi: float
    n: int = 0  # questions (from samples) or samples (from counts); 0 when unknown


@dataclass(frozen=True)
class Diff:
    """value[j] - value[i] with a 95% interval."""

    delta: float
    lo: float
    hi: float

    @property
    def above(self) -> bool:
        """Significantly positive: the 95% interval excludes 0."""
        return self.lo > 0

    @property
    def below(self) -> bool:
        return self.hi < 0

    def above_at(self, z: float) -> bool:
        """Significantly positive at the level of `z`: the interval's lower half scaled from 95% to z."""
        return self.delta - (self.delta - self.lo) * z / Z95 > 0

    def below_at(self, z: float) -> bool:
        return self.delta + (self.hi - self.delta) * z / Z95 < 0


Comparer = Callable[[int, int], Diff]


def finite_ci(replicates: np.ndarray, mean: float) -> tuple[float, float]:
    """Percentile interval of the replicates that drew at least one answered question."""
    finite = replicates[~np.isnan(replicates)]
    return percentile_ci(finite) if finite.size else (mean, mean)


def interval_diff(a: CurvePoint, b: CurvePoint) -> Diff:
    """b - a from the points' own (possibly asymmetric) intervals, Newcombe's hybrid score method."""
    delta = b.mean - a.mean
    lo = delta - math.hypot(b.mean - b.lo, a.hi - a.mean)
    hi = delta + math.hypot(b.hi - b.mean, a.mean - a.lo)
    return Diff(delta, lo, hi)


@dataclass
class Curve:
    """One task's or one domain's score over steps. `compare(i, j)` gives point j minus point i."""

    name: str
    kind: str  # "task" | "domain"
    domain: str
    points: list[CurvePoint]
    run: str = ""
    tasks: tuple[str, ...] = ()
    compare: Comparer | None = field(default=None, repr=False)

    @property
    def steps(self) -> list[int]:
        return [p.step for p in self.points]

    def diff(self, i: int, j: int) -> Diff:
        if self.compare is not None:
            return self.compare(i, j)
        return interval_diff(self.points[i], self.points[j])

    def deltas_from_base(self) -> list[Diff]:
        """Change of every point against the first one (the base model when step 0 is present)."""
        return [self.diff(0, j) for j in range(len(self.points))]


def curve_from_points(
    name: str, points: Iterable[Sequence[float]], domain: str = "", kind: str = "task"
) -> Curve:
    """A curve from (step, mean, lo, hi) tuples, e.g. numbers read off a paper."""
    pts = [CurvePoint(int(s), float(m), float(lo), float(hi)) for s, m, lo, hi in points]
    return Curve(name, kind, domain, sorted(pts, key=lambda p: p.step))


def curve_from_counts(
    name: str, points: Iterable[Sequence[float]], domain: str = "", kind: str = "task"
) -> Curve:
    """A curve from (step, n_correct, n) tuples, with Wilson intervals (samples treated as independent)."""
    pts = []
    for step, correct, n in points:
        lo, hi = wilson_ci(correct, int(n))
        pts.append(CurvePoint(int(step), correct / n, lo, hi, int(n)))
    return Curve(name, kind, domain, sorted(pts, key=lambda p: p.step))


class TaskMatrix:
    """Per-question scores of one task: rows are steps, columns questions (NaN where not evaluated)."""

    def __init__(
        self, run: str, task: str, domain: str, records: Sequence[SampleRecord], n_boot: int, seed: int
    ):
        self.run, self.task, self.domain = run, task, domain
        sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0])
        for r in records:
            cell = sums[(r.step, r.example_id)]
            cell[0] += bool(r.correct)  # accuracy, as metrics.avg_at_k: partial credit never counts
            cell[1] += 1
        self.steps = sorted({s for s, _ in sums})
        qids = sorted({q for _, q in sums})
        row, col = {s: i for i, s in enumerate(self.steps)}, {q: i for i, q in enumerate(qids)}
        self.scores = np.full((len(self.steps), len(qids)), np.nan)
        for (step, qid), (total, count) in sums.items():
            self.scores[row[step], col[qid]] = total / count
        self.index = bootstrap_indices(len(qids), n_boot, seed_for(run, task, seed=seed))
        self.complete = ~np.isnan(self.scores).any(axis=1)
        # One step at a time keeps memory at n_boot x n_questions rather than times the number of steps.
        self.replicates = (
            np.stack([self._resample(row) for row in self.scores]) if self.steps else np.empty((0, 0))
        )
        self.n_questions = (~np.isnan(self.scores)).sum(axis=1)
        self._diffs: dict[tuple[int, int], tuple[float, np.ndarray]] = {}

    def _resample(self, values: np.ndarray) -> np.ndarray:
        picked = values[self.index]
        if not np.isnan(values).any():
            return picked.mean(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a replicate of only unanswered questions
            return np.nanmean(picked, axis=1)

    def point(self, i: int) -> CurvePoint:
        mean = float(np.nanmean(self.scores[i]))
        return CurvePoint(self.steps[i], mean, *finite_ci(self.replicates[i], mean), int(self.n_questions[i]))

    def paired(self, i: int, j: int) -> tuple[float, np.ndarray]:
        """(delta, replicates) of step j minus step i over the questions both answered."""
        if (i, j) not in self._diffs:
            if self.complete[i] and self.complete[j]:
                delta = float(np.mean(self.scores[j] - self.scores[i]))
                reps = self.replicates[j] - self.replicates[i]
            else:
                d = self.scores[j] - self.scores[i]
                if np.isnan(d).all():
                    raise ValueError(
                        f"{self.task}: steps {self.steps[i]} and {self.steps[j]} share no question"
                    )
                delta = float(np.nanmean(d))
                reps = self._resample(d)
                reps = np.where(np.isnan(reps), delta, reps)
            self._diffs[(i, j)] = (delta, reps)
        return self._diffs[(i, j)]


@dataclass
class CurveSet:
    """Every task and domain curve of the given records, keyed by (run, name)."""

    tasks: dict[tuple[str, str], Curve]
    domains: dict[tuple[str, str], Curve]
    matrices: dict[tuple[str, str], TaskMatrix]

    @property
    def runs(self) -> list[str]:
        return sorted({run for run, _ in self.tasks})


def task_curve(m: TaskMatrix) -> Curve:
    def compare(i: int, j: int) -> Diff:
        delta, reps = m.paired(i, j)
        return Diff(delta, *percentile_ci(reps))

    points = [m.point(i) for i in range(len(m.steps))]
    return Curve(m.task, "task", m.domain, points, m.run, (m.task,), compare)


def domain_curve(run: str, domain: str, members: list[TaskMatrix]) -> Curve:
    """Average of the member tasks at every step where at least one of them was evaluated."""
    steps = sorted({s for m in members for s in m.steps})
    rows = [{m.task: m.steps.index(s) for m in members if s in m.steps} for s in steps]
    by_task = {m.task: m for m in members}
    points = []
    for step, row in zip(steps, rows):
        reps = np.mean([by_task[t].replicates[i] for t, i in row.items()], axis=0)
        mean = float(np.mean([np.nanmean(by_task[t].scores[i]) for t, i in row.items()]))
        n = int(sum(by_task[t].n_questions[i] for t, i in row.items()))
        points.append(CurvePoint(step, mean, *finite_ci(reps, mean), n))

    def compare(i: int, j: int) -> Diff:
        shared = sorted(set(rows[i]) & set(rows[j]))
        if not shared:
            return interval_diff(points[i], points[j])
        parts = [by_task[t].paired(rows[i][t], rows[j][t]) for t in shared]
        delta = float(np.mean([d for d, _ in parts]))
        return Diff(delta, *percentile_ci(np.mean([r for _, r in parts], axis=0)))

    return Curve(domain, "domain", domain, points, run, tuple(sorted(by_task)), compare)


def build_curves(records: Iterable[SampleRecord], n_boot: int = N_BOOT, seed: int = 0) -> CurveSet:
    """Task and domain curves for every run in `records`."""
    groups: dict[tuple[str, str], list[SampleRecord]] = defaultdict(list)
    for r in records:
        groups[(r.run, r.task)].append(r)
    matrices = {
        key: TaskMatrix(key[0], key[1], rs[0].domain, rs, n_boot, seed) for key, rs in sorted(groups.items())
    }
    tasks = {key: task_curve(m) for key, m in matrices.items()}
    members: dict[tuple[str, str], list[TaskMatrix]] = defaultdict(list)
    for (run, _), m in matrices.items():
        members[(run, m.domain)].append(m)
    order = {d: i for i, d in enumerate(DOMAINS)}
    domains = {
        key: domain_curve(key[0], key[1], ms)
        for key, ms in sorted(members.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][1]))
    }
    return CurveSet(tasks, domains, matrices)
