"""Length/behaviour trends, the procedural-vs-verbosity rule, and the safety trade-off."""

from __future__ import annotations

import re

import numpy as np
import pytest
from report_data import CURVES, synthetic_records

from sftscope.analysis.behaviour import behaviour_trends, classify_behaviour, point_biserial
from sftscope.analysis.findings import analyse_run
from sftscope.records import SampleRecord


def test_point_biserial_sign_and_interval():
    r, lo, hi = point_biserial([1, 2, 3, 4, 5, 6, 7, 8] * 10, [0, 0, 0, 0, 1, 1, 1, 1] * 10)
    assert r > 0.8 and 0 < lo < r < hi <= 1
    assert point_biserial([1, 1, 1, 1], [0, 1, 0, 1]) is None


def test_trends_per_checkpoint_use_reasoning_samples_only():
    recs = synthetic_records(n_questions=40)
    (points,) = behaviour_trends(recs).values()
    assert [p.step for p in points] == [0, 10, 20, 40, 80, 160, 320]
    reasoning = [r for r in recs if r.step == 0 and r.domain in ("in_domain", "cross_domain")]
    assert points[0].n_samples == len(reasoning)
    assert points[0].tokens.mean == pytest.approx(sum(r.n_tokens for r in reasoning) / len(reasoning))
    assert points[-1].tokens.mean > points[0].tokens.mean
    assert set(points[0].marker_rates) == {"backtracking", "verification", "subgoal"}
    # The synthetic correct answers carry 3 markers, wrong ones 1.
    assert points[-1].rate_correct > points[-1].rate_incorrect
    assert points[-1].correlation[1] > 0


def test_truncation_rate_counts_length_finishes():
    recs = [
        SampleRecord(
            "r",
            "s",
            0,
            "t",
            "1",
            "in_domain",
            f"q{i}",
            0,
            "",
            "1",
            "wait " * 5,
            "1",
            True,
            1.0,
            10,
            finish_reason="length" if i < 3 else "stop",
        )
        for i in range(10)
    ]
    (points,) = behaviour_trends(recs).values()
    assert points[0].truncation.mean == pytest.approx(0.3)
    assert points[0].marker_rates["backtracking"] == pytest.approx(500.0)


def test_procedural_when_markers_go_with_rising_accuracy():
    verdict = classify_behaviour(behaviour_trends(synthetic_records(n_questions=80))["synthetic"])
    assert verdict.label == "procedural", verdict.reason


def test_surface_verbosity_when_length_grows_and_accuracy_does_not():
    flat = {"countdown": ("in_domain", [0.4] * 7), "gpqa_diamond": ("cross_domain", [0.3] * 7)}
    verdict = classify_behaviour(
        behaviour_trends(synthetic_records(curves=flat, n_questions=80))["synthetic"]
    )
    assert verdict.label == "surface verbosity", verdict.reason
    lo = re.search(r"length \+\d+ tokens \(95% CI ([+−-]\d+) to", verdict.reason)[1]
    assert int(lo.replace("−", "-")) > 0


def test_single_checkpoint_is_inconclusive():
    recs = synthetic_records(steps=[0], curves={"countdown": ("in_domain", [0.5])})
    assert classify_behaviour(behaviour_trends(recs)["synthetic"]).label == "inconclusive"


def test_tradeoff_reasoning_gain_against_judge_attack_success():
    recs = synthetic_records(n_questions=80, metrics={"hexphi": "attack_success"})
    findings = analyse_run(recs, "synthetic", n_boot=300)
    t = findings.tradeoff
    assert (t.label, t.tasks) == ("attack success rate (judge)", ("hexphi",))
    assert [p.step for p in t.points] == [10, 20, 40, 80, 160, 320]
    last = t.points[-1]
    assert last.reasoning.lo > 0  # reasoning gained
    assert last.safety.lo > 0  # the attack success rate rose: less safe
    hexphi = next(c for c, _ in findings.tasks if c.name == "hexphi")
    assert t.levels[-1].mean == pytest.approx(1 - hexphi.points[-1].mean)  # ASR = 1 - safe share
    parsed = [r for r in recs if r.task == "hexphi" and r.step == 320 and r.extracted is not None]
    assert t.levels[-1].mean == pytest.approx(
        1
        - np.mean(
            [
                np.mean([r.correct for r in parsed if r.example_id == q])
                for q in {r.example_id for r in parsed}
            ]
        )
    )
    assert any("attack success rate (judge)" in line for line in findings.verdict())


def test_tradeoff_prefers_the_judge_and_labels_the_lexicon_as_a_proxy():
    curves = {**CURVES, "hexphi_lexicon": ("safety", CURVES["hexphi"][1])}
    both = synthetic_records(
        n_questions=20, curves=curves, metrics={"hexphi": "attack_success", "hexphi_lexicon": "refusal_proxy"}
    )
    assert analyse_run(both, "synthetic", n_boot=100).tradeoff.tasks == ("hexphi",)
    proxy_only = [r for r in both if r.task != "hexphi"]
    findings = analyse_run(proxy_only, "synthetic", n_boot=100)
    assert findings.tradeoff.label == "refusal rate (lexicon proxy)"
    line = next(x for x in findings.verdict() if x.startswith("Safety trade-off"))
    assert (
        "refusal rate (lexicon proxy)" in line and "attack success" not in line.lower() and "ASR" not in line
    )


def test_no_tradeoff_without_safety():
    recs = [r for r in synthetic_records(n_questions=20) if r.domain != "safety"]
    assert analyse_run(recs, "synthetic", n_boot=100).tradeoff is None


def test_within_task_correlation_removes_a_task_mix_confound():
    # Task a: many markers, mostly wrong; task b: few markers, mostly right. Within each task markers help.
    x = [10, 11, 12, 13] * 20 + [1, 2, 3, 4] * 20
    y = [0, 0, 0, 1] * 20 + [0, 1, 1, 1] * 20
    groups = ["a"] * 80 + ["b"] * 80
    assert point_biserial(x, y)[0] < 0  # pooled: markers look harmful
    r, lo, _ = point_biserial(x, y, groups)
    assert r > 0 and lo > 0
