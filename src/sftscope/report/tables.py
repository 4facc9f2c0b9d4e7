"""Rows of the report's tables as plain strings, shared by the HTML and markdown renderers, `compare`, the
`eval run` table and the lab summary: one formatter per kind of number, so one cell reads the same everywhere.
"""

from __future__ import annotations

from sftscope.analysis.curves import Curve, CurvePoint
from sftscope.analysis.dynamics import signed
from sftscope.analysis.estimator import Diff, Estimate, Estimator
from sftscope.analysis.findings import Findings, domain_title
from sftscope.analysis.metrics import (
    CURVE_LABELS,
    IFEVAL_STATS,
    MAJ_AT_K,
    METRIC_LABELS,
    PASS_AT_K,
    TRUTHFULQA_STATS,
    is_proportion,
    shown,
)


def pct(x: float) -> str:
    return f"{x * 100:.1f}"


def score_text(metric: str, e: Estimate | None) -> str:
    """'58.3 [41.7, 75.0]' in percent for shares (ASR shown as 1 - safe share), '0.412 [...]' for rewards."""
    if e is None:
        return "–"
    mean, lo, hi = shown(metric, e.mean, e.lo, e.hi)
    if not is_proportion(metric):
        return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{pct(mean)} [{pct(lo)}, {pct(hi)}]"


def point_text(p: CurvePoint | Estimate, percent: bool = True) -> str:
    if not percent:
        return f"{p.mean:.3f} [{p.lo:.3f}, {p.hi:.3f}]"
    return f"{pct(p.mean)} [{pct(p.lo)}, {pct(p.hi)}]"


def diff_ci(d: Diff | None, percent: bool = True) -> str:
    if d is None:
        return "–"
    return f"{signed(d.delta, percent)} [{signed(d.lo, percent)}, {signed(d.hi, percent)}]"


def step_or_dash(step: int | None) -> str:
    return "–" if step is None else str(step)


def measure(curve: Curve) -> str:
    """What a curve's values are: its metric's label, in the curve's (stored) orientation."""
    if curve.kind == "domain":
        return "mean of task scores"
    return CURVE_LABELS.get(curve.metric, METRIC_LABELS.get(curve.metric, curve.metric))


DYNAMICS_HEADER = [
    "",
    "measure",
    "label",
    "base",
    "dip step",
    "dip vs base",
    "recovery step",
    "back to base",
    "last vs base",
    "still rising",
]


def dynamics_rows(findings: Findings, kind: str) -> list[list[str]]:
    pairs = findings.domains if kind == "domain" else findings.tasks
    rows = []
    for curve, dyn in pairs:
        name = (
            domain_title(curve.domain) if kind == "domain" else f"{curve.name} ({domain_title(curve.domain)})"
        )
        final = "–" if dyn.final is None else f"{diff_ci(dyn.final, curve.percent)} at {dyn.final_step}"
        rows.append(
            [
                name,
                measure(curve),
                dyn.label,
                f"{point_text(curve.points[0], curve.percent)} at {curve.points[0].step}",
                step_or_dash(dyn.dip_step),
                diff_ci(dyn.dip, curve.percent),
                step_or_dash(dyn.recovery_step),
                step_or_dash(dyn.back_to_base_step),
                final,
                "yes: train longer" if dyn.still_rising else "no",
            ]
        )
    return rows


def change_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """Domain x step change vs the curve's first step, in points, paired bootstrap 95% intervals."""
    header = ["change vs base", *[f"step {s}" for s in findings.steps[1:]]]
    rows = []
    for curve, _ in findings.domains:
        diffs = {p.step: curve.diff(0, j) for j, p in enumerate(curve.points) if j > 0}
        rows.append([domain_title(curve.domain), *[diff_ci(diffs.get(s)) for s in findings.steps[1:]]])
    return header, rows


def score_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """Task x step scores with 95% intervals; the last column is the share of unparsed answers at the end."""
    est = findings.estimator
    header = ["task", "domain", "version", "protocol", "measure", *[f"step {s}" for s in findings.steps]]
    header.append("unparsed (last)")
    rows = []
    for curve, _ in findings.tasks:
        by_step = findings.grid[curve.name]
        last = est.cell(by_step[max(by_step)])
        cells = [
            score_text(curve.metric, est.estimate(by_step[s])) if s in by_step else "–"
            for s in findings.steps
        ]
        rows.append(
            [
                curve.name,
                domain_title(curve.domain),
                findings.task_versions.get(curve.name, "?"),
                findings.task_protocols.get(curve.name, "?"),
                METRIC_LABELS.get(curve.metric, curve.metric),
                *cells,
                f"{last.unparsed * 100:.0f}%",
            ]
        )
    for curve, _ in findings.domains:
        by_step = {p.step: p for p in curve.points}
        cells = [point_text(by_step[s]) if s in by_step else "–" for s in findings.steps]
        tasks = "mean of " + ", ".join(curve.tasks)
        rows.append(
            [f"{domain_title(curve.domain)} (mean)", domain_title(curve.domain), "", "", tasks, *cells, ""]
        )
    return header, rows


def stat_table(findings: Findings, metric: str, stats: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """Task x statistic rows, a column per step, for the tasks of `metric` (every cell from the estimator)."""
    est: Estimator = findings.estimator
    header = ["task", "statistic", *[f"step {s}" for s in findings.steps]]
    rows = []
    for curve, _ in findings.tasks:
        if curve.metric != metric:
            continue
        by_step = findings.grid[curve.name]
        for stat in stats:
            cells = [
                score_text("accuracy", est.estimate(by_step[s], stat)) if s in by_step else "–"
                for s in findings.steps
            ]
            if any(c != "–" for c in cells):
                rows.append([curve.name, stat, *cells])
    return header, rows


def ifeval_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """IFEval's four metrics: prompt/instruction level x strict/loose (instruction level micro-averaged)."""
    return stat_table(findings, "ifeval", IFEVAL_STATS)


def truthfulqa_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    return stat_table(findings, "truthfulqa", TRUTHFULQA_STATS)


def sampling_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """pass@k and maj@k of the accuracy tasks sampled k > 1 times per question."""
    header, rows = stat_table(findings, "accuracy", (PASS_AT_K, MAJ_AT_K))
    for row in rows:
        k = max(findings.estimator.cell(key).k for key in findings.grid[row[0]].values())
        row[1] = row[1].replace("@k", f"@{k}")
    return header, rows


CREDIT_HEADER = ["task", "step", "completions", "paper − strict", "correct under paper", "of them unclosed"]


def credit_rows(findings: Findings) -> list[list[str]]:
    return [
        [
            c.task,
            str(c.step),
            str(c.completions),
            diff_ci(c.difference),
            str(c.paper_correct),
            str(c.unclosed_credited),
        ]
        for c in findings.credit
    ]


BEHAVIOUR_HEADER = [
    "step",
    "samples",
    "mean tokens",
    "truncated %",
    "correct %",
    "backtracking /1k",
    "verification /1k",
    "subgoal /1k",
    "r(markers, correct)",
]


def behaviour_rows(findings: Findings) -> list[list[str]]:
    rows = []
    for p in findings.behaviour:
        corr = (
            "–"
            if p.correlation is None
            else f"{p.correlation[0]:+.2f} [{p.correlation[1]:+.2f}, {p.correlation[2]:+.2f}]"
        )
        rows.append(
            [
                str(p.step),
                str(p.n_samples),
                f"{p.tokens.mean:.0f}",
                pct(p.truncation.mean),
                pct(p.accuracy.mean),
                *[f"{p.marker_rates.get(c, 0.0):.2f}" for c in ("backtracking", "verification", "subgoal")],
                corr,
            ]
        )
    return rows


def tradeoff_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    t = findings.tradeoff
    if t is None:
        return [], []
    levels = {p.step: p for p in t.levels}
    header = ["step", "reasoning vs base", f"{t.label} vs base", f"{t.label} %"]
    rows = [
        [str(p.step), diff_ci(p.reasoning), diff_ci(p.safety), point_text(levels[p.step])] for p in t.points
    ]
    return header, rows
