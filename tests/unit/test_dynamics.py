"""Dynamics labels on synthetic curves, including the paper's reported MATH500 rows (avg@3 x 500 questions)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from sftscope.analysis.curves import Curve, CurvePoint, interval_diff
from sftscope.analysis.dynamics import classify
from sftscope.analysis.findings import analyse_run
from sftscope.analysis.metrics import wilson_ci
from sftscope.records import SampleRecord

STEPS = [0, 10, 20, 40, 80, 160, 320, 480, 640]
N = 1500  # avg@3 on 500 questions


def curve_from_points(name: str, points) -> Curve:
    """A curve of published (step, mean, lo, hi) numbers, compared by Newcombe's method."""
    pts = [CurvePoint(int(s), float(m), float(lo), float(hi)) for s, m, lo, hi in points]
    return Curve(name, "task", "", pts, lambda i, j: interval_diff(pts[i], pts[j]))


def curve_from_counts(name: str, points) -> Curve:
    """A curve of published (step, n_correct, n) numbers with Wilson intervals (samples independent)."""
    return curve_from_points(name, [(s, c / n, *wilson_ci(c, int(n))) for s, c, n in points])


def paper_curve(name: str, percents: list[float]):
    return curve_from_counts(name, [(s, round(p / 100 * N), N) for s, p in zip(STEPS, percents)])


def test_qwen3_1p7b_math500_is_dip_and_recovery_at_step_40():
    row = [58.9, 55.7, 53.5, 42.9, 49.6, 51.6, 56.5, 59.1, 56.2]
    d = classify(paper_curve("MATH500 1.7B", row))
    assert d.label == "dip-and-recovery"
    assert d.dip_step == 40
    assert d.dip is not None and d.dip.hi < 0 and d.dip.delta == pytest.approx(-0.16, abs=0.002)
    assert d.recovery_step == 80  # 49.6 is significantly above 42.9
    assert d.back_to_base_step == 320  # 56.5 is within noise of 58.9
    assert not d.still_rising
    assert "Lowest at step 40: −16.0 points" in d.summary()


def test_qwen3_4b_math500_dips_at_20_then_ends_far_above_base():
    row = [70.8, 64.9, 62.9, 71.5, 77.1, 78.8, 86.3, 87.1, 86.2]
    d = classify(paper_curve("MATH500 4B", row))
    assert d.label == "dip-and-recovery"
    assert d.dip_step == 20
    assert d.recovery_step == 40
    assert d.final.lo > 0.1  # +15.4 points at step 640
    assert not d.still_rising  # 86.2 vs 86.3 two checkpoints before


def test_monotone_gain_still_rising():
    d = classify(paper_curve("gain", [50, 51, 53, 56, 60, 64, 68, 72, 76]))
    assert d.label == "monotone-gain"
    assert d.still_rising
    assert "train longer" in d.summary()


def test_flat_curve_within_noise():
    d = classify(paper_curve("flat", [50, 50.5, 49.8, 50.3, 49.6, 50.9, 50.1, 49.7, 50.4]))
    assert d.label == "flat" and not d.still_rising and d.dip_step is None


def test_degradation_ends_at_its_low():
    d = classify(paper_curve("down", [60, 58, 55, 52, 49, 46, 43, 40, 37]))
    assert d.label == "degradation" and d.dip_step == 640


def test_dip_unrecovered_bottoms_out_before_the_end():
    d = classify(paper_curve("plateau", [60, 47, 45.2, 46, 45.5, 46.2, 45.8, 46.1, 45.9]))
    assert d.label == "dip-unrecovered"
    assert d.dip_step == 20 and d.recovery_step is None and d.back_to_base_step is None


def test_same_means_with_wide_intervals_is_flat():
    # The 1.7B row measured on 30 questions: the same shape is no longer significant.
    row = [58.9, 55.7, 53.5, 42.9, 49.6, 51.6, 56.5, 59.1, 56.2]
    d = classify(curve_from_counts("small", [(s, round(p / 100 * 30), 30) for s, p in zip(STEPS, row)]))
    assert d.label == "flat"


def test_points_with_given_intervals():
    curve = curve_from_points("pts", [(0, 0.5, 0.48, 0.52), (10, 0.40, 0.38, 0.42), (20, 0.55, 0.53, 0.57)])
    d = classify(curve)
    assert (d.label, d.dip_step, d.recovery_step, d.back_to_base_step) == ("dip-and-recovery", 10, 20, 20)
    assert d.still_rising


def test_single_point():
    assert classify(curve_from_points("one", [(0, 0.5, 0.4, 0.6)])).label == "too-few-points"


def _records(probs: dict[int, float], n_q: int = 200, k: int = 2, seed: int = 0) -> list[SampleRecord]:
    rng = random.Random(seed)
    ability = [rng.random() for _ in range(n_q)]
    out = []
    for step, p in probs.items():
        for q in range(n_q):
            # Question difficulty is shared across steps, so the paired test sees through it.
            pq = min(1.0, max(0.0, p + 0.6 * (ability[q] - 0.5)))
            for i in range(k):
                c = rng.random() < pq
                out.append(
                    SampleRecord(
                        "r",
                        f"step-{step}",
                        step,
                        "t",
                        "1",
                        "in_domain",
                        f"q{q}",
                        i,
                        "",
                        "1",
                        "",
                        "1" if c else None,
                        c,
                        float(c),
                        100,
                    )
                )
    return out


def curves_of(records: list[SampleRecord], n_boot: int = 300):
    findings = analyse_run(records, "r", n_boot=n_boot)
    return {c.name: c for c, _ in findings.tasks}, {c.domain: c for c, _ in findings.domains}


def test_curves_from_samples_use_paired_differences():
    recs = _records({0: 0.6, 10: 0.45, 20: 0.5, 40: 0.7})
    tasks, domains = curves_of(recs, n_boot=400)
    curve = tasks["t"]
    d = classify(curve)
    assert d.label == "dip-and-recovery" and d.dip_step == 10
    # Paired intervals are narrower than unpaired ones built from the same points.
    paired = curve.diff(0, 1)
    unpaired = curve_from_points("x", [(p.step, p.mean, p.lo, p.hi) for p in curve.points]).diff(0, 1)
    assert paired.hi - paired.lo < unpaired.hi - unpaired.lo
    dom = domains["in_domain"]
    assert [p.mean for p in dom.points] == pytest.approx([p.mean for p in curve.points])
    assert classify(dom).label == "dip-and-recovery"


def test_partially_evaluated_step_is_paired_on_shared_questions():
    recs = _records({0: 0.6, 10: 0.3, 20: 0.7}, n_q=100)
    recs = [r for r in recs if not (r.step == 10 and int(r.example_id[1:]) >= 50)]  # half of step 10 missing
    curve = curves_of(recs)[0]["t"]
    assert [p.n for p in curve.points] == [100, 50, 100]
    d = curve.diff(0, 1)
    assert d.n == 50 and d.hi < 0 and d.lo < d.delta < d.hi
    assert classify(curve).label == "dip-and-recovery"


def test_steps_with_no_shared_question_make_no_claim():
    recs = _records({0: 0.6, 10: 0.1}, n_q=60)
    recs = [replace(r, example_id="new-" + r.example_id) if r.step == 10 else r for r in recs]
    curve = curves_of(recs)[0]["t"]
    assert curve.diff(0, 1) is None
    d = classify(curve)
    assert d.label == "not-comparable" and d.final is None and d.dip is None
    assert "no later checkpoint shares a question" in d.summary() and "points" not in d.summary()


def test_domain_mixes_tasks_and_needs_both_to_dip():
    a = _records({0: 0.5, 10: 0.5, 20: 0.5}, seed=1)
    b = [replace(r, task="u") for r in _records({0: 0.5, 10: 0.5, 20: 0.5}, seed=2)]
    dom = curves_of(a + b)[1]["in_domain"]
    assert dom.tasks == ("t", "u")
    assert classify(dom).label == "flat"


def test_back_to_base_uses_the_printed_95_percent_interval():
    # Step 20 is below base at 95% (hi < 0) but not after the Bonferroni correction for 3 checkpoints: the
    # old rule called it "back to base" while the 95% change printed next to it excluded 0.
    h = 0.0127
    curve = curve_from_points(
        "c",
        [
            (0, 0.5, 0.5 - h, 0.5 + h),
            (10, 0.40, 0.40 - h, 0.40 + h),
            (20, 0.48, 0.48 - h, 0.48 + h),
            (30, 0.5, 0.5 - h, 0.5 + h),
        ],
    )
    assert curve.diff(0, 2).below
    d = classify(curve)
    assert d.dip_step == 10 and d.back_to_base_step == 30


def test_a_nominal_dip_is_explained_not_hidden():
    h = 0.0127
    curve = curve_from_points(
        "c",
        [
            (0, 0.5, 0.5 - h, 0.5 + h),
            (10, 0.48, 0.48 - h, 0.48 + h),
            (20, 0.5, 0.5 - h, 0.5 + h),
            (30, 0.5, 0.5 - h, 0.5 + h),
        ],
    )
    d = classify(curve)
    assert d.label == "flat" and d.nominal_dips == (10,)
    assert "Below base at 95% at step 10, but not after the Bonferroni correction" in d.summary()


def test_flat_truth_is_rarely_labelled_as_a_shape():
    # Nine checkpoints of the same true accuracy: the dip search is Bonferroni-corrected, so false shapes stay rare.
    rng = np.random.default_rng(0)
    labels = [
        classify(
            curve_from_counts("x", [(s, int(k), N) for s, k in zip(STEPS, rng.binomial(N, 0.5, len(STEPS)))])
        ).label
        for _ in range(400)
    ]
    assert labels.count("flat") / len(labels) > 0.9
    assert labels.count("dip-and-recovery") / len(labels) < 0.04
