"""avg@k, unbiased pass@k, maj@k, bootstrap and Wilson intervals, per-task and per-domain scores."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from sftscope.analysis.metrics import (
    avg_at_k,
    bootstrap_ci,
    domain_scores,
    maj_at_k,
    majority_correct,
    pass_at_k,
    pass_at_k_records,
    question_scores,
    task_scores,
    wilson_ci,
)
from sftscope.records import SampleRecord


def rec(q, i, correct, extracted="x", task="t", domain="in_domain", step=0, run="r", score=None):
    return SampleRecord(
        run,
        f"step-{step}",
        step,
        task,
        "1",
        domain,
        q,
        i,
        "",
        "g",
        "",
        extracted,
        correct,
        float(correct) if score is None else score,
        10,
    )


@pytest.mark.parametrize("n,c,k", [(5, 2, 1), (5, 2, 2), (10, 3, 4), (6, 0, 3), (6, 6, 2), (4, 3, 2)])
def test_pass_at_k_matches_the_combinatorial_definition(n, c, k):
    labels = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    exact = sum(any(labels[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(exact)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_avg_pass_maj_over_questions():
    recs = [
        rec("a", 0, True, "1"),
        rec("a", 1, False, "2"),
        rec("a", 2, True, "1"),
        rec("b", 0, False, "5"),
        rec("b", 1, False, "5"),
        rec("b", 2, False, None),
    ]
    assert avg_at_k(recs) == pytest.approx((2 / 3 + 0) / 2)
    assert pass_at_k_records(recs, 2) == pytest.approx((1 - 0 / 3 + 0) / 2)  # a: C(1,2)=0 -> 1.0
    assert maj_at_k(recs) == pytest.approx(0.5)


def test_majority_tie_is_expected_value_and_no_votes_is_wrong():
    tie = [rec("a", 0, True, "1"), rec("a", 1, False, "2")]
    assert majority_correct(tie) == 0.5
    assert majority_correct([rec("a", 0, False, None)]) == 0.0


def test_wilson_interval_known_values_and_edges():
    lo, hi = wilson_ci(50, 100)
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_ci(0, 20)[0] == 0.0 and wilson_ci(0, 20)[1] > 0.1
    assert wilson_ci(20, 20)[1] == 1.0


def test_bootstrap_is_seeded_and_covers_the_mean():
    values = np.random.default_rng(1).random(300) < 0.3
    a = bootstrap_ci(values, seed=3)
    assert a == bootstrap_ci(values, seed=3)
    mean, lo, hi = a
    assert lo < mean < hi
    # Close to the normal-approximation half-width for a proportion.
    assert (hi - lo) / 2 == pytest.approx(1.96 * math.sqrt(mean * (1 - mean) / 300), rel=0.2)


def test_task_scores_table_fields():
    recs = [
        rec(f"q{q}", i, (q * (i + 1)) % 3 == 0, None if i == 0 and q < 5 else "x")
        for q in range(40)
        for i in range(3)
    ]
    recs += [rec(f"q{q}", 0, q % 2 == 0, task="u", domain="cross_domain") for q in range(30)]
    scores = task_scores(recs, n_boot=200)
    assert [(s.task, s.domain, s.k, s.n_questions) for s in scores] == [
        ("t", "in_domain", 3, 40),
        ("u", "cross_domain", 1, 30),
    ]
    t = scores[0]
    assert t.mean == pytest.approx(avg_at_k(recs[:120]))
    assert t.lo < t.mean < t.hi
    assert t.unparsed_rate == pytest.approx(5 / 120)


def test_domain_score_is_mean_of_tasks_with_a_narrower_interval():
    recs = [rec(f"q{q}", 0, q % 2 == 0, task="a") for q in range(60)]
    recs += [rec(f"q{q}", 0, q % 4 == 0, task="b") for q in range(60)]
    (dom,) = domain_scores(recs, n_boot=500)
    ts = task_scores(recs, n_boot=500)
    assert dom.mean == pytest.approx(np.mean([s.mean for s in ts]))
    assert dom.tasks == ("a", "b")
    assert dom.hi - dom.lo < min(s.hi - s.lo for s in ts)


def test_partial_credit_in_score_never_counts_as_accuracy():
    # reasoning-gym keeps a near miss's partial credit (e.g. 0.8) in `score`; only `correct` is accuracy
    records = [rec("q1", 0, False, score=0.8), rec("q1", 1, True), rec("q2", 0, False, score=0.5)]
    assert avg_at_k(records) == pytest.approx(0.25)
    assert question_scores(records) == {"q1": 0.5, "q2": 0.0}
