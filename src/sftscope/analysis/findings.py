"""Everything the report says about one run, computed once: curves, labels, behaviour, trade-off, verdict.

`analyse_run(records, run)` is the single entry point; the report only formats what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sftscope.analysis.behaviour import BehaviourPoint, BehaviourVerdict, behaviour_trends, classify_behaviour
from sftscope.analysis.curves import Curve, CurvePoint, CurveSet, build_curves
from sftscope.analysis.dynamics import Dynamics, classify, pts
from sftscope.analysis.metrics import N_BOOT
from sftscope.analysis.tradeoff import TradeoffPoint, attack_success_curve, is_hexphi, tradeoff
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
    notes: list[str] = field(default_factory=list)

    @property
    def has_safety(self) -> bool:
        return bool(self.tradeoff)

    def attack_success(self) -> list[CurvePoint]:
        """The HEx-PHI attack success rate at every step, base included (empty without HEx-PHI)."""
        curve = next((c for c, _ in self.tasks if is_hexphi(c.name)), None)
        return attack_success_curve(curve) if curve is not None else []

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
        lines += self.notes
        bv = self.behaviour_verdict
        lines.append(f"Behaviour: {bv.label} — {bv.reason}.")
        if self.tradeoff:
            last = self.tradeoff[-1]
            text = (
                f"Safety trade-off at step {last.step}: reasoning {pts(last.reasoning)}, "
                f"safety score {pts(last.safety)}, both vs base"
            )
            if last.attack_success is not None:
                text += f", HEx-PHI attack success rate {last.attack_success.mean * 100:.1f}%"
            lines.append(text + ".")
        return lines


def one_version_per_task(records: list[SampleRecord]) -> tuple[list[SampleRecord], list[str]]:
    """Keep one task_version per task, so a bumped scorer or prompt never mixes into one curve.

    The kept version is the one evaluated at the most checkpoints (then the one reaching the later step).
    """
    steps: dict[tuple[str, str], set[int]] = {}
    for r in records:
        steps.setdefault((r.task, r.task_version), set()).add(r.step)
    chosen: dict[str, str] = {}
    for (task, version), seen in sorted(steps.items()):
        best = chosen.get(task)
        if best is None or (len(seen), max(seen)) > (len(steps[(task, best)]), max(steps[(task, best)])):
            chosen[task] = version
    notes = [
        f"Task {task} has results for versions {', '.join(sorted(v for t, v in steps if t == task))}; "
        f"the report uses version {version} (evaluated at the most checkpoints)."
        for task, version in sorted(chosen.items())
        if sum(t == task for t, _ in steps) > 1
    ]
    return [r for r in records if chosen[r.task] == r.task_version], notes


def analyse_run(records: list[SampleRecord], run: str, n_boot: int = N_BOOT, seed: int = 0) -> Findings:
    """Curves, dynamics labels, behaviour trends and the trade-off for one run's records."""
    mine, notes = one_version_per_task([r for r in records if r.run == run])
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
        notes=notes,
    )
