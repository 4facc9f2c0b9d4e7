"""Rows of the report's tables as plain strings, shared by the HTML and the markdown renderers."""

from __future__ import annotations

from sftscope.analysis.curves import CurvePoint, Diff
from sftscope.analysis.findings import Findings, domain_title


def pct(x: float) -> str:
    return f"{x * 100:.1f}"


def signed(x: float, unit: float = 100.0) -> str:
    return f"{x * unit:+.1f}".replace("-", "−")


def with_ci(p: CurvePoint) -> str:
    return f"{pct(p.mean)} [{pct(p.lo)}, {pct(p.hi)}]"


def diff_ci(d: Diff | None) -> str:
    if d is None:
        return "–"
    return f"{signed(d.delta)} [{signed(d.lo)}, {signed(d.hi)}]"


def step_or_dash(step: int | None) -> str:
    return "–" if step is None else str(step)


DYNAMICS_HEADER = [
    "",
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
        rows.append(
            [
                name,
                dyn.label,
                with_ci(curve.points[0]),
                step_or_dash(dyn.dip_step),
                diff_ci(dyn.dip),
                step_or_dash(dyn.recovery_step),
                step_or_dash(dyn.back_to_base_step),
                f"{diff_ci(dyn.final)} at {dyn.final_step}",
                "yes: train longer" if dyn.still_rising else "no",
            ]
        )
    return rows


def change_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """Domain x step change vs base in points, paired bootstrap 95% intervals."""
    header = ["change vs base", *[f"step {s}" for s in findings.steps[1:]]]
    rows = []
    for curve, _ in findings.domains:
        diffs = {p.step: d for p, d in zip(curve.points, curve.deltas_from_base())}
        rows.append([domain_title(curve.domain), *[diff_ci(diffs.get(s)) for s in findings.steps[1:]]])
    return header, rows


def score_table(findings: Findings) -> tuple[list[str], list[list[str]]]:
    """Task x step means with 95% intervals; the last column is the share of unparsed answers at the end."""
    header = ["task", "domain", "version", *[f"step {s}" for s in findings.steps], "unparsed (last)"]
    rows = []
    for curve, _ in findings.tasks:
        by_step = {p.step: p for p in curve.points}
        cells = [with_ci(by_step[s]) if s in by_step else "–" for s in findings.steps]
        last = curve.points[-1].step
        unparsed = findings.unparsed.get((curve.name, last), 0.0)
        rows.append(
            [
                curve.name,
                domain_title(curve.domain),
                findings.task_versions.get(curve.name, "?"),
                *cells,
                f"{unparsed * 100:.0f}%",
            ]
        )
    for curve, _ in findings.domains:
        by_step = {p.step: p for p in curve.points}
        cells = [with_ci(by_step[s]) if s in by_step else "–" for s in findings.steps]
        rows.append([f"{domain_title(curve.domain)} (mean)", domain_title(curve.domain), "", *cells, ""])
    return header, rows


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


TRADEOFF_HEADER = ["step", "reasoning vs base", "safety vs base", "HEx-PHI attack success %"]


def tradeoff_rows(findings: Findings) -> list[list[str]]:
    return [
        [
            str(p.step),
            diff_ci(p.reasoning),
            diff_ci(p.safety),
            "–" if p.attack_success is None else with_ci(p.attack_success),
        ]
        for p in findings.tradeoff
    ]
