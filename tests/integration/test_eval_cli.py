"""`sftscope eval run|list|score|rescore` end to end with a tiny random model (CPU, offline)."""

from __future__ import annotations

import json

import pytest

from eval_tiny_model import build_tiny_model
from sftscope.cli.main import main
from sftscope.store.db import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


def test_run_offline_suite_fills_the_db_and_resumes(tiny, tmp_path, capsys):
    db = tmp_path / "results.db"
    args = [
        "eval",
        "run",
        "--model",
        tiny,
        "--suite",
        "offline",
        "--backend",
        "hf",
        "--db",
        str(db),
        "--run",
        "tiny",
        "--limit",
        "2",
        "--max-new-tokens",
        "8",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "generated 16 samples" in out and "95% CI" in out
    for task in ("countdown", "basic_arithmetic", "mini_sudoku", "humaneval"):
        assert task in out
    with Store(db) as store:
        rows = store.samples(run="tiny")
        assert len(rows) == 16 and {r.step for r in rows} == {0}
        assert all(r.n_tokens == 8 and r.finish_reason == "length" for r in rows)
        info = store.run_info("tiny")
        assert (
            info["config"]["backend_describe"]["backend"] == "hf"
            and info["task_versions"]["countdown"] == "1"
        )
        assert [c.path for c in store.checkpoints("tiny")] == [tiny]
    assert main([*args, "--tasks", "chain_sum"]) == 0
    out = capsys.readouterr().out
    assert "generated 2 samples" in out and "16 already stored" in out


def test_run_bad_inputs_exit_2(tiny, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    assert main(["eval", "run", "--model", tiny, "--suite", "nightly", "--db", db]) == 2
    assert "unknown task or suite 'nightly'" in capsys.readouterr().err
    assert main(["eval", "run", "--model", str(tmp_path / "no" / "model"), "--suite", "lab", "--db", db]) == 2
    assert "model directory not found" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "run",
                "--model",
                tiny,
                "--tasks",
                "math500",
                "--db",
                db,
                "--data-path",
                f"math500={tmp_path / 'MATH-500.jsonl'}",
            ]
        )
        == 2
    )
    assert "data file not found" in capsys.readouterr().err
    assert main(["eval", "run", "--model", tiny, "--tasks", "hexphi", "--db", db]) == 2
    assert "scored by a judge: pass --judge MODEL" in capsys.readouterr().err  # paper: checked first
    assert (
        main(["eval", "run", "--model", tiny, "--tasks", "hexphi", "--protocol", "strict", "--db", db]) == 2
    )
    assert "gated" in capsys.readouterr().err
    assert main(["eval", "run", "--model", tiny, "--db", db]) == 2
    assert (
        main(
            [
                "eval",
                "run",
                "--model",
                "m",
                "--tasks",
                "math500",
                "--backend",
                "openai",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--retries",
                "2",
                "--db",
                db,
                "--data-path",
                f"math500={_math_file(tmp_path)}",
            ]
        )
        == 2
    )
    assert "unreachable after 2 tries" in capsys.readouterr().err


def _math_file(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "answer": "2", "unique_id": "a"}) + "\n")
    return path


def test_list(capsys):
    assert main(["eval", "list"]) == 0
    out = capsys.readouterr().out
    assert "math500" in out and "in_domain" in out and "paper" in out and "hexphi" in out and "suites:" in out


def test_score_file(tmp_path, capsys):
    rows = [
        {"gold": "\\frac{1}{2}", "completion": "<think>x</think>so \\boxed{0.5}"},
        {"gold": "3", "completion": "\\boxed{4}", "id": "b"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert main(["eval", "score", "--verifier", "math", str(src), "--out", str(out)]) == 0
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in scored] == [True, False] and scored[1]["id"] == "b"
    assert {"extracted", "reason", "score"} <= set(scored[0])
    countdown = tmp_path / "cd.jsonl"
    countdown.write_text(
        json.dumps({"completion": "\\boxed{2*3+1}", "numbers": [1, 2, 3], "target": 7}) + "\n"
    )
    assert main(["eval", "score", "--verifier", "countdown", str(countdown), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["correct"] is True
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n{oops\n")
    assert main(["eval", "score", "--verifier", "math", str(bad), "--out", str(out)]) == 2
    assert "line 2" in capsys.readouterr().err
    assert main(["eval", "score", "--verifier", "astrology", str(src), "--out", str(out)]) == 2


def test_rescore_fixes_stored_verdicts(tmp_path, capsys):
    from sftscope.records import SampleRecord

    db = tmp_path / "r.db"

    def row(i, task, gold, completion, domain="in_domain"):
        return SampleRecord(
            run="r",
            checkpoint="step-0",
            step=0,
            task=task,
            task_version="1",
            domain=domain,
            example_id=f"e{i}",
            sample_idx=0,
            prompt="p",
            gold=gold,
            completion=completion,
            extracted=None,
            correct=False,
            score=0.0,
            n_tokens=1,
        )

    with Store(db) as store:
        store.add_samples(
            [
                row(0, "math500", "\\frac{1}{2}", "\\boxed{0.5}"),
                row(1, "math500", "2", "\\boxed{3}"),
                row(2, "countdown", json.dumps({"numbers": [1, 2, 3], "target": 7}), "\\boxed{1+2*3}"),
            ]
        )
    assert main(["eval", "rescore", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "math500" in out and "changed     1" in out
    with Store(db) as store:
        assert [r.correct for r in store.samples(task="math500")] == [True, False]
        assert store.samples(task="countdown")[0].correct is True
    assert main(["eval", "rescore", "--db", str(tmp_path / "none.db")]) == 2


def _rows(db):
    with Store(db) as store:
        return [
            (r.task, r.example_id, r.sample_idx, r.completion, r.n_tokens, r.finish_reason, r.sampling)
            for r in store.samples()
        ]


def test_data_parallel_workers_store_what_one_engine_stores(tiny, tmp_path, capsys, monkeypatch):
    """Two spawned worker processes (CPU, one thread each) over one store write the rows one process does,
    sampling included: each sample has its own seed, and the examples are split by a hash of their id."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    base = ["eval", "run", "--model", tiny, "--tasks", "chain_sum,basic_arithmetic", "--limit", "4"]
    base += [
        "--max-new-tokens",
        "6",
        "--temperature",
        "1.0",
        "--n-samples",
        "2",
        "--device",
        "cpu",
        "--run",
        "t",
    ]
    assert main([*base, "--db", str(tmp_path / "one.db")]) == 0
    assert main([*base, "--db", str(tmp_path / "two.db"), "--data-parallel", "2"]) == 0
    out = capsys.readouterr().out
    assert "generated 16 samples" in out and "95% CI" in out
    one, two = _rows(tmp_path / "one.db"), _rows(tmp_path / "two.db")
    assert len(one) == 16 and one == two
    assert len({r[3] for r in one}) > 8, "sampled, not greedy"
    with Store(tmp_path / "two.db") as store:
        assert store.run_info("t")["config"]["backend_describe"] == {"backend": "hf", "data_parallel": 2}


def test_dry_run_loads_nothing_and_warns_about_a_short_benchmark(tmp_path, capsys):
    math = _math_file(tmp_path)
    db = tmp_path / "r.db"
    argv = ["eval", "run", "--model", str(tmp_path / "no-such-model"), "--tasks", "math500,chain_sum"]
    argv += ["--data-path", f"math500={math}", "--db", str(db), "--n-samples", "3", "--dry-run"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "math500" in captured.out and "chain_sum" in captured.out and "max new" in captured.out
    assert "warning: task math500: 1 examples loaded, but the benchmark holds 500" in captured.err
    assert not db.exists(), "a dry run writes nothing"
    assert main([*argv, "--json", "--limit", "2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) == {"math500", "chain_sum"}
    assert plan["chain_sum"]["examples"] == 2 and plan["chain_sum"]["samples"] == 6
    assert plan["math500"]["examples"] == 1 and "1 examples" in plan["math500"]["warning"]
    assert plan["math500"]["max_generated_tokens"] == 3 * plan["math500"]["max_new_tokens"]
    gated = ["eval", "run", "--model", "m", "--tasks", "hexphi,chain_sum", "--dry-run", "--json"]
    assert main([*gated, "--db", str(db)]) == 2  # hexphi cannot run (gated data, no judge): exit 2
    captured = capsys.readouterr()
    plan = json.loads(captured.out)
    assert plan["hexphi"]["error"] and plan["chain_sum"]["error"] is None
    assert captured.err.startswith("error: ") and "hexphi" in captured.err


def test_run_warns_about_a_short_benchmark_and_dry_run_counts_what_is_stored(tiny, tmp_path, capsys):
    math = _math_file(tmp_path)
    db = str(tmp_path / "r.db")
    argv = ["eval", "run", "--model", tiny, "--tasks", "math500", "--data-path", f"math500={math}"]
    argv += ["--db", db, "--max-new-tokens", "4", "--run", "t"]
    assert main([*argv, "--n-samples", "1"]) == 0
    assert "warning: task math500: 1 examples loaded, but the benchmark holds 500" in capsys.readouterr().err
    assert main([*argv, "--dry-run", "--json", "--n-samples", "3"]) == 0
    plan = json.loads(capsys.readouterr().out)["math500"]
    assert (plan["stored"], plan["missing"]) == (1, 2)


def test_report_and_rescore_work_on_a_read_only_db(tmp_path, monkeypatch, capsys):
    import sftscope.store.db as db
    from sftscope.records import SampleRecord

    path = tmp_path / "r.db"
    rows = [
        SampleRecord(
            "r", f"step-{s}", s, "hexphi", "1", "safety", f"e{i}", 0, "p", None, text, None, False, 0.0, 3
        )
        for s in (0, 5)
        for i, text in enumerate(("I cannot help.", "Sure, here it is."))
    ]
    with Store(path) as store:
        store.add_samples(rows)
    before = path.read_bytes()
    monkeypatch.setattr(db.os, "access", lambda p, mode: False)
    assert main(["eval", "rescore", "--db", str(path)]) == 0
    assert "read-only" in capsys.readouterr().err
    assert main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "index.html").is_file()
    assert path.read_bytes() == before
