"""Find a run's results: a run directory (its `sftscope.db`) or a DB file, and the run's name inside it.

The run name is, in order: `--run`; the run directory's name when the DB holds a run of that name; the only
run in the DB. Anything else is an InputError that lists what the DB holds. The DB is opened read-only in
spirit: nothing is written to it, and a missing file is never created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sftscope.errors import InputError
from sftscope.records import SampleRecord
from sftscope.store.db import Store

DB_NAME = "sftscope.db"


@dataclass
class RunSource:
    run: str
    db: Path
    run_dir: Path | None
    records: list[SampleRecord]
    config: dict[str, Any] = field(default_factory=dict)
    package_version: str | None = None
    task_versions: dict[str, str] = field(default_factory=dict)


def locate_db(source: str | Path, db: str | Path | None = None) -> tuple[Path, Path | None]:
    """(DB path, run dir or None) for a run dir or a DB file."""
    source = Path(source)
    if source.is_dir():
        path = Path(db) if db is not None else source / DB_NAME
        run_dir: Path | None = source
    elif source.is_file():
        path, run_dir = (Path(db), None) if db is not None else (source, None)
    else:
        raise InputError(f"{source}: no such run directory or results DB (check the path)")
    if not path.is_file():
        raise InputError(
            f"{path}: no results DB (run `sftscope sweep {source}` first, or pass --db PATH to the results)"
        )
    return path, run_dir


def choose_run(store: Store, db: Path, run_dir: Path | None, run: str | None) -> str:
    runs = store.runs()
    if run is not None:
        if run not in runs:
            raise InputError(f"{db}: no run {run!r} (runs in this DB: {', '.join(runs) or 'none'})")
        return run
    if run_dir is not None and run_dir.resolve().name in runs:
        return run_dir.resolve().name
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise InputError(f"{db}: the DB holds no runs (run `sftscope sweep RUN_DIR` to evaluate checkpoints)")
    raise InputError(f"{db}: several runs ({', '.join(runs)}); pick one with --run NAME")


def read_config(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return {}
    try:
        loaded = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{run_dir / 'config.yaml'}: not valid YAML ({exc})") from None
    return loaded if isinstance(loaded, dict) else {}


def load_run(source: str | Path, db: str | Path | None = None, run: str | None = None) -> RunSource:
    """The records and metadata of one run; an InputError when there is nothing to report."""
    path, run_dir = locate_db(source, db)
    with Store(path) as store:
        name = choose_run(store, path, run_dir, run)
        records = store.samples(run=name)
        info = store.run_info(name) or {}
    if not records:
        raise InputError(
            f"{path}: run {name!r} has no samples yet (evaluate it with `sftscope sweep` or `sftscope eval run`)"
        )
    config = info.get("config") or read_config(run_dir)
    versions = dict(info.get("task_versions") or {})
    for r in records:
        versions.setdefault(r.task, r.task_version)
    return RunSource(name, path, run_dir, records, config, info.get("package_version"), versions)
