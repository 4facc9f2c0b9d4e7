"""Find a run's results: a run directory (its results DB) or a DB file, and the run's name inside it.

The run name is, in order: `--run`; the run directory's name when the DB holds a run of that name; the only
run in the DB. Anything else is an InputError that lists what the DB holds. The DB is opened read-only in
spirit: nothing is written to it, and a missing file is never created. Every path inside a run directory
comes from `sftscope.rundir.RunDir`. `load_estimator` gives a run's estimator without the report's figure
stack (matplotlib), for callers that need only the numbers (the mini-lab's summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.analysis.estimator import N_BOOT, Estimator
from sftscope.analysis.selection import select
from sftscope.errors import InputError
from sftscope.records import SampleRecord
from sftscope.rundir import RunDir
from sftscope.store.db import Store


@dataclass
class RunSource:
    run: str
    db: Path
    run_dir: RunDir | None
    records: list[SampleRecord]
    config: dict[str, Any] = field(default_factory=dict)
    package_version: str | None = None
    task_versions: dict[str, str] = field(default_factory=dict)

    @property
    def report_dir(self) -> Path:
        """The run dir's report folder; for a bare DB file, the same layout next to the DB."""
        return (self.run_dir or RunDir(self.db.parent)).report_dir


def locate_db(source: str | Path, db: str | Path | None = None) -> tuple[Path, RunDir | None]:
    """(DB path, run dir or None) for a run dir or a DB file."""
    source = Path(source)
    if source.is_dir():
        run_dir: RunDir | None = RunDir(source)
        path = Path(db) if db is not None else run_dir.db_path
    elif source.is_file():
        path, run_dir = (Path(db), None) if db is not None else (source, None)
    else:
        raise InputError(f"{source}: no such run directory or results DB (check the path)")
    if not path.is_file():
        raise InputError(
            f"{path}: no results DB (run `sftscope sweep {source}` first, or pass --db PATH to the results)"
        )
    return path, run_dir


def choose_run(store: Store, db: Path, run_dir: RunDir | None, run: str | None) -> str:
    runs = store.runs()
    if run is not None:
        if run not in runs:
            raise InputError(f"{db}: no run {run!r} (runs in this DB: {', '.join(runs) or 'none'})")
        return run
    if run_dir is not None and run_dir.name in runs:
        return run_dir.name
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise InputError(f"{db}: the DB holds no runs (run `sftscope sweep RUN_DIR` to evaluate checkpoints)")
    raise InputError(f"{db}: several runs ({', '.join(runs)}); pick one with --run NAME")


def load_run(source: str | Path, db: str | Path | None = None, run: str | None = None) -> RunSource:
    """The records and metadata of one run; an InputError when there is nothing to report."""
    path, run_dir = locate_db(source, db)
    with Store.for_reading(path) as store:
        name = choose_run(store, path, run_dir, run)
        records = store.samples(run=name)
        info = store.run_info(name) or {}
    if not records:
        raise InputError(
            f"{path}: run {name!r} has no samples yet (evaluate it with `sftscope sweep` or `sftscope eval run`)"
        )
    config = info.get("config") or (run_dir.read_config() if run_dir is not None else {})
    versions = dict(info.get("task_versions") or {})
    for r in records:
        versions.setdefault(r.task, r.task_version)
    return RunSource(name, path, run_dir, records, config, info.get("package_version"), versions)


def load_estimator(source: str | Path, n_boot: int = N_BOOT, seed: int = 0) -> Estimator:
    """The estimator of a run's chosen results (one version and protocol per task, as in its report)."""
    return Estimator(select(load_run(source).records).records, n_boot, seed)
