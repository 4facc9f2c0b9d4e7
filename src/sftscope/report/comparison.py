"""Runs side by side at one step (the paper's Tables 1, 2 and 4): per domain and per task, with 95% intervals.

A source is a run directory, a results DB, or (with `db=`) a run name inside that DB. `step` is "last" (each
run's last evaluated checkpoint) or a number that every run must have evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sftscope import __version__
from sftscope.analysis.findings import domain_title
from sftscope.analysis.metrics import N_BOOT, DomainScore, TaskScore, domain_order, domain_scores, task_scores
from sftscope.errors import InputError
from sftscope.report.document import Document, Section
from sftscope.report.source import RunSource, load_run


@dataclass
class RunColumn:
    run: str
    step: int
    domains: dict[str, DomainScore]
    tasks: dict[str, TaskScore]


def fmt(mean: float, lo: float, hi: float) -> str:
    return f"{mean * 100:.1f} [{lo * 100:.1f}, {hi * 100:.1f}]"


def load_source(source: str, db: str | None) -> RunSource:
    if db is not None and not Path(source).exists():
        return load_run(db, run=source)  # a run name inside --db
    return load_run(source, db=db)


def pick_step(loaded: RunSource, step: str | int) -> int:
    steps = sorted({r.step for r in loaded.records})
    if step == "last":
        return steps[-1]
    if int(step) not in steps:
        raise InputError(
            f"{loaded.db}: run {loaded.run!r} has no results at step {step} (steps: {', '.join(map(str, steps))}; "
            "use --step last or one of these)"
        )
    return int(step)


def compare_runs(
    sources: list[str], step: str | int = "last", db: str | None = None, n_boot: int = N_BOOT, seed: int = 0
) -> list[RunColumn]:
    if not sources:
        raise InputError("compare: name at least one run directory or run")
    columns = []
    for source in sources:
        loaded = load_source(source, db)
        chosen = pick_step(loaded, step)
        records = [r for r in loaded.records if r.step == chosen]
        columns.append(
            RunColumn(
                loaded.run,
                chosen,
                {d.domain: d for d in domain_scores(records, n_boot, seed)},
                {t.task: t for t in task_scores(records, n_boot, seed)},
            )
        )
    return columns


def comparison_document(columns: list[RunColumn]) -> Document:
    domains = sorted({d for c in columns for d in c.domains}, key=lambda d: (domain_order(d), d))
    task_domain = {t.task: t.domain for c in columns for t in c.tasks.values()}
    tasks = sorted(task_domain, key=lambda t: (domain_order(task_domain[t]), t))
    domain_rows = [
        [
            c.run,
            str(c.step),
            *[
                fmt(c.domains[d].mean, c.domains[d].lo, c.domains[d].hi) if d in c.domains else "–"
                for d in domains
            ],
        ]
        for c in columns
    ]
    task_rows = [
        [
            c.run,
            str(c.step),
            *[fmt(c.tasks[t].mean, c.tasks[t].lo, c.tasks[t].hi) if t in c.tasks else "–" for t in tasks],
        ]
        for c in columns
    ]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        "Scores in % with 95% bootstrap intervals over questions; a domain is the mean of its tasks "
        "(each task resampled over its own questions)."
    )
    sections = [
        Section(
            "domains",
            "Per domain",
            paragraphs=[note],
            tables=[(["run", "step", *[domain_title(d) for d in domains]], domain_rows)],
        ),
        Section(
            "tasks",
            "Per task",
            tables=[(["run", "step", *[f"{t} ({domain_title(task_domain[t])})" for t in tasks]], task_rows)],
        ),
    ]
    meta = f"{len(columns)} runs · sftscope {__version__} · {now}"
    return Document("sftscope comparison: " + ", ".join(c.run for c in columns), meta, sections)
