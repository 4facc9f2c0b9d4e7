"""The SQLite results store: schema, idempotent writes, resume keys, migrations and kill safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SampleRecord
from sftscope.rundir import checkpoint_name
from sftscope.store.db import MIGRATIONS, SCHEMA_VERSION, Store


def make_record(example_id: str = "e0", sample_idx: int = 0, correct: bool = True, **over) -> SampleRecord:
    fields = dict(
        run="r",
        checkpoint="step-0",
        step=0,
        task="math500",
        task_version="1",
        domain="in_domain",
        example_id=example_id,
        sample_idx=sample_idx,
        prompt="What is 1+1?",
        gold="2",
        completion="\\boxed{2}",
        extracted="2",
        correct=correct,
        score=float(correct),
        n_tokens=5,
        finish_reason="stop",
        sampling={"temperature": 0.6},
    )
    fields.update(over)
    return SampleRecord(**fields)


def test_add_samples_is_idempotent_and_round_trips(tmp_path):
    with Store(tmp_path / "r.db") as store:
        first = [make_record("e0", 0), make_record("e0", 1, correct=False), make_record("e1", 0)]
        assert store.add_samples(first) == 3
        # The same keys again (even with a different completion) change nothing.
        assert store.add_samples([make_record("e0", 0, completion="other", correct=False)]) == 0
        rows = store.samples(run="r")
        assert [r.key for r in rows] == [r.key for r in first]
        assert rows[0].completion == "\\boxed{2}" and rows[0].correct is True
        assert rows[1].correct is False and rows[1].sampling == {"temperature": 0.6}
        stored = store.stored("r", "step-0")
        assert set(stored) == {("math500", "1", "strict")}
        assert set(stored[("math500", "1", "strict")]) == {("e0", 0), ("e0", 1), ("e1", 0)}
        assert store.samples(task="other") == []
        # The protocol is part of the key: the same example under "paper" is another row.
        assert store.add_samples([make_record("e0", 0, protocol="paper")]) == 1
        assert len(store.samples(protocol="paper")) == 1


def test_runs_checkpoints_and_config(tmp_path):
    with Store(tmp_path / "r.db") as store:
        store.record_run("r", {"model": "m", "limit": 3}, {"math500": "1"})
        store.record_run("r", {"model": "m", "limit": 4}, {"aime24": "1"})
        info = store.run_info("r")
        assert info["config"] == {"model": "m", "limit": 4}
        assert info["task_versions"] == {"math500": "1", "aime24": "1"}
        assert info["package_version"]
        ref = CheckpointRef(run="r", step=10, path="/x/step-10")
        assert store.record_checkpoint(ref, "sha256:aa") == checkpoint_name(10) == "step-10"
        store.record_checkpoint(CheckpointRef(run="r", step=0, path="/base"))
        assert [c.step for c in store.checkpoints("r")] == [0, 10]
        assert store.checkpoint_model("r", 10) == ("sha256:aa", "/x/step-10")
        with pytest.raises(InputError, match="another model"):
            store.record_checkpoint(CheckpointRef(run="r", step=10, path="/y"), "sha256:bb")
        assert store.runs() == ["r"]
        store.record_run("r", {"score": float("nan")})  # stored as valid JSON (null), never NaN
        assert store.run_info("r")["config"] == {"score": None}


def test_update_verdicts_rewrites_only_the_verdict(tmp_path):
    with Store(tmp_path / "r.db") as store:
        store.add_samples([make_record(correct=False)])
        fixed = make_record(correct=True, completion="ignored", extracted="2", error=None)
        assert store.update_verdicts([fixed]) == 1
        row = store.samples()[0]
        assert row.correct is True and row.completion == "\\boxed{2}"


def test_a_nonfinite_score_is_stored_as_zero_by_insert_and_by_rescore_alike(tmp_path):
    # a bf16 reward model can return NaN; the score column is NOT NULL and SQLite stores NaN as NULL
    with Store(tmp_path / "r.db") as store:
        assert store.add_samples([make_record(score=float("nan"))]) == 1
        assert store.update_verdicts([make_record(score=float("inf"), extracted="x")]) == 1
        row = store.samples()[0]
        assert (row.score, row.extracted) == (0.0, "x")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(InputError, match="newer"):
        Store(path)


def test_reopening_does_not_migrate_twice(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as store:
        store.add_samples([make_record()])
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.samples()) == 1
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_not_a_database_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite, just text that is long enough to have a header" * 10)
    with pytest.raises(InputError, match="not an SQLite"):
        Store(bad)


def test_kill_mid_write_keeps_whole_batches(tmp_path):
    """A process killed inside add_samples leaves complete batches only; the DB opens and resumes."""
    path = tmp_path / "r.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from sftscope.store.db import Store
        from tests.unit.test_store import make_record
        store = Store({str(path)!r})
        store.add_samples([make_record(f"a{{i}}") for i in range(50)])
        real = store._conn.executemany
        def dying(sql, rows):
            rows = list(rows)
            real(sql, rows[:10])  # half a batch written inside the open transaction
            os.kill(os.getpid(), signal.SIGKILL)
        store._conn = type("C", (), {{"__getattr__": lambda s, n: getattr(real.__self__, n),
                                      "executemany": staticmethod(dying)}})()
        store.add_samples([make_record(f"b{{i}}") for i in range(50)])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(_repo_root()), capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    with Store(path) as store:
        ids = {r.example_id for r in store.samples()}
    assert ids == {f"a{i}" for i in range(50)}


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_a_v1_database_migrates_with_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO samples VALUES ('r','step-0',0,'hexphi','1','safety','c1-0',0,'h','p',NULL,'I cannot',"
            "'i cannot',1,1.0,3,'stop','{\"temperature\": 0.6}',NULL,'2026-01-01')"
        )
    with Store(path) as store:
        (row,) = store.samples()
        assert (row.protocol, row.metric, row.scorer, row.model_id) == ("strict", "refusal_proxy", {}, "")
        assert row.completion == "I cannot" and row.correct
        assert store.schema_version == SCHEMA_VERSION == 2


def _open(path, barrier, errors):
    try:
        barrier.wait()
        with Store(path) as store:
            store.add_samples([make_record()])
    except Exception as exc:  # collected and asserted on below
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_fresh_store_at_once_migrate_it_once(tmp_path):
    import multiprocessing as mp

    # forkserver, not fork: forking a test process that holds threads (other tests' servers) can deadlock.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["sftscope.store.db"])
    errors = ctx.Queue()
    for round_ in range(10):
        path = tmp_path / f"fresh{round_}.db"
        barrier = ctx.Barrier(3)
        procs = [ctx.Process(target=_open, args=(path, barrier, errors)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        with Store(path) as store:
            assert store.schema_version == SCHEMA_VERSION and len(store.samples()) == 1
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []


def test_another_applications_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"not an sftscope results DB.*users"):
        Store(path)
    with pytest.raises(InputError, match="not an sftscope results DB"):
        Store(path, readonly=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "damage, message",
    [
        ("DROP TABLE samples", "table samples is missing"),
        ("UPDATE schema_version SET version = 'two'", "not version numbers"),
    ],
)
def test_damaged_databases_are_clear_errors(tmp_path, damage, message):
    path = tmp_path / "r.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    with pytest.raises(InputError, match=message):
        Store(path)


def test_a_corrupt_page_is_a_clear_error(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as store:
        store.add_samples([make_record(f"e{i}", completion="x" * 2000) for i in range(200)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, min(len(data), 40 * page), page):
        data[offset : offset + 64] = b"\xff" * 64  # scribble over page headers of the samples b-tree
    path.write_bytes(bytes(data))
    with (
        pytest.raises(InputError, match=r"r\.db: the results DB (is damaged|cannot be read)"),
        Store(path) as store,
    ):
        store.samples()


def test_read_only_store_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as store:
        store.add_samples([make_record()])
    with Store(path, readonly=True) as store:
        assert len(store.samples()) == 1
        with pytest.raises(InputError, match="opened read-only"):
            store.add_samples([make_record("e9")])
    with pytest.raises(InputError, match="no results DB"):
        Store(tmp_path / "missing.db", readonly=True)


def test_for_reading_opens_read_only_when_it_cannot_write(tmp_path, monkeypatch):
    """report, compare and rescore use Store.for_reading: on a file they cannot write (a read-only file
    system, someone else's file) they read, and never write."""
    import sftscope.store.db as db

    path = tmp_path / "r.db"
    with Store(path) as store:
        store.add_samples([make_record()])
    with Store.for_reading(path) as store:
        assert not store.readonly
    monkeypatch.setattr(db.os, "access", lambda p, mode: False)
    with Store.for_reading(path) as store:
        assert store.readonly and len(store.samples()) == 1
