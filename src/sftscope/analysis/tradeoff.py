"""The safety-versus-reasoning trade-off: per checkpoint, what reasoning gained against what safety lost.

- reasoning change: the mean over the in_domain and cross_domain tasks whose metric is a proportion (one
  block of tasks evaluated at every step, as for a domain curve), minus the same at the base, paired.
- safety, chosen by the samples' metric (never by a task's name), in this order:
    1. attack success rate (judge): tasks with metric `attack_success`, the paper's HEx-PHI metric;
    2. refusal rate (lexicon proxy): tasks with metric `refusal_proxy`, an offline proxy, never called ASR;
    3. safety score: safety-domain tasks whose samples predate metric names (stored as `accuracy`).
  Its change and level are shown in that metric's own orientation: a rising ASR is less safe, a rising
  refusal rate or safety score is safer.
Nothing is produced for a run without a safety measure or without a shared base checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sftscope.analysis.curves import Curve, CurvePoint, aggregate_curve, common_block
from sftscope.analysis.estimator import CellKey, Diff, Estimator
from sftscope.analysis.metrics import METRIC_LABELS, is_proportion

REASONING = ("in_domain", "cross_domain")
SAFETY_CHOICES = (
    ("attack_success", METRIC_LABELS["attack_success"]),
    ("refusal_proxy", METRIC_LABELS["refusal_proxy"]),
    ("accuracy", "safety score (metric not recorded)"),
)


@dataclass(frozen=True)
class TradeoffPoint:
    step: int
    reasoning: Diff  # change vs base of the mean reasoning score
    safety: Diff  # change vs base of the safety measure, in its shown orientation


@dataclass
class Tradeoff:
    label: str  # what the safety axis measures, e.g. "attack success rate (judge)"
    tasks: tuple[str, ...]
    points: list[TradeoffPoint]
    levels: list[CurvePoint]  # the safety measure at every step, base included, shown orientation


def flipped(p: CurvePoint) -> CurvePoint:
    return CurvePoint(p.step, 1 - p.mean, 1 - p.hi, 1 - p.lo, p.n)


def block_curve(est: Estimator, name: str, grid: Mapping[str, Mapping[int, CellKey]]) -> Curve | None:
    if not grid:
        return None
    tasks, steps = common_block({t: set(by_step) for t, by_step in grid.items()})
    return aggregate_curve(est, name, name, {t: grid[t] for t in tasks}, steps)


def tradeoff(est: Estimator, grid: Mapping[str, Mapping[int, CellKey]]) -> Tradeoff | None:
    """`grid`: task -> step -> the run's chosen cell of that task at that step."""
    first = {t: est.cell(next(iter(by_step.values()))) for t, by_step in grid.items()}
    reasoning = block_curve(
        est,
        "reasoning",
        {t: grid[t] for t, c in first.items() if c.domain in REASONING and is_proportion(c.metric)},
    )
    options = [
        (
            metric,
            label,
            {
                t: grid[t]
                for t, c in first.items()
                if c.metric == metric and (c.domain == "safety" or metric != "accuracy")
            },
        )
        for metric, label in SAFETY_CHOICES
    ]
    found = next(((m, label, g) for m, label, g in options if g), None)
    if found is None:
        return None
    metric, label, chosen = found
    safety = block_curve(est, "safety", chosen)
    if reasoning is None or safety is None or not reasoning.points or not safety.points:
        return None
    if reasoning.points[0].step != safety.points[0].step:
        return None  # the two sides must share their base checkpoint
    flip = metric == "attack_success"  # stored as the safe share; shown as ASR
    levels = [flipped(p) if flip else p for p in safety.points]
    r_index = {s: i for i, s in enumerate(reasoning.steps)}
    points = []
    for j, step in enumerate(safety.steps):
        if j == 0 or step not in r_index:
            continue
        r, s = reasoning.diff(0, r_index[step]), safety.diff(0, j)
        if r is None or s is None:
            continue  # no shared questions: no paired claim at this step
        if flip:
            s = Diff(-s.delta, -s.hi, -s.lo, s.n)
        points.append(TradeoffPoint(step, r, s))
    return Tradeoff(label, safety.tasks, points, levels) if points else None
