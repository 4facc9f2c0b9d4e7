"""AIME 2024: the 30 problems of AIME 2024 I and II.

Dataset: HuggingFaceH4/aime_2024, split `train` (columns: id, problem, solution, answer, url, year).
Paper: in-domain, avg@10 at temperature 0.6, top_p 0.95, up to 32,768 new tokens.
Answer format: an integer 0-999 in `\\boxed{}`; Math-Verify on the response after `</think>`.
"""

from __future__ import annotations

from sftscope.eval.datasource import hub_rows, require
from sftscope.eval.spec import MATH_INSTRUCTION, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import Verdict
from sftscope.verify.math import verify_math

HUB_ID = "HuggingFaceH4/aime_2024"


def load(limit: int | None, data_path: str | None) -> list[Example]:
    def hub():
        from datasets import load_dataset

        return load_dataset(HUB_ID, split="train")

    rows = hub_rows("aime24", data_path, hub, f"it is {HUB_ID} on the Hugging Face hub")
    examples = []
    for i, row in enumerate(rows):
        require(row, ("id", "problem", "answer"), data_path or HUB_ID, i)
        examples.append(Example(id=str(row["id"]), gold=str(row["answer"]), data={"problem": row["problem"]}))
    return examples


def prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{example.data['problem']}\n{MATH_INSTRUCTION}"}]


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_math(example.gold or "", completion, strip_think=True)


TASK = TaskSpec(
    name="aime24",
    domain="in_domain",
    version="1",
    loader=load,
    protocols=(
        TaskProtocol(
            name="strict",
            prompt=prompt,
            score=score,
            sampling=PAPER_SAMPLING,
            n_samples=10,
            metric="accuracy",
            scoring="processes",
            scorer_id="math-verify after </think> (strict)",
        ),
    ),
    source=HUB_ID,
    size=30,
    rescore_from="gold",
)
