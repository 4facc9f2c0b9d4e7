"""The SQLite results store: schema, idempotent writes, resume keys, migrations and kill safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SampleRecord
from sftscope.store.db import SCHEMA_VERSION, Store, checkpoint_name


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
        assert store.existing_keys("r", "step-0", "math500", "1") == {("e0", 0), ("e0", 1), ("e1", 0)}
        assert store.existing_keys("r", "step-0", "math500", "2") == set()
        assert store.samples(task="other") == []


def test_runs_checkpoints_tasks_and_config(tmp_path):
    with Store(tmp_path / "r.db") as store:
        store.record_run("r", {"model": "m", "limit": 3}, {"math500": "1"})
        store.record_run("r", {"model": "m", "limit": 4}, {"aime24": "1"})
        info = store.run_info("r")
        assert info["config"] == {"model": "m", "limit": 4}
        assert info["task_versions"] == {"math500": "1", "aime24": "1"}
        assert info["package_version"]
        ref = CheckpointRef(run="r", step=10, path="/x/step-10")
        assert store.record_checkpoint(ref) == checkpoint_name(ref) == "step-10"
        store.record_checkpoint(CheckpointRef(run="r", step=0, path="/base"))
        assert [c.step for c in store.checkpoints("r")] == [0, 10]
        store.record_task("math500", "1", "in_domain", 3, "avg@k", {"temperature": 0.6})
        assert store.tasks()[0]["n_samples"] == 3
        assert store.runs() == ["r"]


def test_update_verdicts_rewrites_only_the_verdict(tmp_path):
    with Store(tmp_path / "r.db") as store:
        store.add_samples([make_record(correct=False)])
        fixed = make_record(correct=True, completion="ignored", extracted="2", error=None)
        assert store.update_verdicts([fixed]) == 1
        row = store.samples()[0]
        assert row.correct is True and row.completion == "\\boxed{2}"


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
