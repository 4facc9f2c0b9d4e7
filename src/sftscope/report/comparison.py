"""Runs side by side at one step (the paper's Tables 1, 2 and 4): per domain and per task, with 95% intervals.

A source is a run directory, a results DB, or (with `db=`) a run name inside that DB. `step` is "last" (each
run's last evaluated checkpoint) or a number that every run must have evaluated. Each run's tasks are chosen
as the report chooses them (one task version and one protocol each), and every score is the one estimator's,
so a cell here reads exactly as in the run's report. A domain column averages only the tasks present in every
column, and a note names any task left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sftscope import __version__
from sftscope.analysis.estimator import N_BOOT, CellKey, Estimate, Estimator
from sftscope.analysis.findings import domain_order, domain_title
from sftscope.analysis.metrics import METRIC_LABELS, is_proportion
from sftscope.analysis.selection import select
from sftscope.errors import InputError
from sftscope.report.document import Document, Section
from sftscope.report.source import RunSource, load_run
from sftscope.report.tables import point_text, score_text


@dataclass
class RunColumn:
    run: str
    step: int
    estimator: Estimator
    cells: dict[str, CellKey]  # task -> its chosen cell at `step`
    domains: dict[str, Estimate] = field(default_factory=dict)  # filled by `compare_runs`

    def metric(self, task: str) -> str:
        return self.estimator.cell(self.cells[task]).metric

    def domain(self, task: str) -> str:
        return self.estimator.cell(self.cells[task]).domain

    def score(self, task: str) -> str:
        return score_text(self.metric(task), self.estimator.estimate(self.cells[task]))


def load_source(source: str, db: str | None) -> RunSource:
    if db is not None and not Path(source).exists():
        return load_run(db, run=source)  # a run name inside --db
    return load_run(source, db=db)


def pick_step(loaded: RunSource, steps: list[int], step: str | int) -> int:
    if step == "last":
        return steps[-1]
    if int(step) not in steps:
        raise InputError(
            f"{loaded.db}: run {loaded.run!r} has no results at step {step} (steps: {', '.join(map(str, steps))}; "
            "use --step last or one of these)"
        )
    return int(step)


def run_column(loaded: RunSource, step: str | int, n_boot: int, seed: int) -> RunColumn:
    chosen = select(loaded.records)
    steps = sorted({r.step for r in chosen.records})
    at = pick_step(loaded, steps, step)
    est = Estimator([r for r in chosen.records if r.step == at], n_boot, seed)
    return RunColumn(loaded.run, at, est, {key.task: key for key in est.cells})


def compare_runs(
    sources: list[str], step: str | int = "last", db: str | None = None, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[list[RunColumn], list[str]]:
    """One column per run, and notes on the tasks each domain column leaves out."""
    if not sources:
        raise InputError("compare: name at least one run directory or run")
    columns = [run_column(load_source(source, db), step, n_boot, seed) for source in sources]
    members: dict[str, set[str]] = {}
    for c in columns:
        for task in c.cells:
            if is_proportion(c.metric(task)):
                members.setdefault(c.domain(task), set()).add(task)
    notes = []
    for domain, tasks in members.items():
        shared = [t for t in sorted(tasks) if all(t in c.cells for c in columns)]
        for task in sorted(tasks - set(shared)):
            missing = [c.run for c in columns if task not in c.cells]
            notes.append(
                f"{domain_title(domain)} leaves out {task}: no results for {', '.join(missing)} at the compared "
                "step, and a domain column averages the same tasks for every run."
            )
        for task in list(shared):
            kinds = {(c.cells[task].version, c.cells[task].protocol) for c in columns}
            if len(kinds) > 1:
                shared.remove(task)
                used = ", ".join(
                    f"{c.run}: version {c.cells[task].version}, {c.cells[task].protocol}" for c in columns
                )
                notes.append(
                    f"{domain_title(domain)} leaves out {task}: the runs were scored differently ({used}), so "
                    "its column compares different measurements."
                )
        for c in columns:
            found = c.estimator.aggregate([c.cells[t] for t in shared]) if shared else None
            if found is not None:
                c.domains[domain] = found
    return columns, notes


def task_header(task: str, domain: str, metric: str) -> str:
    label = "" if metric == "accuracy" else f"; {METRIC_LABELS.get(metric, metric)}"
    return f"{task} ({domain_title(domain)}{label})"


def comparison_document(columns: list[RunColumn], notes: Sequence[str] = ()) -> Document:
    domains = sorted({d for c in columns for d in c.domains}, key=lambda d: (domain_order(d), d))
    task_domain = {t: c.domain(t) for c in columns for t in c.cells}
    metrics = {t: c.metric(t) for c in columns for t in c.cells}
    tasks = sorted(task_domain, key=lambda t: (domain_order(task_domain[t]), t))
    domain_rows = [
        [c.run, str(c.step), *[point_text(c.domains[d]) if d in c.domains else "–" for d in domains]]
        for c in columns
    ]
    task_rows = [[c.run, str(c.step), *[c.score(t) if t in c.cells else "–" for t in tasks]] for c in columns]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        "Scores in % with 95% bootstrap intervals over questions (the same estimator as `sftscope report`); "
        "a domain is the mean of its tasks, the same tasks for every run."
    )
    sections = [
        Section(
            "domains",
            "Per domain",
            paragraphs=[note, *notes],
            tables=[(["run", "step", *[domain_title(d) for d in domains]], domain_rows)],
        ),
        Section(
            "tasks",
            "Per task",
            tables=[
                (["run", "step", *[task_header(t, task_domain[t], metrics[t]) for t in tasks]], task_rows)
            ],
        ),
    ]
    meta = f"{len(columns)} runs · sftscope {__version__} · {now}"
    return Document("sftscope comparison: " + ", ".join(c.run for c in columns), meta, sections)
