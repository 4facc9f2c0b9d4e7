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
