"""Everything the report says about one run, computed once: curves, labels, behaviour, trade-off, verdict.

`analyse_run(records, run)` is the single entry point; the report only formats what it returns. Every
number it holds is read from one `Estimator`, so no two sentences or tables disagree about the same cell.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sftscope.analysis.behaviour import BehaviourPoint, BehaviourVerdict, behaviour_trends, classify_behaviour
from sftscope.analysis.curves import Curve, aggregate_curve, common_block, task_curve
from sftscope.analysis.dynamics import Dynamics, change, classify
from sftscope.analysis.estimator import N_BOOT, CellKey, Estimator
from sftscope.analysis.metrics import is_proportion
from sftscope.analysis.selection import select
from sftscope.analysis.thinking import ThinkingCredit, thinking_credit
from sftscope.analysis.tradeoff import Tradeoff, tradeoff
from sftscope.records import DOMAINS, SampleRecord

DOMAIN_TITLES = {
    "in_domain": "In-domain",
    "cross_domain": "Cross-domain",
    "general": "General",
    "safety": "Safety",
}

Grid = dict[str, dict[int, CellKey]]  # task -> step -> the chosen cell


def domain_title(domain: str) -> str:
    return DOMAIN_TITLES.get(domain, domain.replace("_", " ").capitalize())


def domain_order(domain: str) -> int:
    """Sort key: in_domain, cross_domain, general, safety, then anything else."""
    return DOMAINS.index(domain) if domain in DOMAINS else len(DOMAINS)


def steps_text(steps: list[int] | set[int]) -> str:
    ordered = sorted(steps)
    return f"step{'s' if len(ordered) > 1 else ''} {', '.join(map(str, ordered))}"


@dataclass
class Findings:
    run: str
    steps: list[int]
    estimator: Estimator
    grid: Grid
    domains: list[tuple[Curve, Dynamics]]
    tasks: list[tuple[Curve, Dynamics]]
    behaviour: list[BehaviourPoint]
    behaviour_verdict: BehaviourVerdict
    tradeoff: Tradeoff | None
    credit: list[ThinkingCredit] = field(default_factory=list)
    task_versions: dict[str, str] = field(default_factory=dict)
    task_protocols: dict[str, str] = field(default_factory=dict)
    n_samples: int = 0
    notes: list[str] = field(default_factory=list)

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
        if self.tradeoff is not None:
            last = self.tradeoff.points[-1]
            level = next(p for p in self.tradeoff.levels if p.step == last.step)
            lines.append(
                f"Safety trade-off at step {last.step}: reasoning {change(last.reasoning)}, "
                f"{self.tradeoff.label} {change(last.safety)}, both vs base; "
                f"{self.tradeoff.label} {level.mean * 100:.1f}% at step {last.step}."
            )
        last_credit = {c.task: c for c in self.credit}  # rows are in step order: the last step wins
        for c in last_credit.values():
            lines.append(
                f"Unfinished thinking, {c.task} at step {c.step}: paper − strict protocol {change(c.difference)} "
                f"on {c.completions} completions scored both ways; {c.unclosed_credited} of the "
                f"{c.paper_correct} correct under paper never closed their think block."
            )
        return lines


def domain_curves(est: Estimator, grid: Grid) -> tuple[list[Curve], list[str]]:
    """One curve per domain over a block of tasks x steps, and notes on what each block leaves out."""
    curves, notes = [], []
    members: dict[str, list[str]] = defaultdict(list)
    for task, by_step in grid.items():
        cell = est.cell(next(iter(by_step.values())))
        if is_proportion(cell.metric):
            members[cell.domain].append(task)
        else:
            notes.append(
                f"Task {task} ({cell.metric}) is in no domain average: its score is not a proportion."
            )
    for domain in sorted(members, key=lambda d: (domain_order(d), d)):
        presence = {t: set(grid[t]) for t in members[domain]}
        tasks, steps = common_block(presence)
        title = domain_title(domain)
        for task in sorted(set(presence) - set(tasks)):
            missing = set(steps) - presence[task] or {min(steps)}
            notes.append(
                f"{title} average leaves out {task}: not evaluated at {steps_text(missing)}, and a domain "
                "curve keeps the same tasks at every step."
            )
        dropped = set().union(*presence.values()) - set(steps)
        if dropped and tasks:
            absent = sorted(t for t in tasks if not dropped <= presence[t])
            notes.append(
                f"{title} curve leaves out {steps_text(dropped)}: {', '.join(absent)} not evaluated there."
            )
        curves.append(aggregate_curve(est, domain, domain, {t: grid[t] for t in tasks}, steps))
    return curves, notes


def coverage_notes(curves: list[Curve]) -> list[str]:
    """Say where a step answered other questions than the curve's first step (changes pair the shared)."""
    notes = []
    for curve in curves:
        base = curve.points[0]
        for j, point in enumerate(curve.points[1:], 1):
            found = curve.diff(0, j)
            shared = 0 if found is None else found.n
            if shared == base.n == point.n:
                continue
            notes.append(
                f"{curve.name}: step {point.step} has {point.n} questions, {shared} of them shared with "
                f"step {base.step}; its change is paired over those {shared}"
                + (" (none: no change is claimed)." if not shared else ".")
            )
    return notes


def analyse_run(records: list[SampleRecord], run: str, n_boot: int = N_BOOT, seed: int = 0) -> Findings:
    """Curves, dynamics labels, behaviour trends and the trade-off for one run's records."""
    chosen = select(r for r in records if r.run == run)
    if not chosen.records:
        raise ValueError(f"no samples for run {run!r}")
    est = Estimator(chosen.records, n_boot=n_boot, seed=seed)
    grid: Grid = defaultdict(dict)
    for key in est.cells:
        grid[key.task][key.step] = key
    grid = dict(grid)
    task_list = [task_curve(est, list(by_step.values())) for by_step in grid.values()]
    domain_list, notes = domain_curves(est, grid)
    domains = [(c, classify(c)) for c in domain_list]
    tasks = [(c, classify(c)) for c in task_list]
    tasks.sort(key=lambda cd: (domain_order(cd[0].domain), cd[0].domain, cd[0].name))
    behaviour = behaviour_trends(chosen.records).get(run, [])
    return Findings(
        run=run,
        steps=sorted({k.step for k in est.cells}),
        estimator=est,
        grid=grid,
        domains=domains,
        tasks=tasks,
        behaviour=behaviour,
        behaviour_verdict=classify_behaviour(behaviour),
        tradeoff=tradeoff(est, grid),
        credit=thinking_credit(chosen.same_version, est.weights),
        task_versions=chosen.versions,
        task_protocols=chosen.protocols,
        n_samples=len(chosen.records),
        notes=chosen.notes + notes + coverage_notes(task_list),
    )
