"""MMLU-Pro: 12k ten-option multiple-choice questions over 14 subjects (Wang et al., 2024).

Dataset: TIGER-Lab/MMLU-Pro, split `test` (columns: question_id, question, options, answer, answer_index,
cot_content, category, src).
Paper: cross-domain, greedy, on a 1k subset (which 1k is unpublished). Examples come in a fixed shuffled
order (`random.Random("mmlu_pro:0")`, not the file's category-sorted order), so `--limit 1000` is a stable
uniform random 1k subset; or pass your own subset file in the same schema with `--data-path mmlu_pro=FILE`.
Answer format: the letter A-J in `\\boxed{}` or "answer is (X)", read after `</think>`.
"""

from __future__ import annotations

import random

from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict
from sftscope.verify.choice import verify_choice

HUB_ID = "TIGER-Lab/MMLU-Pro"
LETTERS = "ABCDEFGHIJ"
SUBSET_SEED = 0  # part of the task version: it picks which questions `--limit N` keeps


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="test")

    rows = hub_rows("mmlu_pro", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("question_id", "question", "options", "answer"), data_path or HUB_ID, i)
        options = list(row["options"])
        examples.append(
            Example(
                id=str(row["question_id"]),
                gold=str(row["answer"]).strip(),
                data={"question": row["question"], "options": options, "category": row.get("category")},
            )
        )
    random.Random(f"mmlu_pro:{SUBSET_SEED}").shuffle(examples)
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    options = example.data["options"]
    letters = LETTERS[: len(options)]
    listed = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, options))
    ask = f"Please reason step by step, and put the letter of your final answer ({', '.join(letters)}) within \\boxed{{}}."
    return [{"role": "user", "content": f"{example.data['question']}\n\n{listed}\n\n{ask}"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_choice(example.gold or "", completion, LETTERS)


TASK = TaskSpec(
    name="mmlu_pro",
    domain="cross_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=PAPER_SAMPLING.max_new_tokens),
            n_samples=1,
            metric="accuracy",
            scoring="inline",
            scorer_id="choice letter after </think> (strict)",
        ),
    ),
    source=HUB_ID,
    size=12032,
    rescore_from="gold",
)
