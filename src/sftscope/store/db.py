"""The results store: one SQLite file (WAL mode) with runs, checkpoints and samples.

A sample row is one generation with its verdict, keyed by (run, checkpoint, task, task_version, protocol,
example_id, sample_idx). Writes are idempotent on that key and each batch is one transaction, so a process
killed mid-write leaves either the whole batch or none of it, and a re-run skips what is stored. What
produced a row is kept with it and checked before any reuse (`sftscope.store.guard`): the checkpoint's model
identity (checkpoints.model_id), the sampling settings and the prompt hash.

Migrations (`store.schema`) are append-only: `MIGRATIONS[i]` takes the schema from version i to i + 1. Never edit one that
has shipped; add a new one. The check-and-migrate runs in one `BEGIN IMMEDIATE` transaction, so processes
that open a fresh file at the same moment migrate it once. A file written by a newer sftscope, another
application's SQLite file, or a damaged one is refused with a one-line error. `Store(path, readonly=True)`
opens a file without writing to it (also on a read-only file system), for report, compare and rescore.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sftscope import __version__
from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SampleRecord
from sftscope.rundir import checkpoint_name
from sftscope.store.rows import N_COLUMNS, SAMPLE_COLUMNS, now, to_json, to_record, to_row, verdict_columns
from sftscope.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES, statements

_DAMAGED = "restore a backup, or point --db at a new file"


class Store:
    """A results database. Use as a context manager, or call `close()`.

    Thread-safe: one connection guarded by a lock, so the OpenAI backend's worker threads and a runner can
    share it.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.is_dir():
            raise InputError(
                f"{self.path}: is a directory (pass a file path for the results DB, e.g. results.db)"
            )
        if readonly and not self.path.is_file():
            raise InputError(f"{self.path}: no results DB here (check --db, or run an evaluation first)")
        self._lock = threading.Lock()
        self._conn = self._connect_readonly() if readonly else self._connect()
        with self._errors():
            self._check_and_migrate()

    # -- opening -----------------------------------------------------------------------------------------
    @classmethod
    def for_reading(cls, path: str | Path) -> Store:
        """Open an existing DB for commands that mostly read (report, compare, rescore): writable when the
        file and its folder are (an older schema is upgraded), else read-only (nothing is ever written)."""
        path = Path(path)
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        return cls(path, readonly=not writable)

    def _connect(self) -> sqlite3.Connection:
        if self.path.exists() and not self.path.is_file():
            raise InputError(f"{self.path}: not a regular file (pass a file path for the results DB)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        except (sqlite3.Error, OSError) as exc:
            raise InputError(f"{self.path}: cannot open the results DB ({exc})") from None
        conn.execute("PRAGMA busy_timeout = 60000")
        try:
            # Before anything writes (switching to WAL rewrites the header): refuse another application's file.
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InputError(f"{self.path}: not an SQLite file ({exc}); pick another --db") from None
        if tables and "schema_version" not in tables:
            conn.close()
            listed = ", ".join(sorted(tables)[:5])
            raise InputError(
                f"{self.path}: not an sftscope results DB (it holds other tables: {listed}); pick another --db"
            )
        deadline = time.monotonic() + 60
        while True:  # switching to WAL needs a moment without other writers: retry while it is locked
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    conn.close()
                    raise InputError(f"{self.path}: cannot open the results DB ({exc})") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise InputError(f"{self.path}: not an SQLite file ({exc}); pick another --db") from None
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        return conn

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        # `immutable` lets SQLite read a WAL-mode file where it cannot create the -shm file (a read-only
        # directory); it is only tried when plain read-only mode fails.
        for suffix in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(uri + suffix, uri=True, check_same_thread=False, isolation_level=None)
                conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
                return conn
            except sqlite3.OperationalError:
                continue
            except sqlite3.DatabaseError as exc:
                raise InputError(f"{self.path}: not an SQLite file ({exc}); pick another --db") from None
        raise InputError(f"{self.path}: cannot open the results DB read-only (check its permissions)")

    def _check_and_migrate(self) -> None:
        conn = self._conn
        with self._lock:
            if not self.readonly:
                conn.execute("BEGIN IMMEDIATE")  # one migrator at a time; the others wait, then find it done
            try:
                current = self._schema_version()
                if current > SCHEMA_VERSION:
                    raise InputError(
                        f"{self.path}: schema version {current} is newer than this sftscope understands "
                        f"({SCHEMA_VERSION}); upgrade sftscope to read it"
                    )
                if current < SCHEMA_VERSION:
                    if self.readonly:
                        raise InputError(
                            f"{self.path}: written by an older sftscope (schema {current}); open it once "
                            "writable (e.g. `sftscope eval rescore --db ...`) to upgrade it"
                        )
                    if current == 0:
                        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    for version in range(current, SCHEMA_VERSION):
                        for statement in statements(MIGRATIONS[version]):
                            conn.execute(statement)
                        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
                missing = [t for t in TABLES if t not in self._tables()]
                if missing:
                    raise InputError(
                        f"{self.path}: the results DB is damaged (table {missing[0]} is missing); {_DAMAGED}"
                    )
            except BaseException:
                if not self.readonly:
                    conn.execute("ROLLBACK")
                raise
            if not self.readonly:
                conn.execute("COMMIT")

    def _tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _schema_version(self) -> int:
        tables = self._tables()
        if "schema_version" not in tables:
            if tables:
                listed = ", ".join(sorted(tables)[:5])
                raise InputError(
                    f"{self.path}: not an sftscope results DB (it holds other tables: {listed}); "
                    "pick another --db"
                )
            return 0
        values = [r[0] for r in self._conn.execute("SELECT version FROM schema_version")]
        if not values or not all(type(v) is int for v in values):
            raise InputError(
                f"{self.path}: table schema_version holds {values[:3]!r}, not version numbers; {_DAMAGED}"
            )
        return max(values)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite errors as one-line InputErrors: a damaged file, a locked one, a read-only one."""
        try:
            yield
        except InputError:
            raise
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" in text or "read-only" in text:
                raise InputError(
                    f"{self.path}: the results DB is read-only ({text}); use a writable --db"
                ) from None
            if "locked" in text or "busy" in text:
                raise InputError(
                    f"{self.path}: the results DB stayed locked by another process ({text})"
                ) from None
            raise InputError(f"{self.path}: the results DB cannot be read ({text}); {_DAMAGED}") from None
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: the results DB is damaged ({exc}); {_DAMAGED}") from None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    @property
    def schema_version(self) -> int:
        with self._errors(), self._lock:
            return self._schema_version()

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._errors(), self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
        """Run one statement over many rows in a single transaction; return the rows changed."""
        if self.readonly:
            raise InputError(f"{self.path}: opened read-only; nothing can be written to it")
        with self._errors(), self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    # -- runs and checkpoints ----------------------------------------------------------------------------
    def record_run(
        self, run: str, config: dict[str, Any], task_versions: dict[str, str] | None = None
    ) -> None:
        """Store the resolved config, the package version and the task versions with a run (upsert)."""
        stamp = now()
        versions = dict(task_versions or {})
        old = self._read("SELECT task_versions FROM runs WHERE run = ?", (run,))
        if old:
            versions = {**json.loads(old[0][0]), **versions}
        self._write(
            "INSERT INTO runs (run, config, package_version, task_versions, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run) DO UPDATE SET config = excluded.config, "
            "package_version = excluded.package_version, task_versions = excluded.task_versions, "
            "updated_at = excluded.updated_at",
            [(run, to_json(config), __version__, json.dumps(versions), stamp, stamp)],
        )

    def run_info(self, run: str) -> dict[str, Any] | None:
        rows = self._read(
            "SELECT config, package_version, task_versions, created_at, updated_at FROM runs WHERE run = ?",
            (run,),
        )
        if not rows:
            return None
        row = rows[0]
        return {
            "run": run,
            "config": json.loads(row[0]),
            "package_version": row[1],
            "task_versions": json.loads(row[2]),
            "created_at": row[3],
            "updated_at": row[4],
        }

    def runs(self) -> list[str]:
        rows = self._read("SELECT run FROM runs UNION SELECT DISTINCT run FROM samples ORDER BY run")
        return [r[0] for r in rows]

    def checkpoint_model(self, run: str, step: int) -> tuple[str, str] | None:
        """(model_id, path) recorded for a run's step, or None."""
        rows = self._read(
            "SELECT model_id, path FROM checkpoints WHERE run = ? AND checkpoint = ?",
            (run, checkpoint_name(step)),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def record_checkpoint(self, ref: CheckpointRef, model_id: str = "") -> str:
        """Register a checkpoint with its model identity. The identity of a step never changes: a different
        model for the same (run, step) is an InputError (see `store.guard`)."""
        from sftscope.store.guard import check_model

        check_model(self, ref, model_id)
        name = checkpoint_name(ref.step)
        self._write(
            "INSERT INTO checkpoints (run, checkpoint, step, path, model_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run, checkpoint) DO UPDATE SET path = excluded.path, "
            "model_id = CASE WHEN checkpoints.model_id = '' THEN excluded.model_id ELSE checkpoints.model_id END",
            [(ref.run, name, ref.step, str(ref.path), model_id)],
        )
        return name

    def checkpoints(self, run: str) -> list[CheckpointRef]:
        rows = self._read("SELECT run, step, path FROM checkpoints WHERE run = ? ORDER BY step", (run,))
        return [CheckpointRef(run=r[0], step=r[1], path=r[2]) for r in rows]

    # -- samples -----------------------------------------------------------------------------------------
    def stored(
        self, run: str, checkpoint: str
    ) -> dict[tuple[str, str, str], dict[tuple[str, int], tuple[str, str]]]:
        """Everything stored for one checkpoint, in one query: (task, task_version, protocol) ->
        {(example_id, sample_idx): (prompt_hash, sampling JSON)}. Callers check what produced each row."""
        out: dict[tuple[str, str, str], dict[tuple[str, int], tuple[str, str]]] = {}
        for task, version, protocol, example_id, idx, prompt_hash, sampling in self._read(
            "SELECT task, task_version, protocol, example_id, sample_idx, prompt_hash, sampling FROM samples "
            "WHERE run = ? AND checkpoint = ?",
            (run, checkpoint),
        ):
            out.setdefault((task, version, protocol), {})[(example_id, idx)] = (prompt_hash, sampling)
        return out

    def add_samples(self, records: list[SampleRecord]) -> int:
        """Insert records in one transaction; rows whose key is already stored are left as they are.

        Returns the number of new rows.
        """
        return self._write(
            f"INSERT OR IGNORE INTO samples ({SAMPLE_COLUMNS}) VALUES ({', '.join('?' * N_COLUMNS)})",
            [to_row(r) for r in records],
        )

    def upsert_samples(self, records: list[SampleRecord]) -> int:
        """Insert records, replacing the verdict of rows already stored under the same key with the same
        completion (rescoring into another protocol again). A row generated under that key keeps its own
        verdict: a verdict belongs to its completion."""
        return self._write(
            f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES ({', '.join('?' * N_COLUMNS)}) "
            "ON CONFLICT (run, checkpoint, task, task_version, protocol, example_id, sample_idx) DO UPDATE SET "
            "extracted = excluded.extracted, correct = excluded.correct, score = excluded.score, "
            "details = excluded.details, scorer = excluded.scorer, error = excluded.error "
            "WHERE samples.completion = excluded.completion",
            [to_row(r) for r in records],
        )

    def update_verdicts(self, records: list[SampleRecord]) -> int:
        """Overwrite the verdict of stored rows (rescoring); the generation is untouched."""
        return self._write(
            "UPDATE samples SET extracted = ?, correct = ?, score = ?, details = ?, scorer = ?, error = ? "
            "WHERE run = ? AND checkpoint = ? AND task = ? AND task_version = ? AND protocol = ? "
            "AND example_id = ? AND sample_idx = ?",
            [(*verdict_columns(r), *r.key) for r in records],
        )

    def samples(
        self,
        run: str | None = None,
        checkpoint: str | None = None,
        task: str | None = None,
        protocol: str | None = None,
    ) -> list[SampleRecord]:
        """Stored rows, filtered by any of run/checkpoint/task/protocol, in key order."""
        clauses, params = [], []
        for column, value in (
            ("run", run),
            ("checkpoint", checkpoint),
            ("task", task),
            ("protocol", protocol),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT {SAMPLE_COLUMNS} FROM samples {where} "
            "ORDER BY run, step, task, task_version, protocol, example_id, sample_idx",
            tuple(params),
        )
        return [to_record(r) for r in rows]
