"""Score-over-training curves per task and per domain, read from the one `Estimator`.

A curve is a list of (step, mean, lo, hi) points plus a way to compare two of its points: the estimator's
paired bootstrap over the questions both checkpoints answered. Two checkpoints that share no question have no
comparison (`diff` returns None). Where only two points' own intervals are known (the behaviour trends),
`interval_diff` combines them the way Newcombe (1998) combines Wilson intervals for a difference.

A domain curve is one block of tasks x steps: the tasks it averages are evaluated at every one of its steps,
so the curve never switches tasks between steps (`common_block` picks the block; the caller notes what it
leaves out). Replicate b of a domain is the mean of replicate b of its tasks, and a domain difference is the
mean of the tasks' paired differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sftscope.analysis.estimator import CellKey, Diff, Estimate, Estimator
from sftscope.analysis.metrics import is_proportion


@dataclass(frozen=True)
class CurvePoint:
    step: int
    mean: float
    lo: float
    hi: float
    n: int = 0  # questions (from samples) or samples (from counts); 0 when unknown


Comparer = Callable[[int, int], "Diff | None"]  # (i, j) -> point j minus point i, or None


def interval_diff(a: CurvePoint, b: CurvePoint) -> Diff:
    """b - a from the points' own (possibly asymmetric) intervals, Newcombe's hybrid score method."""
    delta = b.mean - a.mean
    lo = delta - math.hypot(b.mean - b.lo, a.hi - a.mean)
    hi = delta + math.hypot(b.hi - b.mean, a.mean - a.lo)
    return Diff(delta, lo, hi)


@dataclass
class Curve:
    """One task's or one domain's score over steps. `diff(i, j)` gives point j minus point i, or None."""

    name: str
    kind: str  # "task" | "domain"
    domain: str
    points: list[CurvePoint]
    compare: Comparer = field(repr=False)
    tasks: tuple[str, ...] = ()
    metric: str = "accuracy"

    @property
    def steps(self) -> list[int]:
        return [p.step for p in self.points]

    @property
    def percent(self) -> bool:
        """Whether the scores are shares (shown in %) rather than raw values such as a reward."""
        return is_proportion(self.metric)

    def diff(self, i: int, j: int) -> Diff | None:
        return self.compare(i, j)


def as_point(step: int, e: Estimate) -> CurvePoint:
    return CurvePoint(step, e.mean, e.lo, e.hi, e.n)


def task_curve(est: Estimator, keys: Sequence[CellKey]) -> Curve:
    """The curve of one (run, task, version, protocol) over the given cells, in step order."""
    keys = sorted(keys, key=lambda k: k.step)
    cells = [est.cell(k) for k in keys]
    estimates = [est.estimate(k) for k in keys]
    present = [(k, e) for k, e in zip(keys, estimates) if e is not None]  # a step with no parsed judgement
    keys = [k for k, _ in present]

    def compare(i: int, j: int) -> Diff | None:
        return est.paired(keys[i], keys[j])

    first = cells[0]
    points = [as_point(k.step, e) for k, e in present]
    return Curve(first.key.task, "task", first.domain, points, compare, (first.key.task,), first.metric)


def common_block(presence: Mapping[str, set[int]]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The tasks and steps of a domain curve: every chosen task is evaluated at every chosen step.

    The block always holds the earliest step of any task (the base), and among such blocks the one with
    the most (task, step) cells, more tasks first on a tie. It is found greedily: start from every task
    evaluated at the base and drop, one at a time, the task whose absence frees the most steps.
    """
    if not presence:
        return (), ()
    base = min(min(steps) for steps in presence.values())
    tasks = sorted(t for t, steps in presence.items() if base in steps)
    best_tasks, best_steps = list(tasks), set.intersection(*(presence[t] for t in tasks))
    while len(tasks) > 1:
        drop = max(tasks, key=lambda t: len(set.intersection(*(presence[u] for u in tasks if u != t))))
        tasks = [t for t in tasks if t != drop]
        steps = set.intersection(*(presence[t] for t in tasks))
        if len(tasks) * len(steps) > len(best_tasks) * len(best_steps):
            best_tasks, best_steps = list(tasks), steps
    # A task dropped on the way may still cover the block it ended in: take it back.
    best_tasks += [t for t in presence if t not in best_tasks and best_steps <= presence[t]]
    return tuple(sorted(best_tasks)), tuple(sorted(best_steps))


def aggregate_curve(
    est: Estimator,
    name: str,
    domain: str,
    grid: Mapping[str, Mapping[int, CellKey]],
    steps: Sequence[int],
) -> Curve:
    """The mean of `grid`'s tasks (task -> step -> cell) at each of `steps`; every task has every step."""
    tasks = tuple(sorted(grid))
    rows = [[grid[t][s] for t in tasks] for s in steps]
    points = []
    for step, keys in zip(steps, rows):
        e = est.aggregate(keys)
        if e is not None:
            points.append(as_point(step, e))
    kept = [rows[steps.index(p.step)] for p in points]

    def compare(i: int, j: int) -> Diff | None:
        return est.paired_aggregate(kept[i], kept[j])

    return Curve(name, "domain", domain, points, compare, tasks)
