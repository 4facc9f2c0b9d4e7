"""Length/behaviour trends, the procedural-vs-verbosity rule, and the safety trade-off."""

from __future__ import annotations

import pytest
from report_data import synthetic_records

from sftscope.analysis.behaviour import behaviour_trends, classify_behaviour, point_biserial
from sftscope.analysis.curves import build_curves
from sftscope.analysis.tradeoff import is_hexphi, tradeoff
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
    assert verdict.length_change.lo > 0


def test_single_checkpoint_is_inconclusive():
    recs = synthetic_records(steps=[0], curves={"countdown": ("in_domain", [0.5])})
    assert classify_behaviour(behaviour_trends(recs)["synthetic"]).label == "inconclusive"


def test_tradeoff_reasoning_gain_against_safety_loss():
    curves = build_curves(synthetic_records(n_questions=80), n_boot=300)
    points = tradeoff(curves, "synthetic")
    assert [p.step for p in points] == [10, 20, 40, 80, 160, 320]
    last = points[-1]
    assert last.reasoning.lo > 0  # reasoning gained
    assert last.safety.hi < 0  # safety lost
    assert last.attack_success.mean == pytest.approx(
        1 - curves.tasks[("synthetic", "hexphi")].points[-1].mean
    )
    assert is_hexphi("HEx-PHI") and not is_hexphi("math500")


def test_no_tradeoff_without_safety():
    recs = [r for r in synthetic_records(n_questions=20) if r.domain != "safety"]
    assert tradeoff(build_curves(recs, n_boot=100), "synthetic") == []


def test_within_task_correlation_removes_a_task_mix_confound():
    # Task a: many markers, mostly wrong; task b: few markers, mostly right. Within each task markers help.
    x = [10, 11, 12, 13] * 20 + [1, 2, 3, 4] * 20
    y = [0, 0, 0, 1] * 20 + [0, 1, 1, 1] * 20
    groups = ["a"] * 80 + ["b"] * 80
    assert point_biserial(x, y)[0] < 0  # pooled: markers look harmful
    r, lo, _ = point_biserial(x, y, groups)
    assert r > 0 and lo > 0
