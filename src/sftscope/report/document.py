"""The report's content as a format-free document: sections of bullets, figures and tables.

`run_document(findings, source, figures)` decides *what* the report says; `html.py` and `markdown.py` only
decide how it looks, so the two formats never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sftscope import __version__
from sftscope.analysis.behaviour import CATEGORIES
from sftscope.analysis.findings import Findings
from sftscope.report import tables
from sftscope.report.source import RunSource


@dataclass
class Section:
    key: str
    title: str
    bullets: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # names in Document.figures
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    data: Any = None  # shown folded (the config)


@dataclass
class Document:
    title: str
    meta_line: str
    sections: list[Section]
    figures: dict[str, bytes] = field(default_factory=dict)


def run_document(findings: Findings, source: RunSource, figures: dict[str, bytes]) -> Document:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    made_by = "" if source.package_version in (None, __version__) else f" (report by sftscope {__version__})"
    meta = (
        f"run {findings.run} · {len(findings.steps)} checkpoints (steps {', '.join(map(str, findings.steps))}) · "
        f"{len(findings.tasks)} tasks · {findings.n_samples} samples · DB {source.db} · "
        f"sftscope {source.package_version or __version__}{made_by} · {now}"
    )
    sections = [
        Section("verdict", "Verdict", bullets=findings.verdict()),
        Section(
            "domains",
            "Per-domain curves",
            paragraphs=[
                "Mean score per domain (the mean of its tasks) with a 95% bootstrap band over questions; the "
                "dashed line is the base. Differences are paired bootstraps over the same questions. A dip or a "
                "recovery counts only when significant after a Bonferroni correction for the checkpoints searched; "
                "the intervals shown are 95%."
            ],
            figures=[name for name in ("domains",) if name in figures],
            tables=[
                (tables.DYNAMICS_HEADER, tables.dynamics_rows(findings, "domain")),
                tables.change_table(findings),
            ],
        ),
        Section(
            "tasks",
            "Per-task curves",
            figures=[name for name in ("tasks",) if name in figures],
            tables=[
                (tables.DYNAMICS_HEADER, tables.dynamics_rows(findings, "task")),
                tables.score_table(findings),
            ],
        ),
    ]
    if findings.behaviour:
        bv = findings.behaviour_verdict
        sections.append(
            Section(
                "behaviour",
                "Behaviour and length",
                bullets=[f"{bv.label}: {bv.reason}."],
                paragraphs=[
                    f"Reasoning samples only (in-domain and cross-domain). Markers ({', '.join(CATEGORIES)}) "
                    "come from the data audit's lexicon and are counted per 1k response tokens; r is the "
                    "point-biserial correlation of a sample's marker rate with its correctness, within tasks."
                ],
                figures=[name for name in ("behaviour",) if name in figures],
                tables=[(tables.BEHAVIOUR_HEADER, tables.behaviour_rows(findings))],
            )
        )
    if findings.tradeoff:
        sections.append(
            Section(
                "tradeoff",
                "Safety vs reasoning",
                paragraphs=[
                    "Per checkpoint: the change of the mean reasoning score (in-domain and cross-domain tasks) "
                    "against the change of the safety score, both vs base, in points with 95% intervals."
                ],
                figures=[name for name in ("tradeoff",) if name in figures],
                tables=[(tables.TRADEOFF_HEADER, tables.tradeoff_rows(findings))],
            )
        )
    versions = [[task, version] for task, version in sorted(source.task_versions.items())]
    sections.append(
        Section(
            "config",
            "Run config and versions",
            tables=[(["task", "version"], versions)],
            data=source.config or {"note": "no config recorded for this run"},
        )
    )
    return Document(f"sftscope report: {findings.run}", meta, sections, figures)
