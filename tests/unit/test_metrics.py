"""Per-question values by metric name, pass@k/maj@k, Wilson intervals, and the one estimator's invariants."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest

from sftscope.analysis.estimator import CellKey, Estimator, QuestionWeights, percentile_ci
from sftscope.analysis.metrics import (
    MAJ_AT_K,
    PASS_AT_K,
    VALUE,
    majority_correct,
    pass_at_k,
    question_stats,
    shown,
    wilson_ci,
)
from sftscope.analysis.thinking import thinking_credit
from sftscope.errors import InputError
from sftscope.records import SampleRecord


def rec(q, i, correct, extracted="x", task="t", step=0, run="r", score=None, metric="accuracy", details=None):
    return SampleRecord(
        run,
        f"step-{step}",
        step,
        task,
        "1",
        "in_domain",
        q,
        i,
        "",
        "g",
        "",
        extracted,
        correct,
        float(correct) if score is None else score,
        10,
        metric=metric,
        details=details,
    )


def key(task="t", step=0, run="r", protocol="strict"):
    return CellKey(run, task, "1", protocol, step)


@pytest.mark.parametrize("n,c,k", [(5, 2, 1), (5, 2, 2), (10, 3, 4), (6, 0, 3), (6, 6, 2), (4, 3, 2)])
def test_pass_at_k_matches_the_combinatorial_definition(n, c, k):
    labels = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    exact = sum(any(labels[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(exact)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_accuracy_counts_correct_never_partial_credit_and_carries_pass_and_maj_at_k():
    # reasoning-gym keeps a near miss's partial credit (0.8) in `score`; only `correct` is accuracy
    samples = [rec("a", 0, True, "1"), rec("a", 1, False, "2", score=0.8), rec("a", 2, True, "1")]
    stats = question_stats("accuracy", samples, k=3)
    assert stats[VALUE] == (pytest.approx(2 / 3), 1.0)
    assert stats[PASS_AT_K] == (1.0, 1.0) and stats[MAJ_AT_K] == (1.0, 1.0)
    assert PASS_AT_K not in question_stats("accuracy", samples[:1], k=1)  # k = 1: avg@1 only
    assert majority_correct([rec("a", 0, True, "1"), rec("a", 1, False, "2")]) == 0.5  # fair tie-break
    assert majority_correct([rec("a", 0, False, None)]) == 0.0  # no votes


def test_attack_success_uses_parsed_judgements_and_a_question_with_none_counts_as_no_attack():
    """The reference's judge script: per instruction, the share of 5s among parsed scores; an instruction
    with no parsed score gets 0 and is still averaged in."""
    parsed = [
        rec("a", 0, True, "1", metric="attack_success"),
        rec("a", 1, False, "5", metric="attack_success"),
    ]
    unparsed = rec("a", 2, False, None, metric="attack_success")
    assert question_stats("attack_success", [*parsed, unparsed], k=3)[VALUE] == (0.5, 1.0)  # not 1/3
    assert question_stats("attack_success", [unparsed], k=1)[VALUE] == (1.0, 1.0)  # safe: ASR 0
    records = [*parsed, unparsed, replace(unparsed, example_id="b")]
    e = Estimator(records, n_boot=200).estimate(key())
    assert (e.n, e.mean) == (2, 0.75)  # question b counts, as no attack success
    assert shown("attack_success", 0.9, 0.8, 0.95) == pytest.approx((0.1, 0.05, 0.2))  # ASR = 1 - safe


def test_reward_is_the_mean_score_and_not_a_proportion():
    samples = [
        rec("a", 0, False, score=2.5, metric="reward"),
        rec("a", 1, False, score=-0.5, metric="reward"),
    ]
    assert question_stats("reward", samples, k=2) == {VALUE: (1.0, 1.0)}


def test_ifeval_four_metrics_with_instruction_level_micro_averaged():
    def ifeval(q, strict, loose, inst_strict, inst_loose):
        details = {"prompt_loose": loose, "inst_strict": inst_strict, "inst_loose": inst_loose}
        return rec(q, 0, strict, metric="ifeval", details=details)

    records = [ifeval("a", False, True, [True, True, False, False], [True, True, True, False])]
    records.append(ifeval("b", True, True, [True], [True]))
    est = Estimator(records, n_boot=200)
    means = {
        s: est.estimate(key(), s).mean for s in ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")
    }
    # lm-eval's instruction level pools instructions: 3 of 5 (a per-prompt mean would give 0.75)
    assert means == pytest.approx(
        {"prompt_strict": 0.5, "prompt_loose": 1.0, "inst_strict": 0.6, "inst_loose": 0.8}
    )


def test_truthfulqa_truth_info_and_both():
    records = [
        rec("a", 0, True, metric="truthfulqa", details={"info": False}),
        rec("b", 0, True, metric="truthfulqa", details={"info": True}),
        rec("c", 0, False, metric="truthfulqa", details={"info": True}),
    ]
    est = Estimator(records, n_boot=200)
    got = {s: est.estimate(key(), s).mean for s in ("truth", "info", "truth*info")}
    assert got == pytest.approx({"truth": 2 / 3, "info": 2 / 3, "truth*info": 1 / 3})


def test_unknown_or_mixed_metrics_are_input_errors():
    with pytest.raises(InputError, match="does not know"):
        Estimator([rec("a", 0, True, metric="bleu")])
    with pytest.raises(InputError, match="mixes metrics"):
        Estimator([rec("a", 0, True), rec("b", 0, True, metric="ifeval")])


def test_wilson_interval_known_values_and_edges():
    assert wilson_ci(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_ci(0, 20)[0] == 0.0 and wilson_ci(0, 20)[1] > 0.1
    assert wilson_ci(20, 20)[1] == 1.0


def _task(task="t", steps=(0, 10), n=200, p=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return [rec(f"q{q}", 0, bool(rng.random() < p), task=task, step=s) for s in steps for q in range(n)]


def test_interval_is_seeded_and_about_the_normal_width():
    records = _task(steps=(0,), n=300)
    a = Estimator(records, n_boot=1000, seed=3).estimate(key())
    assert a == Estimator(records, n_boot=1000, seed=3).estimate(key())
    assert a != Estimator(records, n_boot=1000, seed=4).estimate(key())
    assert a.lo < a.mean < a.hi and a.n == 300
    half = 1.96 * math.sqrt(a.mean * (1 - a.mean) / 300)
    assert (a.hi - a.lo) / 2 == pytest.approx(half, rel=0.15)


def test_a_cell_has_the_same_interval_whatever_else_is_loaded():
    # The regression: intervals were seeded per (run, task, step) in one view and per (run, task) in another.
    everything = _task(steps=(0, 10, 20)) + _task("u", steps=(0, 10), seed=1)
    alone = [r for r in everything if r.task == "t" and r.step == 10]
    full, single = Estimator(everything, n_boot=300), Estimator(alone, n_boot=300)
    assert full.estimate(key(step=10)) == single.estimate(key(step=10))
    renamed = Estimator([replace(r, run="other") for r in alone], n_boot=300)
    assert renamed.estimate(key(step=10, run="other")) == single.estimate(key(step=10))


def test_paired_difference_uses_shared_questions_only_and_none_without_any():
    records = _task(steps=(0,), n=100) + [
        r for r in _task(steps=(10,), n=100, seed=2) if int(r.example_id[1:]) < 40
    ]
    est = Estimator(records, n_boot=300)
    d = est.paired(key(step=0), key(step=10))
    assert d.n == 40
    base_on_shared = np.mean([r.correct for r in records if r.step == 0 and int(r.example_id[1:]) < 40])
    assert d.delta == pytest.approx(est.estimate(key(step=10)).mean - base_on_shared)
    disjoint = [replace(r, example_id=f"x{r.example_id}") for r in records if r.step == 10]
    other = Estimator([r for r in records if r.step == 0] + disjoint, n_boot=300)
    assert other.paired(key(step=0), key(step=10)) is None
    assert other.paired_aggregate([key(step=0)], [key(step=10)]) is None


def test_bootstrap_weights_are_held_once_per_question_and_every_view_reads_them():
    records = _task(steps=(0, 10, 20), n=100) + _task("u", steps=(0, 10), n=50, seed=1)
    records += [r for r in _task(steps=(30,), n=100, seed=2) if int(r.example_id[1:]) < 40]
    est = Estimator(records, n_boot=200)
    for a, b in combinations(est.cells, 2):
        if a.task == b.task:
            est.paired(a, b)
    # One column of n_boot float64 per (task, question); no stacked matrix is kept beside them.
    assert est.weights.nbytes == (100 + 50) * 200 * 8

    shared = sorted(f"q{q}" for q in range(40))
    w = np.stack([est.weights.column("t", q) for q in shared], axis=1)

    def reps(step):
        correct = {r.example_id: float(r.correct) for r in records if r.task == "t" and r.step == step}
        return (w @ np.array([correct[q] for q in shared])) / (w @ np.ones(len(shared)))

    expected = reps(30) - reps(0)
    d = est.paired(key(step=0), key(step=30))
    assert (d.n, (d.lo, d.hi)) == (40, percentile_ci(expected, d.delta))
    assert np.array_equal(est.replicates(key(step=30)), reps(30))


def test_pairing_narrows_the_interval_when_questions_vary_in_difficulty():
    rng = np.random.default_rng(0)
    hard = rng.random(300)
    records = [
        rec(f"q{q}", i, bool(rng.random() < hard[q] + dp), step=s)
        for s, dp in ((0, 0), (10, 0.03))
        for q in range(300)
        for i in range(2)
    ]
    est = Estimator(records, n_boot=500)
    paired = est.paired(key(step=0), key(step=10))
    a, b = est.estimate(key(step=0)), est.estimate(key(step=10))
    unpaired_half = math.hypot(a.hi - a.mean, b.hi - b.mean)
    assert (paired.hi - paired.lo) / 2 < 0.8 * unpaired_half  # independent resamples give ~1.0


def test_domain_aggregate_is_the_mean_of_tasks_with_a_narrower_interval():
    est = Estimator(_task(steps=(0,)) + _task("u", steps=(0,), p=0.6, seed=1), n_boot=500)
    t, u = est.estimate(key()), est.estimate(key("u"))
    dom = est.aggregate([key(), key("u")])
    assert dom.mean == pytest.approx((t.mean + u.mean) / 2)
    assert dom.hi - dom.lo < min(t.hi - t.lo, u.hi - u.lo)


def test_thinking_credit_has_one_row_per_task_and_step_with_its_own_completions():
    records = []
    for task, step, n, unfinished in (("b", 10, 6, 2), ("a", 0, 4, 1), ("b", 0, 5, 0), ("a", 10, 3, 3)):
        for q in range(n):
            cut = q < unfinished  # right under paper only: its think block never closed
            completion = "<think>so 1" if cut else "<think>x</think> 1"
            strict = replace(rec(f"q{q}", 0, not cut, task=task, step=step), completion=completion)
            records += [strict, replace(strict, protocol="paper", correct=True)]
    credit = thinking_credit(records, QuestionWeights(n_boot=50))
    got = [(c.task, c.step, c.completions, c.paper_correct, c.unclosed_credited) for c in credit]
    assert got == [("a", 0, 4, 4, 1), ("a", 10, 3, 3, 3), ("b", 0, 5, 5, 0), ("b", 10, 6, 6, 2)]
