"""Conformance cases of the paper protocols: one `paper_<task>.jsonl` per task, each line a completion with the
label the reference's code gives it, derived by hand from that code (the quirks included; see each line's
`why` and the task module's docstring for the reference file). A line may also hold the `strict` protocol's
label where the two differ or where the contrast documents a rule.

Every case runs through `SampleScorer`, the one scoring path of `eval run`, `sweep` and `eval rescore`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftscope.eval.scoring import SampleScorer
from sftscope.eval.spec import Example, ScoreContext
from sftscope.eval.tasks import TASKS
from sftscope.records import Completion, Verdict

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("paper_*.jsonl"))
PAPER_TASKS = ("math500", "aime24", "aime25", "gpqa_diamond", "mmlu_pro", "livecodebench", "ifeval", "hexphi")


class ReplayJudge:
    """A judge that answers each prompt with the reply the case prescribes (`data.judge_reply`)."""

    name = "replay"

    def __init__(self, replies: list[str]):
        self.replies = replies

    def describe(self):
        return {"backend": "replay", "model": "replay"}

    def generate(self, prompts, params, seeds=None):
        assert params.temperature == 0.0 and params.max_new_tokens == 4096
        return [[Completion(reply, 5)] for reply in self.replies[: len(prompts)]]


def _rows(task: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / f"paper_{task}.jsonl").read_text().splitlines()]


def _cases() -> list:
    cases = []
    for path in FILES:
        task = path.stem.removeprefix("paper_")
        cases += [pytest.param(task, row, id=f"{task}:{row['case']}") for row in _rows(task)]
    return cases


_VERDICTS: dict[tuple[str, str], dict[str, Verdict]] = {}


def _verdicts(task: str, protocol: str) -> dict[str, Verdict]:
    """Every case of a task scored in one call (one worker pool), memoised for the parametrized tests."""
    if (task, protocol) not in _VERDICTS:
        rows = _rows(task)
        spec = TASKS[task]
        examples = [Example(id=r["case"], gold=r["gold"], data=r.get("data", {})) for r in rows]
        ctx = ScoreContext(judge=ReplayJudge([r.get("data", {}).get("judge_reply", "") for r in rows]))
        with SampleScorer(spec, spec.protocol(protocol), ctx) as scorer:
            outcomes = scorer.score(examples, [r["completion"] for r in rows])
        _VERDICTS[(task, protocol)] = {r["case"]: o for r, o in zip(rows, outcomes)}
    return _VERDICTS[(task, protocol)]


def test_every_paper_task_has_ten_cases():
    counts = {
        path.stem.removeprefix("paper_"): len(_rows(path.stem.removeprefix("paper_"))) for path in FILES
    }
    assert set(counts) == set(PAPER_TASKS)
    assert all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize("task, row", _cases())
def test_paper_case(task, row):
    if task == "ifeval":
        pytest.importorskip("if_verifiable", reason="IFEval checkers are the optional extra sftscope[ifeval]")
    verdict = _verdicts(task, "paper")[row["case"]]
    assert isinstance(verdict, Verdict), verdict
    expected = row["paper"]
    assert verdict.correct is expected["correct"], (row["why"], verdict)
    if "extracted" in expected:
        assert verdict.extracted == expected["extracted"], (row["why"], verdict)
    for key, value in expected.get("details", {}).items():
        assert verdict.details[key] == value, (row["why"], key, verdict.details)
    if "strict" in row:
        strict = _verdicts(task, "strict")[row["case"]]
        assert isinstance(strict, Verdict) and strict.correct is row["strict"]["correct"], (
            row["why"],
            strict,
        )
