"""`sftscope report` and `sftscope compare` on a synthetic stored run: files, verdict, tables, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_data import synthetic_records

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.records import CheckpointRef
from sftscope.report.build import build_report
from sftscope.store.db import Store


def make_run(root: Path, name: str = "lab", **kwargs) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("model: tiny\noptim:\n  lr: 5.0e-5\n")
    records = synthetic_records(run=name, **kwargs)
    with Store(run_dir / "sftscope.db") as store:
        store.record_run(name, {"model": "tiny", "optim": {"lr": 5e-5}}, {"countdown": "1"})
        for step in sorted({r.step for r in records}):
            store.record_checkpoint(CheckpointRef(name, step, f"{run_dir}/checkpoints/step-{step}"))
        store.add_samples(records)
    return run_dir


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("runs"), n_questions=50)
    return run_dir, build_report(run_dir, n_boot=300)


def test_report_files_are_self_contained(report):
    run_dir, result = report
    assert result.html == run_dir / "report" / "index.html"
    html = result.html.read_text()
    assert html.startswith("<!DOCTYPE html>")
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 4  # domains, tasks, behaviour, trade-off
    assert all(src.startswith("data:image/png;base64,") for src in images)
    # No external resource of any kind.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    assert sorted(p.name for p in result.figures) == [
        "behaviour.png",
        "domains.png",
        "tasks.png",
        "tradeoff.png",
    ]
    assert not list((run_dir / "report").glob(".*.tmp"))


def test_verdict_names_the_dip_and_recovery(report):
    _, result = report
    verdict = result.findings.verdict()
    cross = next(line for line in verdict if line.startswith("Cross-domain"))
    assert "dip-and-recovery" in cross and "Lowest at step 40" in cross
    assert next(line for line in verdict if line.startswith("In-domain")).startswith(
        "In-domain: monotone-gain"
    )
    assert any(line.startswith("Safety trade-off") for line in verdict)
    html = result.html.read_text()
    assert "Cross-domain: dip-and-recovery" in html


def test_markdown_has_tables_figures_and_config(report):
    _, result = report
    md = result.markdown.read_text()
    assert "## Verdict" in md and "![Per-domain curves: domains](figures/domains.png)" in md
    assert "| gpqa_diamond | Cross-domain | 1 |" in md
    assert re.search(r"\| Cross-domain \| [−+]\d+\.\d \[[−+]\d+\.\d, [−+]\d+\.\d\] \|", md)  # change vs base
    assert "lr: 5.0e-05" in md
    assert "HEx-PHI attack success" in md


def test_cli_report_with_out_and_run(tmp_path, capsys):
    run_dir = make_run(
        tmp_path,
        "r1",
        n_questions=15,
        curves={"countdown": ("in_domain", [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])},
    )
    out = tmp_path / "elsewhere"
    assert (
        main(["report", str(run_dir / "sftscope.db"), "--run", "r1", "--out", str(out), "--bootstrap", "200"])
        == 0
    )
    assert (out / "index.html").is_file() and (out / "report.md").is_file()
    assert "In-domain: monotone-gain" in capsys.readouterr().out
    assert not (out / "figures" / "tradeoff.png").exists()  # no safety task ran


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no results DB"):
        build_report(empty)
    assert not (empty / "sftscope.db").exists()  # never created by reading
    with Store(empty / "sftscope.db") as store:
        store.record_run("empty", {})
    with pytest.raises(InputError, match="has no samples"):
        build_report(empty)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    run_dir = make_run(tmp_path, "one", n_questions=5, steps=[0], curves={"countdown": ("in_domain", [0.5])})
    with pytest.raises(InputError, match="no run 'nope'"):
        build_report(run_dir, run="nope")


def test_compare_tables(tmp_path, capsys):
    a = make_run(tmp_path, "a", n_questions=20)
    b = make_run(tmp_path, "b", n_questions=20, seed=1)
    out = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "--step", "last", "--out", str(out), "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "| run | step | In-domain | Cross-domain | General | Safety |" in text
    assert re.search(r"\| a \| 320 \| \d+\.\d \[\d+\.\d, \d+\.\d\] \|", text)
    assert "gpqa_diamond (Cross-domain)" in text
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["compare", str(a), "--step", "7"]) == 2
    assert "no results at step 7" in capsys.readouterr().err


def test_one_task_version_per_curve():
    from dataclasses import replace

    from sftscope.analysis.findings import analyse_run

    recs = synthetic_records(run="v", n_questions=10, curves={"countdown": ("in_domain", [0.5] * 7)})
    old = [replace(r, task_version="0", score=0.0, correct=False) for r in recs if r.step <= 20]
    findings = analyse_run(recs + old, "v", n_boot=100)
    assert findings.task_versions == {"countdown": "1"}
    assert findings.n_samples == len(recs)
    assert any("versions 0, 1" in line for line in findings.verdict())


def test_single_checkpoint_and_missing_base_still_report(tmp_path):
    one = make_run(tmp_path, "one", n_questions=8, steps=[0], curves={"countdown": ("in_domain", [0.5])})
    result = build_report(one, n_boot=100)
    assert "only one checkpoint" in result.html.read_text()
    later = make_run(
        tmp_path, "later", n_questions=8, steps=[10, 20], curves={"countdown": ("in_domain", [0.5, 0.6])}
    )
    verdict = build_report(later, n_boot=100).findings.verdict()
    assert any("no step-0 (base model) results" in line for line in verdict)


def test_compare_run_names_inside_one_db(tmp_path, capsys):
    a = make_run(tmp_path, "a", n_questions=10, curves={"countdown": ("in_domain", [0.2] * 7)})
    b_records = synthetic_records(run="b", n_questions=10, curves={"countdown": ("in_domain", [0.9] * 7)})
    with Store(a / "sftscope.db") as store:
        store.add_samples(b_records)
    assert (
        main(["compare", "a", "b", "--db", str(a / "sftscope.db"), "--step", "0", "--bootstrap", "100"]) == 0
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| a |", "| b |"))]
    assert [row.split("|")[1].strip() for row in rows[:2]] == ["a", "b"]
    assert main(["compare", "zzz", "--db", str(a / "sftscope.db")]) == 2
    assert main(["compare", str(a), "--out", str(tmp_path / "x.txt")]) == 2
