"""The sweep over fake checkpoint dirs with a fake backend: real runner, real store, no torch."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import struct
from pathlib import Path

import pytest

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.eval import registry
from sftscope.eval.backends import base as backends
from sftscope.eval.config import EvalConfig, SweepConfig
from sftscope.eval.spec import Example, TaskProtocol, TaskSpec
from sftscope.eval.sweep import run_sweep
from sftscope.records import Completion, SamplingParams, Verdict
from sftscope.rundir import RunDir
from sftscope.store.db import Store

N_EXAMPLES = 5


def _task(name: str, n_samples: int = 1) -> TaskSpec:
    def load(limit, data_path):
        return [Example(id=f"{name}-{i}", gold=str(i)) for i in range(N_EXAMPLES)]

    def protocol(name: str, prefix: str) -> TaskProtocol:
        return TaskProtocol(
            name,
            lambda ex: [{"role": "user", "content": f"{prefix}{ex.id}"}],
            SamplingParams(temperature=0.0, max_new_tokens=8),
            n_samples=n_samples,
            score=lambda ex, text, ctx: Verdict(text.endswith(ex.gold), text[-1:]),
        )

    return TaskSpec(
        name=name,
        domain="in_domain" if name == "fake_a" else "cross_domain",
        version="1",
        loader=load,
        protocols=(protocol("strict", "q"), protocol("paper", "Q")),
    )


class FakeBackend:
    name = "fake"

    def __init__(self, model: str, log: list):
        self.model = model
        log.append(model)

    def generate(self, prompts, params, seeds=None):
        return [
            [Completion(f"{self.model}:{p[0]['content'][-1]}", 3) for _ in range(params.n)] for p in prompts
        ]

    def describe(self):
        return {"backend": "fake", "model": self.model}


@pytest.fixture
def loads(monkeypatch):
    """Fake tasks registered as `fake_a,fake_b`; returns the list of model paths the backend loaded."""
    monkeypatch.setitem(registry.TASKS, "fake_a", _task("fake_a"))
    monkeypatch.setitem(registry.TASKS, "fake_b", _task("fake_b", n_samples=2))
    log: list[str] = []
    monkeypatch.setattr(backends, "make_backend", lambda name, model, **opts: FakeBackend(model, log))
    return log


def write_checkpoint(run_dir: Path, step: int, *, weights: bool = True) -> Path:
    folder = run_dir / "checkpoints" / f"step-{step}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if weights:
        header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    (folder / "sftscope.json").write_text(json.dumps({"step": step}))
    return folder


def make_run(tmp_path: Path, steps=(10, 20)) -> Path:
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "config.yaml").write_text("model: some/base\nmax_steps: 20\n")
    for step in steps:
        write_checkpoint(run, step)
    return run


def config(run: Path, db: str | None = None, **kw) -> SweepConfig:
    return SweepConfig(target=str(run), eval=EvalConfig(suite="fake_a,fake_b", db=db), **kw)


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT run, checkpoint, step, task, example_id, sample_idx FROM samples"
        ).fetchall()


PER_CHECKPOINT = N_EXAMPLES * 1 + N_EXAMPLES * 2


def test_sweep_evaluates_base_and_every_checkpoint_then_resumes_for_free(tmp_path, loads):
    run = make_run(tmp_path)
    summary = run_sweep(config(run), show_progress=False)
    assert summary.evaluated == [0, 10, 20]
    assert summary.new_samples == 3 * PER_CHECKPOINT
    assert loads == ["some/base", str(run / "checkpoints" / "step-10"), str(run / "checkpoints" / "step-20")]
    stored = rows(run / "sftscope.db")
    assert len(stored) == len(set(stored)) == 3 * PER_CHECKPOINT
    assert {r[1] for r in stored} == {"step-0", "step-10", "step-20"}
    with Store(run / "sftscope.db") as store:
        assert [c.step for c in store.checkpoints("myrun")] == [0, 10, 20]
        info = store.run_info("myrun")
    assert info["config"]["model"] == "some/base"
    assert info["config"]["sweep"]["eval"]["suite"] == "fake_a,fake_b"

    loads.clear()
    again = run_sweep(config(run), show_progress=False)
    assert (again.evaluated, again.cached, again.new_samples) == ([], [0, 10, 20], 0)
    assert loads == []  # a fully stored checkpoint is never loaded
    assert rows(run / "sftscope.db") == stored


def test_partial_checkpoint_is_skipped_with_a_warning(tmp_path, loads):
    run = make_run(tmp_path, steps=(10,))
    write_checkpoint(run, 20, weights=False)
    warnings: list[str] = []
    summary = run_sweep(config(run), show_progress=False, warn=warnings.append)
    assert summary.evaluated == [0, 10]
    assert 20 in summary.skipped and "no weights" in summary.skipped[20]
    assert any("step 20" in w for w in warnings)
    assert not [r for r in rows(run / "sftscope.db") if r[2] == 20]


def test_steps_selection_and_db_option(tmp_path, loads):
    run = make_run(tmp_path, steps=(10, 20, 40))
    db = tmp_path / "elsewhere.db"
    summary = run_sweep(config(run, steps="0,last", db=str(db)), show_progress=False)
    assert summary.evaluated == [0, 40]
    assert {r[2] for r in rows(db)} == {0, 40}
    assert not (run / "sftscope.db").exists()


def test_clear_errors(tmp_path, loads, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no checkpoints found"):
        run_sweep(config(empty), show_progress=False)
    with pytest.raises(InputError, match="run directory not found"):
        run_sweep(config(tmp_path / "missing"), show_progress=False)
    run = make_run(tmp_path)
    with pytest.raises(InputError, match="selects none"):
        run_sweep(config(run, steps="7"), show_progress=False)

    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (999)")
    with pytest.raises(InputError, match="newer"):
        run_sweep(config(run, db=str(newer)), show_progress=False)

    def broken(name, model, **opts):
        raise OSError("Unable to load weights from checkpoint file")

    monkeypatch.setattr(backends, "make_backend", broken)
    with pytest.raises(InputError, match="cannot load checkpoint step 0"):
        run_sweep(config(run), show_progress=False)


def test_watch_waits_for_partial_checkpoints_and_stops_when_training_finishes(tmp_path, loads):
    run = make_run(tmp_path, steps=(10,))
    run.joinpath("config.yaml").write_text("model: some/base\nmax_steps: 30\n")
    partial = write_checkpoint(run, 20, weights=False)
    polls = []

    def sleep(seconds):
        # Training goes on between polls: first step-20 finishes saving, then the run ends.
        polls.append(seconds)
        if len(polls) == 1:
            header = json.dumps({}).encode()
            (partial / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
        elif len(polls) == 2:
            write_checkpoint(run, 30)
            RunDir(run).mark_finished({"step": 30})  # written by the trainer after its last checkpoint
        assert len(polls) < 5, "the watch loop should have stopped"

    summary = run_sweep(config(run, watch=True, poll_seconds=7), show_progress=False, sleep=sleep)
    assert summary.evaluated == [0, 10, 20, 30]
    assert polls == [7, 7]
    assert summary.skipped == {}


def test_watch_idle_timeout(tmp_path, loads):
    run = make_run(tmp_path, steps=(10,))
    run.joinpath("config.yaml").write_text("model: some/base\nmax_steps: 100\n")
    summary = run_sweep(config(run, watch=True, idle_timeout=0), show_progress=False, sleep=lambda s: None)
    assert summary.evaluated == [0, 10]


def test_hub_repo_downloads_each_step_lazily(tmp_path, loads, monkeypatch):
    import huggingface_hub

    files = [
        "step10/config.json",
        "step10/model.safetensors",
        "step20/config.json",
        "step20/model.safetensors",
    ]
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo: files)
    fetched = []

    def snapshot_download(repo_id, allow_patterns):
        fetched.append(allow_patterns)
        return str(tmp_path / "cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    summary = run_sweep(
        config(Path("someone/released-run"), db=str(tmp_path / "hub.db"), base="some/base", steps="0,20"),
        show_progress=False,
    )
    assert summary.run == "someone/released-run"
    assert summary.evaluated == [0, 20]
    assert fetched == [["step20/*"]]
    assert loads == ["some/base", str(tmp_path / "cache" / "step20")]


def test_cli_sweep(tmp_path, loads, capsys):
    run = make_run(tmp_path)
    assert main(["sweep", str(run), "--tasks", "fake_a,fake_b", "--no-progress", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "evaluated steps 0, 10, 20" in out
    assert len(rows(run / "sftscope.db")) == 3 * (3 + 3 * 2)
    assert main(["sweep", str(tmp_path / "nope"), "--tasks", "fake_a"]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["sweep", str(run), "--tasks", "fake_a", "--steps", "x"]) == 2


def test_cli_sweep_takes_every_eval_option(tmp_path, loads):
    run = make_run(tmp_path, steps=(10,))
    args = ["sweep", str(run), "--tasks", "fake_b", "--no-progress", "--protocol", "paper", "--limit", "2"]
    args += ["--temperature", "0.3", "--seed", "5", "--n-samples", "3", "--max-new-tokens", "4"]
    assert main(args) == 0
    with Store(run / "sftscope.db") as store:
        samples = store.samples()
        config = store.run_info("myrun")["config"]["sweep"]["eval"]
    assert len(samples) == 2 * 2 * 3 and {r.protocol for r in samples} == {"paper"}
    assert {
        (r.sampling["temperature"], r.sampling["seed"], r.sampling["max_new_tokens"]) for r in samples
    } == {(0.3, 5, 4)}
    assert samples[0].prompt.startswith("Q") and config["protocol"] == "paper"
    assert main(["sweep", str(run), "--tasks", "fake_b", "--protocol", "exact", "--no-progress"]) == 2


def test_cli_help_describes_options(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--suite",
        "--tasks",
        "--backend",
        "--steps",
        "--base",
        "--db",
        "--watch",
        "--poll-seconds",
        "--idle-timeout",
        "--limit",
        "--protocol",
        "--judge",
        "--data-path",
        "--temperature",
        "--seed",
    ):
        assert flag in text


def test_each_backend_is_closed_and_released_before_the_next_loads(tmp_path, monkeypatch, loads):
    import weakref

    events, previous = [], []

    class ClosingBackend(FakeBackend):
        def close(self):
            events.append(f"close {self.model}")

    def make(name, model, **opts):
        assert all(ref() is None for ref in previous), "the last checkpoint's backend is still alive"
        events.append(f"load {model}")
        backend = ClosingBackend(model, [])
        previous.append(weakref.ref(backend))
        return backend

    monkeypatch.setattr(backends, "make_backend", make)
    run = make_run(tmp_path)
    run_sweep(config(run), show_progress=False)
    step10, step20 = (str(run / "checkpoints" / f"step-{s}") for s in (10, 20))
    assert events == [
        "load some/base",
        "close some/base",
        f"load {step10}",
        f"close {step10}",
        f"load {step20}",
        f"close {step20}",
    ]


def test_dry_run_plans_every_checkpoint_without_loading_or_writing(tmp_path, loads, capsys):
    run = make_run(tmp_path)
    assert main(["sweep", str(run), "--tasks", "fake_a,fake_b", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "step      0: missing fake_a 5, fake_b 10" in text and "max new" in text
    assert loads == [] and not (run / "sftscope.db").exists(), "nothing loaded, no DB created"

    run_sweep(config(run, steps="0"), show_progress=False)
    write_checkpoint(run, 30, weights=False)  # still being written
    loads.clear()
    assert main(["sweep", str(run), "--tasks", "fake_a,fake_b", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["run"] == "myrun" and plan["db"] == str(run / "sftscope.db")
    assert plan["tasks"]["fake_b"]["examples"] == 5 and plan["tasks"]["fake_b"]["samples"] == 10
    steps = {c["step"]: c for c in plan["checkpoints"]}
    assert steps[0]["missing"] == {"fake_a": 0, "fake_b": 0} and steps[0]["max_generated_tokens"] == 0
    assert steps[10]["missing"] == {"fake_a": 5, "fake_b": 10}
    # Greedy: fake_b's two samples per example are one generation of at most 8 tokens.
    assert steps[10]["max_generated_tokens"] == 5 * 8 + 5 * 8
    assert steps[30]["ready"] is False and "weights" in steps[30]["problem"]
    assert plan["max_generated_tokens"] == 2 * 80
    assert loads == []
    assert main(["sweep", str(run), "--tasks", "fake_a", "--json"]) == 2
    assert "--json goes with --dry-run" in capsys.readouterr().err


def test_a_short_task_is_warned_about_once(tmp_path, loads, monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(registry.TASKS, "fake_a", replace(_task("fake_a"), size=500))
    warnings: list[str] = []
    run_sweep(config(make_run(tmp_path)), show_progress=False, warn=warnings.append)
    assert warnings == [
        "task fake_a: 5 examples loaded, but the benchmark holds 500; check the data file (--data-path) or "
        "the download"
    ]


def test_data_parallel_sweep_stores_the_same_rows(tmp_path, loads, monkeypatch):
    """Two worker processes (forked here, so that they see the fake tasks and backend) over one store."""
    from sftscope.eval import dataparallel
    from sftscope.eval.config import BackendOptions

    monkeypatch.setattr(dataparallel, "START_METHOD", "fork")
    run = make_run(tmp_path)

    def sweep(db, n):
        ev = EvalConfig(
            suite="fake_a,fake_b", db=str(db), backend_options=BackendOptions(device="cpu", data_parallel=n)
        )
        return run_sweep(SweepConfig(target=str(run), eval=ev), show_progress=False)

    parallel = sweep(tmp_path / "two.db", 2)
    assert loads == [], "the workers loaded the models, not this process"
    single = sweep(tmp_path / "one.db", 1)
    assert parallel.new_samples == single.new_samples == 3 * PER_CHECKPOINT

    def stored(db):
        with Store(db) as store:
            return [(r.checkpoint, r.task, r.example_id, r.sample_idx, r.completion) for r in store.samples()]

    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")


def test_store_round_trips_per_checkpoint(tmp_path, loads, monkeypatch):
    """The store answers "what is missing" once per checkpoint: a stored checkpoint costs one query; one
    with work costs the plan's query, the identity check and record, and a write per batch."""
    calls: list[str] = []
    real_read, real_write = Store._read, Store._write
    monkeypatch.setattr(
        Store, "_read", lambda self, sql, params=(): calls.append("r") or real_read(self, sql, params)
    )
    monkeypatch.setattr(
        Store, "_write", lambda self, sql, rows: calls.append("w") or real_write(self, sql, rows)
    )
    run = make_run(tmp_path, steps=(10, 20))
    run_sweep(config(run), show_progress=False)
    per_sweep = 2  # record_run: read the run's task versions, write the run
    batches = 2  # fake_a and fake_b each fit in one batch of 64
    assert len(calls) == per_sweep + 3 * (1 + 2 + batches)
    calls.clear()
    again = run_sweep(config(run), show_progress=False)
    assert again.cached == [0, 10, 20] and len(calls) == per_sweep + 3 * 1


def test_each_task_loads_its_examples_once_per_sweep(tmp_path, loads, monkeypatch):
    opened: list[str] = []
    for name in ("fake_a", "fake_b"):
        spec = registry.TASKS[name]

        def counting(limit, data_path, _name=name, _load=spec.loader):
            opened.append(_name)
            return _load(limit, data_path)

        monkeypatch.setitem(registry.TASKS, name, dataclasses.replace(spec, loader=counting))
    run = make_run(tmp_path, steps=(10, 20))
    summary = run_sweep(config(run), show_progress=False)
    assert summary.evaluated == [0, 10, 20] and sorted(opened) == ["fake_a", "fake_b"]
