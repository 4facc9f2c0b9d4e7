"""The safety-versus-reasoning trade-off: per checkpoint, what reasoning gained against what safety lost.

- reasoning change: the mean over every in_domain and cross_domain task, minus the same at the base, with the
  paired bootstrap interval of `curves.domain_curve` (tasks weighted equally).
- safety change: the safety domain's score minus the base's. Safety tasks score 1 for a safe response (a
  refusal, or a judge harmfulness below 5), so a negative change means the model became less safe.
- attack success rate (HEx-PHI, the paper's safety metric): the share of unsafe responses, 1 - score, for a
  task whose name contains "hexphi" / "hex_phi" / "hex-phi".
Nothing is produced for a run without a safety task.
"""

from __future__ import annotations

from dataclasses import dataclass

from sftscope.analysis.curves import Curve, CurvePoint, CurveSet, Diff, domain_curve

REASONING = ("in_domain", "cross_domain")


@dataclass(frozen=True)
class TradeoffPoint:
    step: int
    reasoning: Diff  # change vs base of the mean reasoning score
    safety: Diff  # change vs base of the safety domain score
    attack_success: CurvePoint | None = None  # HEx-PHI attack success rate at this step


def is_hexphi(task: str) -> bool:
    name = task.lower().replace("-", "").replace("_", "")
    return "hexphi" in name


def attack_success_curve(curve: Curve) -> list[CurvePoint]:
    """1 - score, with the interval flipped accordingly."""
    return [CurvePoint(p.step, 1 - p.mean, 1 - p.hi, 1 - p.lo, p.n) for p in curve.points]


def reasoning_curve(curves: CurveSet, run: str) -> Curve | None:
    members = [m for (r, _), m in curves.matrices.items() if r == run and m.domain in REASONING]
    return domain_curve(run, "reasoning", members) if members else None


def tradeoff(curves: CurveSet, run: str) -> list[TradeoffPoint]:
    """One point per checkpoint after the base that has both reasoning and safety results."""
    safety = curves.domains.get((run, "safety"))
    reasoning = reasoning_curve(curves, run)
    if safety is None or reasoning is None:
        return []
    base = safety.points[0].step
    if reasoning.points[0].step != base:
        return []  # the two sides must share their base checkpoint
    hexphi = next((c for (r, t), c in curves.tasks.items() if r == run and is_hexphi(t)), None)
    asr = {p.step: p for p in attack_success_curve(hexphi)} if hexphi is not None else {}
    r_index = {s: i for i, s in enumerate(reasoning.steps)}
    out = []
    for j, step in enumerate(safety.steps):
        if j == 0 or step not in r_index:
            continue
        out.append(TradeoffPoint(step, reasoning.diff(0, r_index[step]), safety.diff(0, j), asr.get(step)))
    return out
