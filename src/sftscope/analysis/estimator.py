"""The one estimator behind every number: points, 95% intervals and paired differences over questions.

`Estimator(records)` reduces the samples of each cell, (run, task, task_version, protocol, step), to one
value per question and statistic (`metrics.question_stats`). Every score, interval and change that `report`,
`compare`, the `eval run` table and the lab summary print is read from it, so the same cell gets the same
numbers everywhere.

The intervals come from a Poisson bootstrap over questions (Hanley & MacGibbon 2006; Chamandy et al. 2012):
in replicate b, question q weighs w[b, q] ~ Poisson(1), and the replicate score is the weighted mean of the
question values. The weights are drawn *once per question*, from a stream keyed by (seed, task, example_id),
not per cell and not per view. So:
- a cell's interval depends only on its own questions: `compare` at one step, the `eval run` table of one
  checkpoint and the report's curves print the same interval for the same cell;
- two cells that share questions are resampled together, so a difference is a *paired* bootstrap over the
  questions both answered (question difficulty cancels out). Two cells that share no question have no
  paired difference at all (`paired` returns None): the report then makes no claim about that change,
  rather than compare different questions as if they were the same;
- a domain replicate is the mean of its tasks' replicates (tasks are independent samples of questions).
The 95% interval is the 2.5/97.5 percentile of the replicates (a replicate that drew no question is left
out; with Poisson(1) weights that happens with probability e^-n for n questions).

Written by hand rather than with `scipy.stats.bootstrap`: that resamples positions, so its draws depend on
which questions a view happened to load, and keying the weights by question is the whole point here.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sftscope.analysis.metrics import VALUE, Z95, check_metric, question_stats
from sftscope.errors import InputError
from sftscope.records import SampleRecord

N_BOOT = 1000  # enough for stable 95% percentile bounds at one decimal of a percent


class CellKey(NamedTuple):
    """What one score is about. One curve holds one (run, task, version, protocol) over steps."""

    run: str
    task: str
    version: str
    protocol: str
    step: int


@dataclass(frozen=True)
class Estimate:
    """A score with its 95% interval, over `n` questions."""

    mean: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class Diff:
    """value[j] - value[i] with a 95% interval; `n` is the number of questions it is paired over."""

    delta: float
    lo: float
    hi: float
    n: int = 0

    @property
    def above(self) -> bool:
        """Significantly positive: the 95% interval excludes 0."""
        return self.lo > 0

    @property
    def below(self) -> bool:
        return self.hi < 0

    def above_at(self, z: float) -> bool:
        """Significantly positive at the level of `z`: the interval's lower half scaled from 95% to z."""
        return self.delta - (self.delta - self.lo) * z / Z95 > 0

    def below_at(self, z: float) -> bool:
        return self.delta + (self.hi - self.delta) * z / Z95 < 0


@dataclass
class Cell:
    """The questions of one cell: per statistic, num and den per question (NaN where it has no value)."""

    key: CellKey
    domain: str
    metric: str
    k: int  # most samples of any question
    unparsed: float  # share of samples with no extracted answer
    qids: tuple[str, ...]  # sorted
    stats: dict[str, tuple[np.ndarray, np.ndarray]]

    def present(self, stat: str = VALUE) -> np.ndarray:
        """Boolean mask over `qids`: questions with a value of `stat`."""
        if stat not in self.stats:
            return np.zeros(len(self.qids), dtype=bool)
        return ~np.isnan(self.stats[stat][0])


def make_cell(key: CellKey, samples: Sequence[SampleRecord]) -> Cell:
    metrics = {s.metric for s in samples}
    if len(metrics) > 1:
        raise InputError(
            f"task {key.task} version {key.version} ({key.protocol}) at step {key.step} mixes metrics "
            f"{sorted(metrics)}; a task version must have one metric (bump the task version)"
        )
    metric = metrics.pop()
    check_metric(metric, key.task)
    by_question: dict[str, list[SampleRecord]] = defaultdict(list)
    for s in samples:
        by_question[s.example_id].append(s)
    qids = tuple(sorted(by_question))
    k = max(len(v) for v in by_question.values())
    per_q = [question_stats(metric, by_question[q], k) for q in qids]
    names = sorted({name for stats in per_q for name in stats})
    stats = {}
    for name in names:
        num = np.array([q[name][0] if name in q else np.nan for q in per_q])
        den = np.array([q[name][1] if name in q else np.nan for q in per_q])
        stats[name] = (num, den)
    unparsed = sum(s.extracted is None for s in samples) / len(samples)
    return Cell(key, samples[0].domain, metric, k, unparsed, qids, stats)


class QuestionWeights:
    """Poisson(1) bootstrap weights per question, from one seed: column q of every view is the same.

    Only the per-question columns are kept (n_boot floats each, ~8 KB at N_BOOT); `matrix` stacks them
    afresh for each view and keeps nothing, so every weight is held once. The Estimator memoizes what it
    computes from a matrix, so it asks for one matrix per (cell, statistic, question subset).
    """

    def __init__(self, n_boot: int = N_BOOT, seed: int = 0):
        if n_boot < 1 or seed < 0:
            raise ValueError(f"bootstrap needs n_boot >= 1 and seed >= 0 (got {n_boot}, {seed})")
        self.n_boot, self.seed = n_boot, seed
        self._columns: dict[tuple[str, str], np.ndarray] = {}

    @property
    def nbytes(self) -> int:
        """Memory held by the cached weights."""
        return sum(column.nbytes for column in self._columns.values())

    def column(self, task: str, qid: str) -> np.ndarray:
        key = (task, qid)
        if key not in self._columns:
            # sha256, not hash(): stable across processes; 128 bits so that no two questions share a stream.
            digest = int.from_bytes(hashlib.sha256(f"{task}\0{qid}".encode()).digest()[:16], "big")
            rng = np.random.default_rng([self.seed, digest])
            self._columns[key] = rng.poisson(1.0, self.n_boot).astype(float)
        return self._columns[key]

    def matrix(self, task: str, qids: tuple[str, ...]) -> np.ndarray:
        """(n_boot, len(qids)) weights of these questions (a new array; not cached)."""
        cols = [self.column(task, q) for q in qids]
        return np.stack(cols, axis=1) if cols else np.zeros((self.n_boot, 0))


def percentile_ci(replicates: np.ndarray, point: float) -> tuple[float, float]:
    """2.5/97.5 percentiles of the replicates that drew at least one question."""
    finite = replicates[np.isfinite(replicates)]
    if not finite.size:
        return point, point
    lo, hi = np.quantile(finite, [0.025, 0.975])
    return float(lo), float(hi)


class Estimator:
    """Every cell of the given records, and their points, intervals and paired differences (memoized)."""

    def __init__(
        self,
        records: Iterable[SampleRecord],
        n_boot: int = N_BOOT,
        seed: int = 0,
        weights: QuestionWeights | None = None,
    ):
        self.weights = weights or QuestionWeights(n_boot, seed)
        groups: dict[CellKey, list[SampleRecord]] = defaultdict(list)
        for r in records:
            groups[CellKey(r.run, r.task, r.task_version, r.protocol, r.step)].append(r)
        self.cells: dict[CellKey, Cell] = {key: make_cell(key, rs) for key, rs in sorted(groups.items())}
        # (cell, stat, question mask) -> (point, replicates): a paired difference over all of a cell's
        # questions reuses the cell's own replicates instead of stacking its weights again.
        self._ratios: dict[tuple[CellKey, str, bytes], tuple[float, np.ndarray]] = {}
        self._paired: dict[tuple[CellKey, CellKey, str], tuple[Diff, np.ndarray] | None] = {}

    def cell(self, key: CellKey) -> Cell:
        return self.cells[key]

    def _ratio(self, key: CellKey, stat: str, mask: np.ndarray) -> tuple[float, np.ndarray]:
        """(point, replicates) of sum(num) / sum(den) over the masked questions of a cell (memoized)."""
        memo = (key, stat, np.packbits(mask).tobytes())
        if memo not in self._ratios:
            cell = self.cells[key]
            num, den = cell.stats[stat][0][mask], cell.stats[stat][1][mask]
            qids = tuple(q for q, m in zip(cell.qids, mask) if m)
            w = self.weights.matrix(key.task, qids)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps = (w @ num) / (w @ den)
            self._ratios[memo] = (float(num.sum() / den.sum()), reps)
        return self._ratios[memo]

    def replicates(self, key: CellKey, stat: str = VALUE) -> np.ndarray:
        return self._ratio(key, stat, self.cells[key].present(stat))[1]

    def estimate(self, key: CellKey, stat: str = VALUE) -> Estimate | None:
        """The cell's score and 95% interval; None when no question has a value of `stat`."""
        cell = self.cells[key]
        mask = cell.present(stat)
        if not mask.any():
            return None
        num, den = cell.stats[stat][0][mask], cell.stats[stat][1][mask]
        point = float(num.sum() / den.sum())
        return Estimate(point, *percentile_ci(self.replicates(key, stat), point), int(mask.sum()))

    def _paired_reps(self, a: CellKey, b: CellKey, stat: str) -> tuple[Diff, np.ndarray] | None:
        memo = (a, b, stat)
        if memo not in self._paired:
            ca, cb = self.cells[a], self.cells[b]
            if a.task != b.task:
                raise ValueError(f"a paired difference needs one task, got {a.task} and {b.task}")
            shared = sorted(
                set(np.array(ca.qids)[ca.present(stat)]) & set(np.array(cb.qids)[cb.present(stat)])
            )
            if not shared:
                self._paired[memo] = None
            else:
                wanted = set(shared)
                pa, ra = self._ratio(a, stat, np.array([q in wanted for q in ca.qids]))
                pb, rb = self._ratio(b, stat, np.array([q in wanted for q in cb.qids]))
                reps = rb - ra
                self._paired[memo] = (Diff(pb - pa, *percentile_ci(reps, pb - pa), len(shared)), reps)
        return self._paired[memo]

    def paired(self, a: CellKey, b: CellKey, stat: str = VALUE) -> Diff | None:
        """b minus a over the questions both answered; None when they share no question (no paired claim)."""
        found = self._paired_reps(a, b, stat)
        return None if found is None else found[0]

    def aggregate(self, keys: Sequence[CellKey]) -> Estimate | None:
        """The unweighted mean of the cells' scores (a domain), its replicates the mean of theirs."""
        estimates = [self.estimate(k) for k in keys]
        if not keys or any(e is None for e in estimates):
            return None
        point = float(np.mean([e.mean for e in estimates if e is not None]))
        reps = np.mean([self.replicates(k) for k in keys], axis=0)
        return Estimate(point, *percentile_ci(reps, point), sum(e.n for e in estimates if e is not None))

    def paired_aggregate(self, a: Sequence[CellKey], b: Sequence[CellKey]) -> Diff | None:
        """Mean over tasks of b[i] - a[i], each paired over its shared questions; None when any task (or
        the list) has nothing to pair."""
        parts = [self._paired_reps(x, y, VALUE) for x, y in zip(a, b)]
        if not parts or len(a) != len(b) or any(p is None for p in parts):
            return None
        found = [p for p in parts if p is not None]
        delta = float(np.mean([d.delta for d, _ in found]))
        reps = np.mean([r for _, r in found], axis=0)
        return Diff(delta, *percentile_ci(reps, delta), sum(d.n for d, _ in found))
