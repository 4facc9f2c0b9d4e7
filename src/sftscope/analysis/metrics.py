"""Scores over sampled generations: avg@k, unbiased pass@k, maj@k, and confidence intervals.

Every score is a mean over *questions* (each question's samples are first averaged), so a task with k samples
per question counts each question once. Confidence intervals come from a seeded, vectorized bootstrap over
questions (percentile method), or a Wilson interval when only a proportion and its count are known.

A domain score is the unweighted mean of its tasks' scores. Its interval comes from the same bootstrap: each
task is resampled over its own questions, replicate b of the domain is the mean of replicate b of every task,
and the 2.5/97.5 percentiles of those domain replicates form the interval (tasks are independent samples).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sftscope.records import DOMAINS, SampleRecord

N_BOOT = 1000  # enough for stable 95% percentile bounds at 2 decimals of a percent
Z95 = 1.959963984540054


def domain_order(domain: str) -> int:
    """Sort key: in_domain, cross_domain, general, safety, then anything else."""
    return DOMAINS.index(domain) if domain in DOMAINS else len(DOMAINS)


@dataclass(frozen=True)
class TaskScore:
    """One task at one checkpoint: avg@k over `n_questions` questions with a 95% bootstrap interval."""

    task: str
    domain: str
    step: int
    n_questions: int
    k: int
    mean: float
    lo: float
    hi: float
    unparsed_rate: float
    run: str = ""


@dataclass(frozen=True)
class DomainScore:
    """A domain at one checkpoint: the mean of its tasks, interval from the joint bootstrap."""

    domain: str
    step: int
    tasks: tuple[str, ...]
    mean: float
    lo: float
    hi: float
    run: str = ""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021) unbiased pass@k: 1 - C(n-c, k) / C(n, k), as a stable product."""
    if k > n:
        raise ValueError(f"pass@k needs k <= n samples (k={k}, n={n})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def wilson_ci(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; stays inside [0, 1] and behaves at 0 and n."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def seed_for(*parts: object, seed: int = 0) -> int:
    """A stable per-item seed (crc32 of the names), so a task's resamples never depend on dict order."""
    return zlib.crc32(":".join(str(p) for p in (seed, *parts)).encode("utf-8"))


def bootstrap_indices(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """An (n_boot, n) matrix of question indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_means(values: Sequence[float] | np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Replicate means of `values` resampled with replacement (vectorized)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap over an empty set of questions")
    return arr[bootstrap_indices(arr.size, n_boot, seed)].mean(axis=1)


def percentile_ci(replicates: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(mean, lo, hi) with a percentile bootstrap interval over the given per-question values."""
    arr = np.asarray(values, dtype=float)
    return (float(arr.mean()), *percentile_ci(bootstrap_means(arr, n_boot, seed), alpha))


def by_question(records: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    groups: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        groups[record.example_id].append(record)
    return groups


def avg_at_k(records: Iterable[SampleRecord]) -> float:
    """Accuracy per question, averaged over questions (the paper's avg@k).

    Accuracy counts `correct`, never the raw `score`: a scorer may keep partial credit in `score` (reasoning-gym
    gives a near miss 0.8), but only an exact pass counts (issue: score == 1.0 is correct).
    """
    per_q = [np.mean([r.correct for r in rs]) for rs in by_question(records).values()]
    return float(np.mean(per_q)) if per_q else float("nan")


def pass_at_k_records(records: Iterable[SampleRecord], k: int) -> float:
    """Unbiased pass@k averaged over questions; a question with fewer than k samples is an error."""
    values = []
    for qid, rs in by_question(records).items():
        if len(rs) < k:
            raise ValueError(f"question {qid!r} has {len(rs)} samples, fewer than k={k}")
        values.append(pass_at_k(len(rs), sum(bool(r.correct) for r in rs), k))
    return float(np.mean(values)) if values else float("nan")


def majority_correct(records: Sequence[SampleRecord]) -> float:
    """1/0 when the most common extracted answer is right/wrong; ties give the expected value of a fair
    tie-break. Samples with no extracted answer do not vote; a question with no votes scores 0."""
    votes = Counter(r.extracted for r in records if r.extracted is not None)
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [answer for answer, count in votes.items() if count == top]
    right = {r.extracted for r in records if r.correct and r.extracted is not None}
    return sum(answer in right for answer in tied) / len(tied)


def maj_at_k(records: Iterable[SampleRecord]) -> float:
    per_q = [majority_correct(rs) for rs in by_question(records).values()]
    return float(np.mean(per_q)) if per_q else float("nan")


def question_scores(records: Iterable[SampleRecord]) -> dict[str, float]:
    """example_id -> accuracy over that question's samples (`correct`, as in `avg_at_k`)."""
    return {qid: float(np.mean([r.correct for r in rs])) for qid, rs in by_question(records).items()}


def group_records(
    records: Iterable[SampleRecord],
) -> dict[tuple[str, int, str], list[SampleRecord]]:
    """(run, step, task) -> records, the unit of one TaskScore."""
    groups: dict[tuple[str, int, str], list[SampleRecord]] = defaultdict(list)
    for record in records:
        groups[(record.run, record.step, record.task)].append(record)
    return groups


def task_scores(records: Iterable[SampleRecord], n_boot: int = N_BOOT, seed: int = 0) -> list[TaskScore]:
    """One TaskScore per (run, step, task), sorted by run, step, domain, task."""
    out = []
    for (run, step, task), rs in group_records(records).items():
        per_q = question_scores(rs)
        values = np.fromiter(per_q.values(), dtype=float)
        mean, lo, hi = bootstrap_ci(values, n_boot, seed_for(run, task, step, seed=seed))
        k = max(Counter(r.example_id for r in rs).values())
        unparsed = sum(r.extracted is None for r in rs) / len(rs)
        out.append(TaskScore(task, rs[0].domain, step, len(per_q), k, mean, lo, hi, unparsed, run))
    return sorted(out, key=lambda s: (s.run, s.step, domain_order(s.domain), s.domain, s.task))


def domain_scores(records: Iterable[SampleRecord], n_boot: int = N_BOOT, seed: int = 0) -> list[DomainScore]:
    """One DomainScore per (run, step, domain): mean over tasks, interval from the joint bootstrap."""
    per_task: dict[tuple[str, int, str], dict[str, np.ndarray]] = defaultdict(dict)
    for (run, step, task), rs in group_records(records).items():
        values = np.fromiter(question_scores(rs).values(), dtype=float)
        per_task[(run, step, rs[0].domain)][task] = values
    out = []
    for (run, step, domain), tasks in per_task.items():
        names = tuple(sorted(tasks))
        reps = np.mean(
            [bootstrap_means(tasks[t], n_boot, seed_for(run, t, step, seed=seed)) for t in names], axis=0
        )
        mean = float(np.mean([tasks[t].mean() for t in names]))
        out.append(DomainScore(domain, step, names, mean, *percentile_ci(reps), run))
    return sorted(out, key=lambda s: (s.run, s.step, domain_order(s.domain), s.domain))
