"""How much of the paper protocol's credit came from unfinished thinking.

The paper protocol scores the raw response, think block included, so a response whose `<think>` never
closed can still be right (a `\\boxed{}` inside the unfinished reasoning); the strict protocol gives it 0.
Where the same completions were scored under both protocols (`eval rescore --protocol ...`), this measures:
- the paired difference paper - strict of the task's score, over the questions of those completions, with
  the estimator's interval (the same question weights as every other number of the report);
- how many completions never closed their think block and still scored under paper.
"The same completion" means the same (example_id, sample_idx) at the same step with identical text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sftscope.analysis.estimator import CellKey, Diff, Estimator, QuestionWeights
from sftscope.records import THINK_CLOSE, THINK_OPEN, SampleRecord

PAPER, STRICT = "paper", "strict"


@dataclass(frozen=True)
class ThinkingCredit:
    task: str
    step: int
    completions: int  # completions scored under both protocols
    difference: Diff  # paper minus strict score, paired over questions
    paper_correct: int  # of those completions, correct under paper
    unclosed_credited: int  # correct under paper, with a think block that never closed


def unclosed(record: SampleRecord) -> bool:
    """The response opened a think block (or the prompt did) and never closed it."""
    opened = THINK_OPEN in record.completion or record.prompt.rstrip().endswith(THINK_OPEN)
    return opened and THINK_CLOSE not in record.completion


def thinking_credit(records: Iterable[SampleRecord], weights: QuestionWeights) -> list[ThinkingCredit]:
    """One row per (task, step) where some completions carry both a paper and a strict verdict."""
    records = list(records)
    protocols: dict[str, set[str]] = {}
    for r in records:
        protocols.setdefault(r.task, set()).add(r.protocol)
    both = {task for task, seen in protocols.items() if {PAPER, STRICT} <= seen}
    by_key: dict[tuple[str, str, int, str, int], dict[str, SampleRecord]] = {}
    for r in (r for r in records if r.task in both):
        if r.protocol in (PAPER, STRICT):
            by_key.setdefault((r.task, r.task_version, r.step, r.example_id, r.sample_idx), {})[
                r.protocol
            ] = r
    pairs = [p for p in by_key.values() if len(p) == 2 and p[PAPER].completion == p[STRICT].completion]
    if not pairs:
        return []
    # One run and one cell per protocol: the run name is irrelevant to the weights, which depend on questions.
    est = Estimator([replace(r, run="") for p in pairs for r in p.values()], weights=weights)
    groups: dict[tuple[str, str, int], list[dict[str, SampleRecord]]] = {}
    for p in pairs:
        groups.setdefault((p[PAPER].task, p[PAPER].task_version, p[PAPER].step), []).append(p)
    out = []
    for (task, version, step), mine in sorted(groups.items(), key=lambda item: item[0]):
        diff = est.paired(CellKey("", task, version, STRICT, step), CellKey("", task, version, PAPER, step))
        if diff is None:  # no question has a value under both (e.g. every judgement unparsed)
            continue
        paper_right = sum(p[PAPER].correct for p in mine)
        credited = sum(p[PAPER].correct and not p[STRICT].correct and unclosed(p[PAPER]) for p in mine)
        out.append(ThinkingCredit(task, step, len(mine), diff, paper_right, credited))
    return out
