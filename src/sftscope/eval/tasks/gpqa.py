"""GPQA-Diamond: 198 graduate-level, "Google-proof" multiple-choice science questions (Rein et al., 2023).

Dataset: Idavidrein/gpqa, config `gpqa_diamond`, split `train` (gated: accept the terms on the hub; columns
include "Record ID", "Question", "Correct Answer", "Incorrect Answer 1".."Incorrect Answer 3").
Paper: cross-domain, avg@3 at temperature 0.6, top_p 0.95.
Answer format: the letter A-D in `\\boxed{}` (or "answer is X"), read after `</think>`.
Option order: the reference shuffles with Python's salted `hash()`, which no one can reproduce. We shuffle
with `random.Random(f"gpqa:{SEED}:{record_id}")`, and store the order (`order[i]` = index into [correct,
incorrect 1..3] shown as letter i) in the example and the gold letter, so every run sees the same options.
"""

from __future__ import annotations

import random

from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.choice import verify_choice

HUB_ID = "Idavidrein/gpqa"
SEED = 0  # part of the task version: changing it changes every option order
LETTERS = "ABCD"
COLUMNS = (
    "Record ID",
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
)
INSTRUCTION = (
    "Please reason step by step, and put the letter of your final answer (A, B, C or D) within \\boxed{}."
)


def shuffled_order(record_id: str, seed: int = SEED) -> list[int]:
    order = list(range(4))
    random.Random(f"gpqa:{seed}:{record_id}").shuffle(order)
    return order


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, "gpqa_diamond", split="train")

    how = f"it is {HUB_ID} (config gpqa_diamond), gated: accept its terms on the hub and log in"
    rows = hub_rows("gpqa_diamond", data_path, hub, how)
    examples = []
    for i, row in enumerate(rows):
        require(row, COLUMNS, data_path or HUB_ID, i)
        answers = [
            row["Correct Answer"],
            row["Incorrect Answer 1"],
            row["Incorrect Answer 2"],
            row["Incorrect Answer 3"],
        ]
        record_id = str(row["Record ID"])
        order = shuffled_order(record_id)
        options = [str(answers[j]).strip() for j in order]
        gold = LETTERS[order.index(0)]
        examples.append(
            Example(
                id=record_id,
                gold=gold,
                data={"question": str(row["Question"]).strip(), "options": options, "order": order},
            )
        )
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    listed = "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, example.data["options"]))
    return [{"role": "user", "content": f"{example.data['question']}\n\n{listed}\n\n{INSTRUCTION}"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_choice(example.gold or "", completion, LETTERS)


TASK = TaskSpec(
    name="gpqa_diamond",
    domain="cross_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="inline",
            scorer_id="choice letter after </think> (strict)",
        ),
    ),
    source=f"{HUB_ID} (gpqa_diamond)",
    size=198,
    rescore_from="gold",
)
