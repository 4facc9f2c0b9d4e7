"""GPQA-Diamond: 198 graduate-level, "Google-proof" multiple-choice science questions (Rein et al., 2023).

Dataset: Idavidrein/gpqa, config `gpqa_diamond`, split `train` (gated: accept the terms on the hub; columns
include "Record ID", "Question", "Correct Answer", "Incorrect Answer 1".."Incorrect Answer 3"). A local
folder (the hub repo: main, extended, experts and diamond CSVs) is read through its `*diamond*` file only.
Paper: cross-domain, avg@3 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.

Protocols:
- `paper`, as the reference's evalchemy GPQADiamond (`evaluation/evalchemy/eval/chat_benchmarks/GPQADiamond/
  eval_instruct.py` and `testing_utils.py` in Nebularaid2000/rethink_sft_generalization): one user turn
  `Problem: {question}\\nOptions: A) .., B) .., C) .., D) ..\\nPlease reason step by step and return your
  final answer within \\boxed{}. Only include the letter choice (A, B, C, or D) as your final answer.` with
  the texts as in the file; the letter read from the RAW output by `verify.evalchemy.gpqa_answer` (last box
  by a greedy match, else the whole output; the first "answer is X"-style phrase; else a bare letter), so
  `\\boxed{\\text{B}}` is unparsed and "the answer is a bit..." reads as A.
- `strict`: our layout (options on their own lines), the letter after `</think>` (`verify.choice`).
Option order: the reference shuffles with `random.Random(42 + hash(question) % 10000)`; Python salts
`hash()` per process, so its order cannot be reproduced, not even by the reference. We shuffle with
`random.Random(f"gpqa:{SEED}:{record_id}")`, and store the order (`order[i]` = index into [correct,
incorrect 1..3] shown as letter i) in the example and the gold letter, so every run sees the same options.
"""

from __future__ import annotations

import random

from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.choice import verify_choice
from sftscope.verify.evalchemy import score_gpqa

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
FILES = FileRule(("*diamond*",), "gpqa_diamond.csv")
PAPER_INSTRUCTION = (
    "Please reason step by step and return your final answer within \\boxed{}. "
    "Only include the letter choice (A, B, C, or D) as your final answer."
)
STRICT_INSTRUCTION = (
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
    rows = task_rows("gpqa_diamond", data_path, hub, how, FILES)
    examples = []
    for i, row in enumerate(rows):
        require(row, COLUMNS, data_path or HUB_ID, i)
        answers = [row[c] for c in COLUMNS[2:]]
        record_id = str(row["Record ID"])
        order = shuffled_order(record_id)
        # Texts as in the file: the paper prompt uses them unstripped, the strict one strips them.
        options = [str(answers[j]) for j in order]
        data = {"question": str(row["Question"]), "options": options, "order": order}
        examples.append(Example(id=record_id, gold=LETTERS[order.index(0)], data=data))
    return examples


def paper_prompt(example: Example) -> list[dict[str, str]]:
    options = ", ".join(f"{letter}) {text}" for letter, text in zip(LETTERS, example.data["options"]))
    content = f"Problem: {example.data['question']}\nOptions: {options}\n{PAPER_INSTRUCTION}"
    return [{"role": "user", "content": content}]


def strict_prompt(example: Example) -> list[dict[str, str]]:
    listed = "\n".join(f"{letter}) {text.strip()}" for letter, text in zip(LETTERS, example.data["options"]))
    question = example.data["question"].strip()
    return [{"role": "user", "content": f"{question}\n\n{listed}\n\n{STRICT_INSTRUCTION}"}]


def score_paper(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_gpqa(example.gold or "", completion)


def score_strict(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_choice(example.gold or "", completion, LETTERS)


TASK = TaskSpec(
    name="gpqa_diamond",
    domain="cross_domain",
    version="2",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=paper_prompt,
            score=score_paper,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="inline",
            scorer_id="evalchemy get_multiple_choice_answer on the raw output (reference) v1",
            description="as the reference, except the option order (the reference's uses a salted hash())",
        ),
        TaskProtocol(
            name="strict",
            prompt=strict_prompt,
            score=score_strict,
            sampling=PAPER_SAMPLING,
            n_samples=3,
            metric="accuracy",
            scoring="inline",
            scorer_id="choice letter after </think> (strict)",
            description="our layout; the letter after </think>; an unclosed think block is unparsed",
        ),
    ),
    source=f"{HUB_ID} (gpqa_diamond)",
    size=198,
    rescore_from="gold",
)
