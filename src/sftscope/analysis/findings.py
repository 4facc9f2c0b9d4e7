"""Everything the report says about one run, computed once: curves, labels, behaviour, trade-off, verdict.

`analyse_run(records, run)` is the single entry point; the report only formats what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sftscope.analysis.behaviour import BehaviourPoint, BehaviourVerdict, behaviour_trends, classify_behaviour
from sftscope.analysis.curves import N_BOOT, Curve, CurveSet, build_curves
from sftscope.analysis.dynamics import Dynamics, classify, pts
from sftscope.analysis.tradeoff import TradeoffPoint, tradeoff
from sftscope.records import SampleRecord

DOMAIN_TITLES = {
    "in_domain": "In-domain",
    "cross_domain": "Cross-domain",
    "general": "General",
    "safety": "Safety",
}


def domain_title(domain: str) -> str:
    return DOMAIN_TITLES.get(domain, domain.replace("_", " ").capitalize())


@dataclass
class Findings:
    run: str
    steps: list[int]
    curves: CurveSet
    domains: list[tuple[Curve, Dynamics]]
    tasks: list[tuple[Curve, Dynamics]]
    behaviour: list[BehaviourPoint]
    behaviour_verdict: BehaviourVerdict
    tradeoff: list[TradeoffPoint]
    task_versions: dict[str, str] = field(default_factory=dict)
    unparsed: dict[tuple[str, int], float] = field(default_factory=dict)  # (task, step) -> share unparsed
    n_samples: int = 0

    @property
    def has_safety(self) -> bool:
        return bool(self.tradeoff)

    def verdict(self) -> list[str]:
        """The plain-words paragraph at the top of the report, one sentence per finding."""
        lines = []
        for curve, dyn in self.domains:
            text = dyn.summary()
            lines.append(domain_title(curve.domain) + text[len(curve.name) :])
        if self.steps and self.steps[0] != 0:
            lines.append(
                f"Note: no step-0 (base model) results; changes are measured from step {self.steps[0]}, "
                "the first checkpoint evaluated."
            )
        bv = self.behaviour_verdict
        lines.append(f"Behaviour: {bv.label} — {bv.reason}.")
        if self.tradeoff:
            last = self.tradeoff[-1]
            text = (
                f"Safety trade-off at step {last.step}: reasoning {pts(last.reasoning)} points, "
                f"safety score {pts(last.safety)} points vs base"
            )
            if last.attack_success is not None:
                text += f", HEx-PHI attack success rate {last.attack_success.mean * 100:.1f}%"
            lines.append(text + ".")
        return lines


def analyse_run(
    records: list[SampleRecord], run: str, n_boot: int = N_BOOT, seed: int = 0
) -> Findings:
    """Curves, dynamics labels, behaviour trends and the trade-off for one run's records."""
    mine = [r for r in records if r.run == run]
    if not mine:
        raise ValueError(f"no samples for run {run!r}")
    curves = build_curves(mine, n_boot=n_boot, seed=seed)
    domains = [(c, classify(c)) for (r, _), c in curves.domains.items() if r == run]
    tasks = [(c, classify(c)) for (r, _), c in curves.tasks.items() if r == run]
    order = {curve.domain: i for i, (curve, _) in enumerate(domains)}
    tasks.sort(key=lambda cd: (order.get(cd[0].domain, 99), cd[0].name))
    behaviour = behaviour_trends(mine).get(run, [])
    unparsed_counts: dict[tuple[str, int], list[int]] = {}
    versions: dict[str, str] = {}
    for r in mine:
        cell = unparsed_counts.setdefault((r.task, r.step), [0, 0])
        cell[0] += r.extracted is None
        cell[1] += 1
        versions[r.task] = r.task_version
    return Findings(
        run=run,
        steps=sorted({r.step for r in mine}),
        curves=curves,
        domains=domains,
        tasks=tasks,
        behaviour=behaviour,
        behaviour_verdict=classify_behaviour(behaviour),
        tradeoff=tradeoff(curves, run),
        task_versions=versions,
        unparsed={k: a / b for k, (a, b) in unparsed_counts.items()},
        n_samples=len(mine),
    )
