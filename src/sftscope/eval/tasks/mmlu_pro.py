"""MMLU-Pro: 12k ten-option multiple-choice questions over 14 subjects (Wang et al., 2024).

Dataset: TIGER-Lab/MMLU-Pro, split `test` (columns: question_id, question, options, answer, answer_index,
cot_content, category, src). A local folder (the hub repo holds test and validation) is read through its
test files only (`test-*`, or `*_test.*` such as the reference's `1k_test.parquet`).
Paper: cross-domain, on a 1k subset whose file (`1k_test.parquet`) was never released. Examples come in a
fixed shuffled order (`random.Random("mmlu_pro:0")`, not the file's category-sorted order), so
`--limit 1000` is a stable uniform random 1k subset; or pass your own subset file in the same schema with
`--data-path mmlu_pro=FILE`.

Protocols:
- `paper`, as the reference's lm-eval fork (`evaluation/lm-evaluation-harness/lm_eval/tasks/mmlu_pro/`
  `_default_template_yaml`, `_mmlu_pro.yaml`, `utils.py`, and `lm_eval/api/task.py`, which drops the
  per-subject description, in Nebularaid2000/rethink_sft_generalization): one user turn
  `Question:\\n{question}\\nOptions:\\nA. ..\\nB. ..\\n` + the boxed-letter instruction (A-J whatever the
  option count); decoding from the GROUP yaml, which replaces the template's greedy decoding: temperature
  0.6, top_p 1.0 (vLLM's default), no stop strings, 32,768 new tokens (the run script's max_gen_toks), one
  sample; the letter is the first `answer is \\(?X\\)?` or `\\boxed{X}` / `\\boxed{\\text{X}}` in the raw
  text (`verify.lmeval.extract_mmlu_pro`), compared ignoring case and punctuation.
- `strict`: our layout, greedy, the letter after `</think>` (`verify.choice`).
"""

from __future__ import annotations

import random

from sftscope.eval.datafiles import FileRule, task_rows
from sftscope.eval.datasource import require
from sftscope.eval.spec import LMEVAL_SAMPLING, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict
from sftscope.verify.choice import verify_choice
from sftscope.verify.lmeval import score_mmlu_pro

HUB_ID = "TIGER-Lab/MMLU-Pro"
LETTERS = "ABCDEFGHIJ"
SUBSET_SEED = 0  # part of the task version: it picks which questions `--limit N` keeps
FILES = FileRule(("test[-.]*|*/test[-.]*|*_test.*",), "the test split (test-*.parquet)", shards=True)
PAPER_INSTRUCTION = (
    "Please reason step by step and return your final answer within \\boxed{}. "
    "Only include the letter choice (A, B, C, D, E, F, G, H, I or J) as your final answer."
)
GREEDY = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=PAPER_SAMPLING.max_new_tokens)


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="test")

    rows = task_rows("mmlu_pro", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub", FILES)
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


def paper_prompt(example: Example) -> list[dict[str, str]]:
    options = "".join(f"{letter}. {text}\n" for letter, text in zip(LETTERS, example.data["options"]))
    content = f"Question:\n{example.data['question']}\nOptions:\n{options}{PAPER_INSTRUCTION}"
    return [{"role": "user", "content": content}]


def strict_prompt(example: Example) -> list[dict[str, str]]:
    options = example.data["options"]
    letters = LETTERS[: len(options)]
    listed = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, options))
    ask = f"Please reason step by step, and put the letter of your final answer ({', '.join(letters)}) within \\boxed{{}}."
    return [{"role": "user", "content": f"{example.data['question']}\n\n{listed}\n\n{ask}"}]


def score_paper(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_mmlu_pro(example.gold or "", completion)


def score_strict(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_choice(example.gold or "", completion, LETTERS)


TASK = TaskSpec(
    name="mmlu_pro",
    domain="cross_domain",
    version="2",
    loader=load,
    protocols=(
        TaskProtocol(
            name="paper",
            prompt=paper_prompt,
            score=score_paper,
            sampling=LMEVAL_SAMPLING,
            n_samples=1,
            metric="accuracy",
            scoring="inline",
            scorer_id="lm-eval custom-extract regex, first match in the raw text (reference) v1",
            description="as the reference, on a seeded 1k subset (--limit 1000; its own subset is unreleased)",
        ),
        TaskProtocol(
            name="strict",
            prompt=strict_prompt,
            score=score_strict,
            sampling=GREEDY,
            n_samples=1,
            metric="accuracy",
            scoring="inline",
            scorer_id="choice letter after </think> (strict)",
            description="our layout, greedy; the letter after </think>",
        ),
    ),
    source=HUB_ID,
    size=12032,
    rescore_from="gold",
)
