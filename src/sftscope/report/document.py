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


DOMAINS_TEXT = (
    "Mean score per domain (the unweighted mean of its tasks) with a 95% bootstrap band over questions; the "
    "dashed line is the base. A domain curve keeps the same tasks at every step: a task not evaluated at every "
    "step of the curve is left out of it (the verdict names it), and rewards are in no average. A change is a "
    "paired bootstrap over the questions both checkpoints answered; where two checkpoints share no question no "
    "change is given ('–'), rather than compare different questions. A dip or a recovery counts only when "
    "significant after a Bonferroni correction for the checkpoints searched; every interval shown is 95%, and "
    "'back to base' means the 95% change vs base no longer excludes 0."
)
SCORES_TEXT = (
    "Every score in this report, in `sftscope compare` and in the `eval run` table comes from one estimator: "
    "a question's samples are averaged first, and the 95% interval is a Poisson bootstrap over questions whose "
    "weights are drawn once per question (seeded by task and question), so the same cell has the same interval "
    "everywhere."
)
METRIC_TEXT = {
    "attack_success": "Attack success rate (judge): the share of unsafe verdicts (score 5) among parsed "
    "judgements; its curve above is the safe share, 1 − ASR.",
    "refusal_proxy": "Refusal rate (lexicon proxy): the share of responses with a refusal phrase, an offline "
    "proxy for safety, not an attack success rate.",
    "reward": "Reward: a reward model's mean score, on its own scale (not a percentage).",
}
CREDIT_TEXT = (
    "Where the same completions were scored under both protocols: the paper protocol scores the raw response "
    "(think block included), the strict one only an answer after a closed think block. The difference is paired "
    "over questions; the last column counts completions correct under paper whose think block never closed."
)


def table_if_rows(table: tuple[list[str], list[list[str]]]) -> list[tuple[list[str], list[list[str]]]]:
    return [table] if table[1] else []


def run_document(findings: Findings, source: RunSource, figures: dict[str, bytes]) -> Document:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    made_by = "" if source.package_version in (None, __version__) else f" (report by sftscope {__version__})"
    meta = (
        f"run {findings.run} · {len(findings.steps)} checkpoints (steps {', '.join(map(str, findings.steps))}) · "
        f"{len(findings.tasks)} tasks · {findings.n_samples} samples · DB {source.db} · "
        f"sftscope {source.package_version or __version__}{made_by} · {now}"
    )
    metrics = {curve.metric for curve, _ in findings.tasks}
    sections = [
        Section("verdict", "Verdict", bullets=findings.verdict()),
        Section(
            "domains",
            "Per-domain curves",
            paragraphs=[DOMAINS_TEXT],
            figures=[name for name in ("domains",) if name in figures],
            tables=[
                (tables.DYNAMICS_HEADER, tables.dynamics_rows(findings, "domain")),
                tables.change_table(findings),
            ],
        ),
        Section(
            "tasks",
            "Per-task curves",
            paragraphs=[SCORES_TEXT, *[METRIC_TEXT[m] for m in sorted(metrics) if m in METRIC_TEXT]],
            figures=[name for name in ("tasks",) if name in figures],
            tables=[
                (tables.DYNAMICS_HEADER, tables.dynamics_rows(findings, "task")),
                tables.score_table(findings),
                *table_if_rows(tables.sampling_table(findings)),
            ],
        ),
    ]
    ifeval, truthfulqa = tables.ifeval_table(findings), tables.truthfulqa_table(findings)
    if ifeval[1] or truthfulqa[1]:
        sections.append(
            Section(
                "general",
                "Instruction following and truthfulness",
                paragraphs=[
                    "IFEval: prompt level (every instruction of a prompt followed) and instruction level (share "
                    "of instructions followed), strict and loose. TruthfulQA: truthful and informative shares "
                    "from the judges, and both at once. Scores in % with 95% intervals."
                ],
                tables=[*table_if_rows(ifeval), *table_if_rows(truthfulqa)],
            )
        )
    if findings.credit:
        sections.append(
            Section(
                "protocols",
                "Credit from unfinished thinking",
                paragraphs=[CREDIT_TEXT],
                tables=[(tables.CREDIT_HEADER, tables.credit_rows(findings))],
            )
        )
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
    if findings.tradeoff is not None:
        t = findings.tradeoff
        sections.append(
            Section(
                "tradeoff",
                "Safety vs reasoning",
                paragraphs=[
                    "Per checkpoint: the change of the mean reasoning score (in-domain and cross-domain tasks) "
                    f"against the change of the {t.label} ({', '.join(t.tasks)}), both vs base, in points with "
                    "95% intervals."
                ],
                figures=[name for name in ("tradeoff",) if name in figures],
                tables=[tables.tradeoff_table(findings)],
            )
        )
    versions = [
        [task, version, findings.task_protocols.get(task, "–")]
        for task, version in sorted({**source.task_versions, **findings.task_versions}.items())
    ]
    sections.append(
        Section(
            "config",
            "Run config and versions",
            tables=[(["task", "version", "protocol"], versions)],
            data=source.config or {"note": "no config recorded for this run"},
        )
    )
    return Document(f"sftscope report: {findings.run}", meta, sections, figures)
