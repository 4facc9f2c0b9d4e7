"""A sweep killed with SIGKILL at a random point and restarted stores exactly the rows of an uninterrupted one.

Real pieces throughout: a tiny random Qwen3 (tests/eval_tiny_model.py), the HF backend, the runner, the
SQLite store and two lab tasks. The kill lands after a random number of stored rows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sftscope.eval.config import BackendOptions, EvalConfig, SweepConfig
from sftscope.eval.sweep import run_sweep

pytestmark = pytest.mark.slow

TASKS = "countdown,products"
LIMIT = 8
MAX_NEW = 12
BATCH = 2
STEPS = (0, 3, 6)  # base + two checkpoints
TOTAL = len(STEPS) * 2 * LIMIT


def _tiny_model_builder():
    spec = importlib.util.spec_from_file_location(
        "eval_tiny_model", Path(__file__).parents[1] / "eval_tiny_model.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    build = _tiny_model_builder()
    root = tmp_path_factory.mktemp("sweep_resume")
    run = root / "tiny-run"
    build(root / "base", seed=0)
    for step in STEPS[1:]:
        folder = build(run / "checkpoints" / f"step-{step}", seed=step)
        (folder / "sftscope.json").write_text(
            json.dumps({"step": step, "epoch": 0.0, "tokens_seen": 0, "loss": 0.0})
        )
    (run / "config.yaml").write_text(f"model: {root / 'base'}\n")
    return run


def count_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0


def stored_keys(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT run, checkpoint, step, task, task_version, example_id, sample_idx FROM samples"
        ).fetchall()


def sweep_config(run: Path, db: Path) -> SweepConfig:
    evaluation = EvalConfig(
        suite=TASKS,
        db=str(db),
        limit=LIMIT,
        max_new_tokens=MAX_NEW,
        backend_options=BackendOptions(batch_size=BATCH),
    )
    return SweepConfig(target=str(run), eval=evaluation)


def test_killed_sweep_resumes_to_the_same_rows(run_dir, tmp_path):
    seed = random.randrange(10**6)
    kill_after = random.Random(seed).randint(1, TOTAL // 2)
    killed_db = tmp_path / "killed.db"
    cmd = [
        sys.executable,
        "-m",
        "sftscope.cli.main",
        "sweep",
        str(run_dir),
        "--tasks",
        TASKS,
        "--db",
        str(killed_db),
        "--limit",
        str(LIMIT),
        "--max-new-tokens",
        str(MAX_NEW),
        "--batch-size",
        str(BATCH),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while count_rows(killed_db) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    at_kill = count_rows(killed_db)
    assert proc.returncode == -signal.SIGKILL, (
        f"the sweep ended before the kill (seed {seed}): {err.decode()[-500:]}"
    )
    assert 0 < at_kill < TOTAL, f"seed {seed}: killed with {at_kill} of {TOTAL} rows"

    resumed = run_sweep(sweep_config(run_dir, killed_db), show_progress=False)
    assert resumed.new_samples == TOTAL - at_kill, f"seed {seed}: the restart regenerated stored rows"

    clean_db = tmp_path / "clean.db"
    clean = run_sweep(sweep_config(run_dir, clean_db), show_progress=False)
    assert clean.new_samples == TOTAL

    after_kill, uninterrupted = stored_keys(killed_db), stored_keys(clean_db)
    assert len(after_kill) == len(set(after_kill)) == TOTAL, f"seed {seed}: duplicates or missing rows"
    assert set(after_kill) == set(uninterrupted), f"seed {seed}: key sets differ"
    assert {k[2] for k in after_kill} == set(STEPS)
