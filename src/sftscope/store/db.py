"""The results store: one SQLite file (WAL mode) with runs, checkpoints, tasks and samples.

A sample row is one generation with its verdict, keyed by (run, checkpoint, task, task_version, example_id,
sample_idx). Writes are idempotent on that key (`INSERT OR IGNORE`) and each batch is one transaction, so a
process killed mid-write leaves either the whole batch or none of it, and a re-run skips what is stored.

Migrations are append-only: `MIGRATIONS[i]` takes the schema from version i to i + 1. Never edit one that
has shipped; add a new one. A file written by a newer sftscope (a higher `schema_version`) is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sftscope import __version__
from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SampleRecord, text_hash

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run TEXT PRIMARY KEY,
        config TEXT NOT NULL,              -- resolved config, JSON
        package_version TEXT NOT NULL,
        task_versions TEXT NOT NULL,       -- {task: version}, JSON
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        run TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        step INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (run, checkpoint)
    );
    CREATE TABLE tasks (
        task TEXT NOT NULL,
        task_version TEXT NOT NULL,
        domain TEXT NOT NULL,
        n_samples INTEGER NOT NULL,
        metric TEXT NOT NULL,
        sampling TEXT NOT NULL,            -- default SamplingParams, JSON
        PRIMARY KEY (task, task_version)
    );
    CREATE TABLE samples (
        run TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        step INTEGER NOT NULL,
        task TEXT NOT NULL,
        task_version TEXT NOT NULL,
        domain TEXT NOT NULL,
        example_id TEXT NOT NULL,
        sample_idx INTEGER NOT NULL,
        prompt_hash TEXT NOT NULL,
        prompt TEXT NOT NULL,
        gold TEXT,
        completion TEXT NOT NULL,
        extracted TEXT,
        correct INTEGER NOT NULL,
        score REAL NOT NULL,
        n_tokens INTEGER NOT NULL,
        finish_reason TEXT NOT NULL,
        sampling TEXT NOT NULL,            -- the SamplingParams used, JSON
        error TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run, checkpoint, task, task_version, example_id, sample_idx)
    );
    CREATE INDEX samples_by_task ON samples (task, run, checkpoint);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_SAMPLE_COLUMNS = (
    "run, checkpoint, step, task, task_version, domain, example_id, sample_idx, prompt_hash, prompt, gold, "
    "completion, extracted, correct, score, n_tokens, finish_reason, sampling, error, created_at"
)


def checkpoint_name(ref: CheckpointRef) -> str:
    """The checkpoint column for a reference: one name per step within a run (step 0 is the base)."""
    return f"step-{ref.step}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """A results database. Use as a context manager, or call `close()`.

    Thread-safe: one connection guarded by a lock, so the OpenAI backend's worker threads and a runner can
    share it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(
                f"{self.path}: is a directory (pass a file path for the results DB, e.g. results.db)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not an SQLite results DB ({exc})") from None
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._lock = threading.Lock()
        self._migrate()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def _migrate(self) -> None:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            except sqlite3.DatabaseError as exc:
                raise InputError(f"{self.path}: not an SQLite results DB ({exc})") from None
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise InputError(
                    f"{self.path}: schema version {current} is newer than this sftscope understands "
                    f"({SCHEMA_VERSION}); upgrade sftscope to read it"
                )
            for version in range(current, SCHEMA_VERSION):
                # executescript commits first, so wrap each migration in its own explicit transaction.
                conn.executescript(
                    f"BEGIN;\n{MIGRATIONS[version]}\n"
                    f"INSERT INTO schema_version (version) VALUES ({version + 1});\nCOMMIT;"
                )

    @property
    def schema_version(self) -> int:
        return self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        """Run one statement over many rows in a single transaction; return the rows changed."""
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    # -- runs, checkpoints, tasks ------------------------------------------------------------------------
    def record_run(
        self, run: str, config: dict[str, Any], task_versions: dict[str, str] | None = None
    ) -> None:
        """Store the resolved config, the package version and the task versions with a run (upsert)."""
        now = _now()
        versions = dict(task_versions or {})
        with self._lock:
            old = self._conn.execute("SELECT task_versions FROM runs WHERE run = ?", (run,)).fetchone()
        if old:
            versions = {**json.loads(old[0]), **versions}
        self._write(
            "INSERT INTO runs (run, config, package_version, task_versions, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run) DO UPDATE SET config = excluded.config, "
            "package_version = excluded.package_version, task_versions = excluded.task_versions, "
            "updated_at = excluded.updated_at",
            [
                (
                    run,
                    json.dumps(config, sort_keys=True, default=str),
                    __version__,
                    json.dumps(versions),
                    now,
                    now,
                )
            ],
        )

    def run_info(self, run: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT config, package_version, task_versions, created_at, updated_at FROM runs WHERE run = ?",
                (run,),
            ).fetchone()
        if row is None:
            return None
        return {
            "run": run,
            "config": json.loads(row[0]),
            "package_version": row[1],
            "task_versions": json.loads(row[2]),
            "created_at": row[3],
            "updated_at": row[4],
        }

    def runs(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT run FROM runs UNION SELECT DISTINCT run FROM samples ORDER BY run"
            ).fetchall()
        return [r[0] for r in rows]

    def record_checkpoint(self, ref: CheckpointRef) -> str:
        """Register a checkpoint (idempotent; a new path for the same step replaces the old one)."""
        name = checkpoint_name(ref)
        self._write(
            "INSERT INTO checkpoints (run, checkpoint, step, path) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run, checkpoint) DO UPDATE SET path = excluded.path",
            [(ref.run, name, ref.step, str(ref.path))],
        )
        return name

    def checkpoints(self, run: str) -> list[CheckpointRef]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT run, step, path FROM checkpoints WHERE run = ? ORDER BY step", (run,)
            ).fetchall()
        return [CheckpointRef(run=r[0], step=r[1], path=r[2]) for r in rows]

    def record_task(
        self, task: str, task_version: str, domain: str, n_samples: int, metric: str, sampling: dict[str, Any]
    ) -> None:
        self._write(
            "INSERT OR IGNORE INTO tasks (task, task_version, domain, n_samples, metric, sampling) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(task, task_version, domain, n_samples, metric, json.dumps(sampling, sort_keys=True))],
        )

    def tasks(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT task, task_version, domain, n_samples, metric, sampling FROM tasks ORDER BY task"
            ).fetchall()
        keys = ("task", "task_version", "domain", "n_samples", "metric", "sampling")
        return [dict(zip(keys, r[:5]), sampling=json.loads(r[5])) for r in rows]

    # -- samples -----------------------------------------------------------------------------------------
    def existing_keys(self, run: str, checkpoint: str, task: str, task_version: str) -> set[tuple[str, int]]:
        """The (example_id, sample_idx) pairs already stored for one checkpoint and task version."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT example_id, sample_idx FROM samples "
                "WHERE run = ? AND checkpoint = ? AND task = ? AND task_version = ?",
                (run, checkpoint, task, task_version),
            ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def add_samples(self, records: list[SampleRecord]) -> int:
        """Insert records in one transaction; rows whose key is already stored are left as they are.

        Returns the number of new rows.
        """
        now = _now()
        return self._write(
            f"INSERT OR IGNORE INTO samples ({_SAMPLE_COLUMNS}) VALUES ({', '.join('?' * 20)})",
            [
                (
                    r.run,
                    r.checkpoint,
                    r.step,
                    r.task,
                    r.task_version,
                    r.domain,
                    r.example_id,
                    r.sample_idx,
                    text_hash(r.prompt),
                    r.prompt,
                    r.gold,
                    r.completion,
                    r.extracted,
                    int(bool(r.correct)),
                    float(r.score),
                    int(r.n_tokens),
                    r.finish_reason,
                    json.dumps(r.sampling, sort_keys=True),
                    r.error,
                    now,
                )
                for r in records
            ],
        )

    def update_verdicts(self, records: list[SampleRecord]) -> int:
        """Overwrite extracted/correct/score/error of stored rows (rescoring); the generation is untouched."""
        return self._write(
            "UPDATE samples SET extracted = ?, correct = ?, score = ?, error = ? WHERE run = ? AND "
            "checkpoint = ? AND task = ? AND task_version = ? AND example_id = ? AND sample_idx = ?",
            [(r.extracted, int(bool(r.correct)), float(r.score), r.error, *r.key) for r in records],
        )

    def samples(
        self, run: str | None = None, checkpoint: str | None = None, task: str | None = None
    ) -> list[SampleRecord]:
        """Stored rows, filtered by any of run/checkpoint/task, in key order."""
        clauses, params = [], []
        for column, value in (("run", run), ("checkpoint", checkpoint), ("task", task)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SAMPLE_COLUMNS} FROM samples {where} "
                "ORDER BY run, step, task, task_version, example_id, sample_idx",
                params,
            ).fetchall()
        return [
            SampleRecord(
                run=r[0],
                checkpoint=r[1],
                step=r[2],
                task=r[3],
                task_version=r[4],
                domain=r[5],
                example_id=r[6],
                sample_idx=r[7],
                prompt=r[9],
                gold=r[10],
                completion=r[11],
                extracted=r[12],
                correct=bool(r[13]),
                score=r[14],
                n_tokens=r[15],
                finish_reason=r[16],
                sampling=json.loads(r[17]),
                error=r[18],
            )
            for r in rows
        ]

    def count_samples(self, run: str | None = None) -> int:
        with self._lock:
            if run is None:
                return self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            return self._conn.execute("SELECT COUNT(*) FROM samples WHERE run = ?", (run,)).fetchone()[0]
