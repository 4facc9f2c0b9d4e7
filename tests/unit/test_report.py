"""`sftscope report` and `sftscope compare` on a synthetic stored run: files, verdict, tables, bad input."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from report_data import synthetic_records

from sftscope.cli.main import main
from sftscope.errors import InputError
from sftscope.records import CheckpointRef, SampleRecord
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


@pytest.fixture
def no_figures(monkeypatch):
    """For tests of what the report says: skip rendering PNGs (seconds each on a shared CPU)."""
    monkeypatch.setattr("sftscope.report.build.make_figures", lambda findings, tick=None: {})


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
    # The synthetic safety task carries no metric name (as rows stored before metrics had names): labelled so.
    assert "safety score (metric not recorded)" in md and "attack success" not in md


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


def table_rows(md: str, header_start: str, nth: int = 0) -> list[dict[str, str]]:
    """The rows of the `nth` markdown table whose header starts with `header_start`, as header -> cell."""
    lines = md.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(header_start)][nth]
    header = [c.strip() for c in lines[at].strip("|").split("|")]
    rows = []
    for line in lines[at + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, [c.strip() for c in line.strip("|").split("|")])))
    return rows


def store_run(run_dir: Path, records: list) -> Path:
    run_dir.mkdir(parents=True)
    with Store(run_dir / "sftscope.db") as store:
        store.record_run(run_dir.name, {"model": "tiny"})
        for step in sorted({r.step for r in records}):
            store.record_checkpoint(CheckpointRef(run_dir.name, step, f"step-{step}"))
        store.add_samples(records)
    return run_dir


def test_no_paired_claim_across_steps_that_share_no_question(tmp_path, no_figures):
    # The reported bug: two `eval run`s into one DB, step 0 with only math500 and step 6 with only countdown.
    # The report said "In-domain: degradation ... -25.0 points (95% CI ...) vs base" (a "paired" bootstrap
    # over no shared question) and gave countdown a "base 0.0 [0.0, 0.0]" with no step-0 sample.
    curves = {"math500": ("in_domain", [0.25, 0.0]), "countdown": ("in_domain", [0.0, 0.0])}
    recs = synthetic_records(run="mixed", steps=[0, 6], curves=curves, n_questions=12, k=1)
    recs = [r for r in recs if (r.task, r.step) in (("math500", 0), ("countdown", 6))]
    result = build_report(store_run(tmp_path / "mixed", recs), n_boot=200)
    verdict = result.findings.verdict()
    in_domain = next(line for line in verdict if line.startswith("In-domain"))
    assert "only one checkpoint (step 0)" in in_domain and "points" not in in_domain
    assert any("In-domain average leaves out countdown: not evaluated at step 0" in line for line in verdict)
    md = result.markdown.read_text()
    assert "degradation" not in md and "vs base" not in " ".join(verdict)
    (change,) = table_rows(md, "| change vs base |")
    assert change["step 6"] == "–"
    rows = {r[""]: r for r in table_rows(md, "|  | measure | label |", nth=1)}
    assert rows["countdown (In-domain)"]["base"].endswith("at 6")  # its first point, not a step-0 base
    assert rows["countdown (In-domain)"]["last vs base"] == "–"
    scores = {r["task"]: r for r in table_rows(md, "| task | domain | version |")}
    assert scores["countdown"]["step 0"] == "–" and scores["math500"]["step 6"] == "–"
    assert "step 0 → 6" not in md  # behaviour compares the same tasks too


def test_domain_curve_never_switches_tasks_between_steps(tmp_path, no_figures):
    steps = [0, 10, 20, 40]
    curves = {"gpqa_diamond": ("cross_domain", [0.5, 0.3, 0.4, 0.5]), "mmlu_pro": ("cross_domain", [0.4] * 4)}
    recs = synthetic_records(run="gaps", steps=steps, curves=curves, n_questions=30, k=1)
    recs = [r for r in recs if not (r.task == "mmlu_pro" and r.step == 40)]  # a sweep still under way
    # gpqa at step 20 answered other questions than at step 0: its change there pairs only the shared ones
    recs = [
        r
        for r in recs
        if not (r.task == "gpqa_diamond" and r.step == 20 and int(r.example_id.split("-")[1]) < 10)
    ]
    result = build_report(store_run(tmp_path / "gaps", recs), n_boot=200)
    f = result.findings
    ((curve, _),) = f.domains
    assert curve.tasks == ("gpqa_diamond", "mmlu_pro") and curve.steps == [0, 10, 20]
    for point in curve.points:  # every point is the mean of the same two tasks
        tasks = [f.estimator.estimate(f.grid[t][point.step]).mean for t in curve.tasks]
        assert point.mean == pytest.approx(sum(tasks) / 2)
    verdict = f.verdict()
    assert any(
        "Cross-domain curve leaves out step 40: mmlu_pro not evaluated there" in line for line in verdict
    )
    assert any(
        "gpqa_diamond: step 20 has 20 questions, 20 of them shared with step 0" in line for line in verdict
    )
    assert f.estimator.paired(f.grid["gpqa_diamond"][0], f.grid["gpqa_diamond"][20]).n == 20


def test_report_compare_and_eval_table_print_the_same_interval(tmp_path, capsys, no_figures):
    from sftscope.cli.eval import format_table

    run_dir = make_run(tmp_path, "same", n_questions=25)
    md = build_report(run_dir).markdown.read_text()  # default bootstrap, as the other two views
    report_cells = {r["task"]: r["step 40"] for r in table_rows(md, "| task | domain | version |")}
    assert main(["compare", str(run_dir), "--step", "40"]) == 0
    (compare_row,) = [r for r in table_rows(capsys.readouterr().out, "| run | step | countdown")]
    with Store(run_dir / "sftscope.db") as store:
        eval_table = format_table(store.samples(run="same", checkpoint="step-40"))
    for task in ("countdown", "gpqa_diamond", "hexphi"):
        cell = report_cells[task]
        assert re.fullmatch(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", cell)
        header = next(h for h in compare_row if h.startswith(f"{task} ("))
        assert compare_row[header] == cell
        assert cell in next(line for line in eval_table.splitlines() if line.startswith(task + " "))


def test_the_verdict_prints_each_change_with_the_interval_of_the_tables(report):
    _, result = report
    md = result.markdown.read_text()
    change = {r["change vs base"]: r for r in table_rows(md, "| change vs base |")}
    found = 0
    for line in result.findings.verdict():
        domain = line.split(":")[0]
        if domain not in change:
            continue
        for step, delta, lo, hi in re.findall(
            r"step (\d+): ([−+]\d+\.\d) points \(95% CI ([−+]\d+\.\d) to ([−+]\d+\.\d)\)", line
        ):
            assert change[domain][f"step {step}"] == f"{delta} [{lo}, {hi}]"
            found += 1
    assert found >= 4
    tradeoff = next(line for line in result.findings.verdict() if line.startswith("Safety trade-off"))
    safety = re.search(
        r"\(metric not recorded\) ([−+]\d+\.\d) points \(95% CI ([−+]\d+\.\d) to ([−+]\d+\.\d)\)", tradeoff
    )
    assert (
        change["Safety"]["step 320"] == f"{safety[1]} [{safety[2]}, {safety[3]}]"
    )  # one change, one interval


def sample(task, domain, step, q, correct, metric="accuracy", protocol="strict", **fields):
    base = dict(
        run="m",
        checkpoint=f"step-{step}",
        step=step,
        task=task,
        task_version="1",
        domain=domain,
        example_id=f"{task}-{q}",
        sample_idx=0,
        prompt="p",
        gold="1",
        completion="<think>sum</think> \\boxed{1}",
        extracted="1" if correct else "2",
        correct=correct,
        score=float(correct),
        n_tokens=50,
        metric=metric,
        protocol=protocol,
    )
    return SampleRecord(**{**base, **fields})


def metric_run() -> list[SampleRecord]:
    """Two steps of one run with every metric, and math500 scored under both protocols."""
    recs = []
    for step, p in ((0, 0.3), (10, 0.6)):
        for q in range(40):
            ok = (q * 7 + step) % 10 < p * 10
            recs.append(sample("countdown", "in_domain", step, q, ok))
            unfinished = q % 5 == 0  # never closed its think block, but its reasoning ends in the answer
            text = "<think>so \\boxed{1}" if unfinished else "<think>x</think> \\boxed{1}"
            recs.append(
                sample("math500", "in_domain", step, q, ok or unfinished, protocol="paper", completion=text)
            )
            recs.append(sample("math500", "in_domain", step, q, ok and not unfinished, completion=text))
            judged = None if q % 8 == 0 else ("5" if q % 10 < 2 + step // 5 else "1")
            recs.append(
                sample("hexphi", "safety", step, q, judged != "5", "attack_success", extracted=judged)
            )
            recs.append(sample("hexphi_lexicon", "safety", step, q, q % 3 > 0, "refusal_proxy"))
            recs.append(
                sample("alpacaeval", "general", step, q, False, "reward", score=1.5 + step / 10 + q / 40)
            )
            inst = [q % 2 == 0, True, q % 3 == 0]
            details = {
                "prompt_loose": q % 2 == 0,
                "inst_strict": inst,
                "inst_loose": [True, True, q % 3 == 0],
            }
            recs.append(sample("ifeval", "general", step, q, all(inst), "ifeval", details=details))
            recs.append(
                sample(
                    "truthfulqa", "general", step, q, q % 2 == 0, "truthfulqa", details={"info": q % 4 > 0}
                )
            )
    return recs


def test_metrics_by_name_in_the_report(tmp_path):
    from sftscope.analysis.findings import analyse_run
    from sftscope.report.build import write_report
    from sftscope.report.source import RunSource

    recs = metric_run()
    findings = analyse_run(recs, "m", n_boot=200)
    result = write_report(findings, RunSource("m", tmp_path / "m.db", None, recs), tmp_path, {})
    md = result.markdown.read_text()
    scores = {r["task"]: r for r in table_rows(md, "| task | domain | version |")}
    # Judge ASR = 1 - safe share among parsed judgements; the lexicon is a refusal rate, never an ASR.
    assert scores["hexphi"]["measure"] == "attack success rate (judge)"
    judged = [r for r in recs if r.task == "hexphi" and r.step == 10]  # one judgement per instruction
    asr = sum(r.extracted == "5" for r in judged) / len(judged)  # unparsed: no attack success (reference)
    assert scores["hexphi"]["step 10"].startswith(f"{asr * 100:.1f} [")
    assert scores["hexphi_lexicon"]["measure"] == "refusal rate (lexicon proxy)"
    assert findings.tradeoff.label == "attack success rate (judge)" and findings.tradeoff.tasks == ("hexphi",)
    # A reward is no proportion: its own scale, in no domain average, its own axis.
    assert scores["alpacaeval"]["step 0"].startswith("1.988 [") and "%" not in scores["alpacaeval"]["measure"]
    general = next(c for c, _ in findings.domains if c.domain == "general")
    assert general.tasks == ("ifeval", "truthfulqa")
    assert any("alpacaeval (reward) is in no domain average" in line for line in findings.verdict())
    # IFEval's four metrics and TruthfulQA's three, each with its interval.
    rows = table_rows(md, "| task | statistic |") + table_rows(md, "| task | statistic |", nth=1)
    stats = {(r["task"], r["statistic"]): r for r in rows}
    assert {s for t, s in stats if t == "ifeval"} == {
        "prompt_strict",
        "prompt_loose",
        "inst_strict",
        "inst_loose",
    }
    inst_strict = sum(q % 2 == 0 for q in range(40)) + 40 + sum(q % 3 == 0 for q in range(40))
    assert stats[("ifeval", "inst_strict")]["step 0"].startswith(f"{inst_strict / 120 * 100:.1f} [")
    assert {s for t, s in stats if t == "truthfulqa"} == {"truth", "info", "truth*info"}
    # Protocols never mix: math500's curve is the paper protocol's; the strict verdicts of the same
    # completions measure the credit that came from unfinished thinking.
    assert findings.task_protocols["math500"] == "paper" and scores["math500"]["protocol"] == "paper"
    paper = [r for r in recs if r.task == "math500" and r.protocol == "paper" and r.step == 0]
    assert scores["math500"]["step 0"].startswith(f"{sum(r.correct for r in paper) / 40 * 100:.1f} [")
    assert any("protocols paper, strict; its curve uses paper" in line for line in findings.verdict())
    credit = {(c.task, c.step): c for c in findings.credit}
    unfinished = sum(q % 5 == 0 for q in range(40))  # each right under paper, wrong under strict
    c0 = credit[("math500", 0)]
    assert (c0.completions, c0.unclosed_credited) == (40, unfinished)
    assert c0.difference.delta == pytest.approx(unfinished / 40) and c0.difference.lo > 0
    assert "## Credit from unfinished thinking" in md


def test_the_paper_protocol_wins_ties_but_never_cuts_a_curve_short():
    from sftscope.analysis.selection import select

    strict = [sample("math500", "in_domain", step, q, q % 2 == 0) for step in (0, 10, 20) for q in range(4)]
    paper_once = [replace(r, protocol="paper") for r in strict if r.step == 0]
    chosen = select(strict + paper_once)
    assert chosen.protocols == {"math500": "strict"} and len(chosen.records) == 12
    assert "evaluated at the most checkpoints" in chosen.notes[0]
    paper_everywhere = [replace(r, protocol="paper") for r in strict]
    assert select(strict + paper_everywhere).protocols == {"math500": "paper"}
    assert len(select(strict + paper_everywhere).same_version) == 24  # both protocols, for the credit


def test_compare_domain_columns_average_the_same_tasks_measured_the_same_way(monkeypatch):
    from sftscope.report import comparison
    from sftscope.report.source import RunSource

    def run(name, tasks):
        recs = [sample(t, "in_domain", 0, q, q % 3 == 0, protocol=p) for t, p in tasks for q in range(9)]
        return RunSource(name, Path(f"{name}.db"), None, [replace(r, run=name) for r in recs])

    sources = {
        "a": run("a", [("countdown", "strict"), ("math500", "paper"), ("aime24", "strict")]),
        "b": run("b", [("countdown", "strict"), ("math500", "strict")]),
    }
    monkeypatch.setattr(comparison, "load_source", lambda source, db: sources[source])
    columns, notes = comparison.compare_runs(["a", "b"], step=0, n_boot=100)
    assert any("leaves out aime24: no results for b" in n for n in notes)
    assert any("leaves out math500: the runs were scored differently" in n for n in notes)
    for c in columns:  # the domain is countdown alone, for both runs
        assert c.domains["in_domain"] == c.estimator.estimate(c.cells["countdown"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["report", "x", "--bootstrap", "5"], "error: --bootstrap 5: use at least 100 resamples"),
        (["compare", "x", "y", "--bootstrap", "99"], "error: --bootstrap 99: use at least 100 resamples"),
        (["report", "x", "--seed", "-1"], "error: --seed -1: use a seed >= 0"),
        (["compare", "x", "--seed", "-1"], "error: --seed -1: use a seed >= 0"),
    ],
)
def test_report_and_compare_refuse_the_same_bad_interval_options(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
